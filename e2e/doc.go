// Package e2e holds black-box tests of the built distribution (bin/otelcol-msgtrace). They need
// the binary, so they carry the e2e build tag and `make test` runs them after `make build`.
package e2e
