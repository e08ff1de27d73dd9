//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// env is a running stack plus the extra environment of one test.
type env struct {
	t     *testing.T
	st    *stack.Stack
	extra []string
	start time.Time
}

func newEnv(t *testing.T, tenant msgtracetest.Options, sink devotest.Options) *env {
	t.Helper()
	timed(t)
	dir := t.TempDir()
	st, err := stack.Start(stack.Options{Dir: dir, Tenant: tenant, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return &env{t: t, st: st, start: time.Now()}
}

func (e *env) environ() []string { return append(e.st.Env(), e.extra...) }

// stopAtCleanup stops the collector when the test ends and, if the test failed, logs the end
// of its output under name.
func stopAtCleanup(t *testing.T, c *stack.Collector, name string) {
	t.Helper()
	t.Cleanup(func() {
		if !c.Exited() {
			_ = c.Stop(10 * time.Second)
		}
		if t.Failed() {
			out := c.Output()
			if len(out) > 8000 {
				out = "...\n" + out[len(out)-8000:]
			}
			t.Logf("%s output:\n%s", name, out)
		}
	})
}

// run starts the collector with a configuration from testdata/e2e; cleanup stops it.
func (e *env) run(config string) *stack.Collector {
	e.t.Helper()
	return e.startShipped(filepath.Join("..", "testdata", "e2e", config))
}

// waitDelivered waits until every key arrived at the sink at least once.
func (e *env) waitDelivered(c *stack.Collector, keys []string, timeout time.Duration) map[string]int {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := stack.Delivered(e.st.Sink.Events())
		if err != nil {
			e.t.Fatalf("malformed event at the sink: %v", err)
		}
		missing := 0
		for _, k := range keys {
			if got[k] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if c != nil && c.Exited() {
			e.t.Fatalf("collector exited (%v) with %d of %d rows missing", c.ExitErr(), missing, len(keys))
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d rows not delivered within %v", missing, len(keys), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deliverAll waits until every key arrived, lets the sink settle, and checks and reports the
// delivery (allowDuplicates: at-least-once tests).
func (e *env) deliverAll(c *stack.Collector, keys []string, timeout time.Duration, allowDuplicates bool) map[string]int {
	e.t.Helper()
	e.waitDelivered(c, keys, timeout)
	e.settle(time.Second)
	got, _ := stack.Delivered(e.st.Sink.Events())
	e.report(keys, got, allowDuplicates)
	return got
}

// restartSendsNothing stops the collector, starts it again with the same configuration and
// checks that the stored checkpoints hold: the restarted collector polls every tenant (its
// stand-in answers new requests) and nothing reaches the sink a second time. others are the
// stand-ins of further tenants in config. It returns the restarted collector.
func (e *env) restartSendsNothing(c *stack.Collector, config string, others ...*msgtracetest.Server) *stack.Collector {
	e.t.Helper()
	if err := c.Stop(10 * time.Second); err != nil {
		e.t.Fatal(err)
	}
	before := e.st.Sink.EventCount()
	tenants := append([]*msgtracetest.Server{e.st.Tenant}, others...)
	seen := make([]int, len(tenants))
	for i, s := range tenants {
		seen[i] = s.APIRequestCount()
	}
	c = e.run(config)
	// A poll makes at most one request per pass when nothing is new, so three requests at a
	// stand-in mean its receiver finished a poll and started the next.
	deadline := time.Now().Add(30 * time.Second)
	for i, s := range tenants {
		for s.APIRequestCount() < seen[i]+3 {
			if c.Exited() {
				e.t.Fatalf("restarted collector exited: %v", c.ExitErr())
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("restarted collector made %d requests to tenant %d within 30 s, want 3", s.APIRequestCount()-seen[i], i)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	e.settle(time.Second)
	if n := e.st.Sink.EventCount(); n != before {
		e.t.Fatalf("restart re-sent %d events", n-before)
	}
	return c
}

// settle waits until the sink has seen no new event for quiet.
func (e *env) settle(quiet time.Duration) {
	last, since := e.st.Sink.EventCount(), time.Now()
	for time.Since(since) < quiet {
		time.Sleep(50 * time.Millisecond)
		if n := e.st.Sink.EventCount(); n != last {
			last, since = n, time.Now()
		}
	}
}

// report checks exactly-or-at-least-once delivery and logs the figures of the test.
func (e *env) report(keys []string, got map[string]int, allowDuplicates bool) int {
	e.t.Helper()
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	dups := 0
	for k, n := range got {
		if !want[k] {
			e.t.Errorf("row %s delivered but the tenant does not hold it", k)
		}
		dups += n - 1
	}
	if dups > 0 && !allowDuplicates {
		e.t.Errorf("%d duplicate rows delivered", dups)
	}
	e.t.Logf("FIGURES %s: rows=%d duplicates=%d api_requests=%d quota_violations=%d wall=%v",
		e.t.Name(), len(keys), dups, e.st.Tenant.APIRequestCount(), e.st.Tenant.QuotaViolations(),
		time.Since(e.start).Round(100*time.Millisecond))
	return dups
}

func (e *env) requireNoQuotaViolation() {
	e.t.Helper()
	if v := e.st.Tenant.QuotaViolations(); v != 0 {
		e.t.Errorf("%d requests violated the tenant's quota", v)
	}
}

// rows generates messages received between 9 days and 2 minutes ago.
func rows(seed int64, messages int) []msgtracetest.Row {
	now := time.Now()
	return msgtracetest.Generate(seed, messages, now.Add(-9*24*time.Hour), now.Add(-2*time.Minute),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 5})
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
