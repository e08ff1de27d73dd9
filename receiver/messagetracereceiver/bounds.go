package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"time"
)

// Bounds on what a server or a stored file may make the receiver believe or do. The README's
// "Bounds" section lists them with what happens at each.
const (
	// maxRetryAfter caps a Retry-After: Microsoft's quota window is 5 minutes, so no honest
	// answer asks for longer, and a bigger value (a bug, or a hostile proxy) would otherwise
	// stop every request until a restart.
	maxRetryAfter = 5 * time.Minute
	// maxClockSkew is how far ahead of this machine's clock a stored checkpoint may lie before
	// it is taken for corruption or a clock that jumped.
	maxClockSkew = 5 * time.Minute
)
