// Package devoexporter implements the devo exporter: it delivers log records to Devo as syslog
// lines over mutual TLS, byte-compatible with what Devo's own SDK and collectors send.
//
// Reading order, in data-flow order:
//
//	config.go   Config, Validate (every error names its key and the accepted values)
//	factory.go  NewFactory, defaults, exporterhelper wiring (queue, batch, retry, timeout)
//	exporter.go pushLogs: route -> frame -> write -> confirm; error classification; TLS loading
//	router.go   per-record Devo tag from an attribute or the default; tag validation
//	framer.go   one record -> "<PRI>DATE HOST TAG: MESSAGE\n" (or octet-counted)
//	json.go     compact, order-preserving JSON for map and slice bodies
//	writer.go   frames -> 64 KiB chunks or gzip members, written with deadlines
//	pool.go     dialing, connection reuse and recycling, peer-close watch, half-close confirm
//
// internal/devotest (repository root) is the Devo stand-in all tests run against.
package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

//go:generate ../../.tools/mdatagen metadata.yaml
