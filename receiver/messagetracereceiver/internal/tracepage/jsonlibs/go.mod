module github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage/jsonlibs

go 1.26.0

require (
	github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest v0.1.0
	github.com/msgtrace/otelcol-msgtrace/internal/testcerts v0.1.0 // indirect
	github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver v0.1.0
)

// The modules of this repository come from this checkout; each is tagged <dir>/vX.Y.Z with
// the product version (CHANGELOG.md). `make check-modules` keeps these lines consistent.
replace (
	github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest => ../../../../../internal/msgtracetest
	github.com/msgtrace/otelcol-msgtrace/internal/testcerts => ../../../../../internal/testcerts
	github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver => ../../../../../receiver/messagetracereceiver
)

require (
	github.com/bytedance/sonic v1.15.5
	github.com/goccy/go-json v0.12.0
	github.com/json-iterator/go v1.1.12
	github.com/segmentio/encoding v0.5.4
	github.com/stretchr/testify v1.12.1
	github.com/valyala/fastjson v1.6.10
)

require (
	github.com/bytedance/gopkg v0.1.3 // indirect
	github.com/bytedance/sonic/loader v0.5.3 // indirect
	github.com/cloudwego/base64x v0.1.6 // indirect
	github.com/klauspost/cpuid/v2 v2.2.9 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect
	github.com/segmentio/asm v1.1.3 // indirect
	github.com/twitchyliquid64/golang-asm v0.15.1 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/arch v0.0.0-20210923205945-b76863e36670 // indirect
	golang.org/x/oauth2 v0.37.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
