module github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest

go 1.26.0

require github.com/msgtrace/otelcol-msgtrace/internal/testcerts v0.1.0

// The modules of this repository come from this checkout; each is tagged <dir>/vX.Y.Z with
// the product version (CHANGELOG.md). `make check-modules` keeps these lines consistent.
replace github.com/msgtrace/otelcol-msgtrace/internal/testcerts => ../../internal/testcerts

require (
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	golang.org/x/oauth2 v0.37.0
)

require go.yaml.in/yaml/v3 v3.0.6 // indirect
