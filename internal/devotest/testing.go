package devotest // import "github.com/msgtrace/otelcol-msgtrace/internal/devotest"

import "testing"

// New starts a sink for a test and closes it in t.Cleanup.
func New(tb testing.TB, opts Options) *Sink {
	tb.Helper()
	s, err := NewSink(opts)
	if err != nil {
		tb.Fatalf("devotest: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
