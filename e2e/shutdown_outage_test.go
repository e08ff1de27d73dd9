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
	t.Parallel()
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
	if err := c.Stop(20 * time.Second); err != nil {
		t.Logf("stop: %v", err)
	}
	out := c.Output()
	t.Logf("exporterhelper's line at shutdown during the outage: %v", strings.Contains(out, "Exporting failed. Dropping data."))
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
