//go:build e2e

package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// 1. Graph, dense backfill over several pages.
func TestGraphBackfillExactlyOnce(t *testing.T) {
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: 10, QuotaWindow: 2 * time.Second}, devotest.Options{})
	src := rows(1, 6000)
	e.st.Tenant.AddRows(src...)
	e.extra = append(e.extra, "PAGE_SIZE=1000", "BUDGET_REQUESTS=8", "BUDGET_INTERVAL=2s")
	c := e.run("graph.yaml")
	e.deliverAll(c, stack.Keys(src), 2*time.Minute, false)
	e.requireNoQuotaViolation()

	// Bodies equal the source rows; frames are well formed.
	byKey := map[string]msgtracetest.Row{}
	for _, r := range e.st.Tenant.Rows() {
		byKey[r.ID+"|"+strings.ToLower(r.Recipient)] = r
	}
	for _, ev := range e.st.Sink.Events() {
		if ev.Tag != "cloud.office365.messagetracing" || ev.Facility() != 1 || ev.Host == "" {
			t.Fatalf("bad frame header: %+v", ev)
		}
		k, _ := stack.RowKey(ev.Message)
		requireBodyEquals(t, byKey[k], ev.Message)
	}
	if s := e.st.Sink.Stats(); s.FrameErrors != 0 {
		t.Fatalf("%d malformed frames", s.FrameErrors)
	}
}

func requireBodyEquals(t *testing.T, r msgtracetest.Row, message string) {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal([]byte(message), &b); err != nil {
		t.Fatal(err)
	}
	str := func(k string) string { s, _ := b[k].(string); return s }
	received, err := time.Parse(time.RFC3339Nano, str("Received"))
	if err != nil {
		t.Fatalf("Received %q: %v", str("Received"), err)
	}
	status := strings.ToUpper(r.Status[:1]) + r.Status[1:]
	if r.FinalStatus != "" && !time.Now().Before(r.SettlesAt) {
		status = strings.ToUpper(r.FinalStatus[:1]) + r.FinalStatus[1:]
	}
	checks := []struct{ field, got, want string }{
		{"MessageTraceId", str("MessageTraceId"), r.ID},
		{"MessageId", str("MessageId"), r.MessageID},
		{"SenderAddress", str("SenderAddress"), r.Sender},
		{"RecipientAddress", str("RecipientAddress"), r.Recipient},
		{"Subject", str("Subject"), r.Subject},
		{"Status", str("Status"), status},
		{"FromIP", str("FromIP"), r.FromIP},
		{"ToIP", str("ToIP"), r.ToIP},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Fatalf("%s: got %q, want %q (body %s)", c.field, c.got, c.want, message)
		}
	}
	if !received.Equal(r.Received) {
		t.Fatalf("Received: got %v, want %v", received, r.Received)
	}
	if size, _ := b["Size"].(float64); int(size) != r.Size {
		t.Fatalf("Size: got %v, want %d", b["Size"], r.Size)
	}
}

// 2. kill -9 at 5 random moments during a backfill; restart each time.
func TestCrashDuringBackfillLosesNothing(t *testing.T) {
	parallel(t)
	// About 120 ms per 500-row page: the backfill takes about 10 s, so every kill lands in it.
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1, LatencyPer1000Rows: 240 * time.Millisecond}, devotest.Options{})
	src := rows(2, 12000)
	e.st.Tenant.AddRows(src...)
	e.extra = append(e.extra, "PAGE_SIZE=500")
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range 5 {
		c := e.run("graph.yaml")
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		c.Kill()
		got, _ := stack.Delivered(e.st.Sink.Events())
		t.Logf("crash %d: %d of %d rows at the sink", i+1, len(got), len(src))
		if len(got) == len(src) {
			t.Fatalf("crash %d came after the backfill finished: the test no longer crashes mid-backfill", i+1)
		}
	}
	c := e.run("graph.yaml")
	e.deliverAll(c, stack.Keys(src), 3*time.Minute, true)
}

// 3. Microsoft's fault mix: no row lost, the collector keeps running.
func TestMicrosoftFaults(t *testing.T) {
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	src := rows(3, 3000)
	e.st.Tenant.AddRows(src...)
	e.st.Tenant.SetFaultMix(stack.FaultMix(0.08), 3)
	e.extra = append(e.extra, "PAGE_SIZE=200")
	c := e.run("graph.yaml")
	e.deliverAll(c, stack.Keys(src), 3*time.Minute, true)
	if c.Exited() {
		t.Fatalf("the collector stopped: %v", c.ExitErr())
	}
	faults := map[string]int{}
	for _, r := range e.st.Tenant.Requests() {
		if r.Fault != "" {
			faults[r.Fault]++
		}
	}
	t.Logf("faults served: %v", faults)
}

// 4. Devo faults in confirmed mode: RSTs, refusal, stalled reads.
func TestDevoFaults(t *testing.T) {
	parallel(t)
	// About 150 ms per 250-row page: the backfill takes several seconds, so the faults below
	// land while rows are still flowing.
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1, LatencyPer1000Rows: 600 * time.Millisecond}, devotest.Options{})
	src := rows(4, 4000)
	e.st.Tenant.AddRows(src...)
	e.extra = append(e.extra, "PAGE_SIZE=250")
	e.st.Sink.ResetAfter(300)
	c := e.run("graph.yaml")
	waitEvents(t, e.st.Sink, 400, 30*time.Second)
	e.st.Sink.RefuseFor(2 * time.Second)
	time.Sleep(2500 * time.Millisecond)
	e.st.Sink.ResetAfter(500)
	waitEvents(t, e.st.Sink, min(e.st.Sink.EventCount()+200, len(src)), 30*time.Second)
	e.st.Sink.PauseReading()
	time.Sleep(3 * time.Second)
	e.st.Sink.ResumeReading()
	e.deliverAll(c, stack.Keys(src), 3*time.Minute, true)
	s := e.st.Sink.Stats()
	t.Logf("sink: resets=%d refused=%d connections=%d", s.Resets, s.Refused, s.Connections)
	if s.Resets == 0 || s.Refused == 0 {
		t.Fatalf("the faults did not hit the delivery (resets=%d, refused=%d)", s.Resets, s.Refused)
	}
}

func waitEvents(t *testing.T, s *devotest.Sink, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.EventCount() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events within %v", s.EventCount(), n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// 5. Legacy API with both envelopes and date forms.
func TestLegacyAPI(t *testing.T) {
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1, LegacyEnvelope: msgtracetest.EnvelopeAlternate}, devotest.Options{})
	src := rows(5, 2500)
	e.st.Tenant.AddRows(src...)
	e.extra = append(e.extra, "MSGTRACE_API=reporting_web_service", "PAGE_SIZE=400")
	c := e.run("graph.yaml")
	e.deliverAll(c, stack.Keys(src), 2*time.Minute, false)
	for _, ev := range e.st.Sink.Events()[:10] {
		if !strings.Contains(ev.Message, `"MessageTraceId"`) || !strings.Contains(ev.Message, `"Organization"`) {
			t.Fatalf("legacy body names missing: %s", ev.Message)
		}
	}
	legacy := 0
	for _, r := range e.st.Tenant.Requests() {
		if r.Kind == msgtracetest.KindLegacy {
			legacy++
		}
	}
	if legacy == 0 {
		t.Fatal("no legacy API request")
	}
}
