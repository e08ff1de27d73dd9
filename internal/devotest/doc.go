// Package devotest is a stand-in for Devo's syslog-over-TLS ingestion endpoint (an "ELB").
//
// It is shared by the devo exporter's unit tests, the end-to-end tests and the runnable demo,
// so nothing here takes a testing.TB except the thin New helper. Reading order:
//
//	certs.go    throw-away CA, server and client certificates (in memory or as files)
//	decoder.go  per-frame framing detection (LF line, octet count, gzip member) and header parsing
//	sink.go     TLS listener that requires client certificates, records events, injects faults
//	testing.go  New(t): a sink closed by t.Cleanup
//
// The decoder detects the framing of every frame on its own, as Devo's SDK implies its receiver
// does (the SDK mixes plain, octet-counted and gzip frames on one connection).
package devotest // import "github.com/msgtrace/otelcol-msgtrace/internal/devotest"
