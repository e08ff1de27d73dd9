// Package devoexporter implements the devo exporter: it delivers log records to Devo as syslog
// lines over mutual TLS, byte-compatible with what Devo's own collectors send.
package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

//go:generate ../../.tools/mdatagen metadata.yaml
