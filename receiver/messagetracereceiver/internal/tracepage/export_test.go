package tracepage

// Exported for the external tests (differential_test.go), which import tracepagetest.
var ReadPage = readPage

// DecodeGraphAll and DecodeLegacyAll decode without a row limit.
func DecodeGraphAll(body []byte) (*Page, error)  { return DecodeGraph(body, 0) }
func DecodeLegacyAll(body []byte) (*Page, error) { return DecodeLegacy(body, 0) }
