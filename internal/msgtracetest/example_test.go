package msgtracetest_test

import (
	"fmt"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// ExampleNewServer shows the fake without a testing.TB, as the demo uses it.
func ExampleNewServer() {
	now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	clock := msgtracetest.NewClock(now)
	srv, err := msgtracetest.NewServer(msgtracetest.Options{ClientSecret: "secret", Now: clock.Now})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.AddRows(msgtracetest.Generate(1, 10, now.Add(-time.Hour), now, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 2})...)
	srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultThrottle, RetryAfter: 2 * time.Second})
	fmt.Println(len(srv.Rows()), srv.PendingFaults())
	// Output: 20 1
}
