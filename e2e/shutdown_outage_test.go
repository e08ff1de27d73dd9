//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// Stopping the collector (SIGTERM) while Devo refuses every connection makes exporterhelper log
// "Exporting failed. Dropping data." for the batch whose retries the shutdown ends. With the
// shipped defaults nothing is dropped: the restarted collector delivers every row once Devo is
// back (docs/troubleshooting.md, "The collector's own lines about the exporter").
func TestShutdownDuringDevoOutageLosesNothing(t *testing.T) {
	const droppingData = "Exporting failed. Dropping data."
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	src := shippedRows(52, 3000)
	e.st.Tenant.AddRows(src...)
	e.st.Sink.RefuseFor(40 * time.Second)
	outageEnds := time.Now().Add(40 * time.Second)
	config, _ := shippedConfig(t)
	c := e.startShipped(config)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(c.Output(), "Devo is not taking rows") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(c.Output(), "Devo is not taking rows") {
		t.Fatal("the outage never reached the exporter: the test no longer tests a shutdown during one")
	}
	// SIGTERM ends in exit code 0 within the timeout even with a batch in retry: anything else
	// (a hang, a crash, a non-zero exit) is a failure, not noise.
	if err := c.Stop(20 * time.Second); err != nil {
		t.Fatalf("stop during the outage: %v", err)
	}
	// The scenario the troubleshooting row describes: the shutdown ended a batch's retries.
	// Without the line the test would prove nothing about that row.
	if !strings.Contains(c.Output(), droppingData) {
		t.Fatalf("exporterhelper did not log %q at the shutdown during the outage: the shutdown no longer ends a retrying batch (or the line changed); update docs/troubleshooting.md and this test", droppingData)
	}
	if got := e.st.Sink.EventCount(); got != 0 {
		t.Fatalf("%d events arrived while every connection was refused", got)
	}

	c = e.startShipped(config)
	time.Sleep(time.Until(outageEnds))
	got := e.deliverAll(c, stack.Keys(src), 3*time.Minute, true)
	if len(got) != len(src) {
		t.Fatalf("%d of %d rows delivered after the restart", len(got), len(src))
	}
}
