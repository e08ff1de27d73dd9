package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"time"
)

// Bounds on what a server or a stored file may make the receiver believe or do. The README's
// "Bounds" section lists them with what happens at each.
const (
	// maxBodyBytes bounds one response; a 5,000-row Graph page is about 2 MB. A longer body is
	// refused, never cut and parsed.
	maxBodyBytes = 64 << 20
	// maxRetryAfter caps a Retry-After: Microsoft's quota window is 5 minutes, so no honest
	// answer asks for longer, and a bigger value (a bug, or a hostile proxy) would otherwise
	// stop every request until a restart.
	maxRetryAfter = 5 * time.Minute
	// maxClockSkew is how far ahead of this machine's clock a stored checkpoint may lie before
	// it is taken for corruption or a clock that jumped.
	maxClockSkew = 5 * time.Minute
	// emptyRangeSaveEvery is how often progress over ranges without rows is stored at most
	// (checkpoint.go saveEmpty); a crash makes the receiver query at most this much again.
	emptyRangeSaveEvery = 5 * time.Minute
	// idleConnBufferSize is the default read_buffer_size and write_buffer_size. Every tenant
	// keeps one connection alive between polls (a new TLS handshake per poll would cost 1 % of
	// a core at 1,000 tenants), and Go's 4 KiB buffers made each cost 23 KB of heap, 16 KB with
	// 1 KiB. Pages are not slowed: a body read into a buffer larger than the bufio buffer
	// bypasses it; a request's headers (the bearer token is about 2 KB) take two or three writes.
	idleConnBufferSize = 1024
)
