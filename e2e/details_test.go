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

// chosenKeys are the rows whose details the default statuses ask for.
func chosenKeys(rows []msgtracetest.Row) map[string]msgtracetest.Row {
	out := map[string]msgtracetest.Row{}
	for _, r := range rows {
		switch r.Status {
		case msgtracetest.StatusFailed, msgtracetest.StatusQuarantined, msgtracetest.StatusFilteredAsSpam:
			out[r.ID+"|"+strings.ToLower(r.Recipient)] = r
		}
	}
	return out
}

// detailEvents groups the detail events at the sink by row.
func detailEvents(e *env) map[string][]string {
	_, details := stack.SplitDetails(e.st.Sink.Events())
	out := map[string][]string{}
	for _, ev := range details {
		k, name := stack.DetailKey(ev.Message)
		out[k] = append(out[k], name)
	}
	return out
}

// answeredDetails counts the details requests the tenant answered with 200, per row.
func answeredDetails(e *env) map[string]int {
	out := map[string]int{}
	for _, r := range e.st.Tenant.DetailRequests() {
		if r.Status != 200 {
			continue
		}
		p := r.Path
		i := strings.Index(p, "/getDetailsByRecipient(recipientAddress='")
		id := p[strings.LastIndexByte(p[:i], '/')+1 : i]
		rcpt := strings.ReplaceAll(p[i+len("/getDetailsByRecipient(recipientAddress='"):len(p)-2], "''", "'")
		out[id+"|"+strings.ToLower(rcpt)]++
	}
	return out
}

func waitDetails(t *testing.T, e *env, c *stack.Collector, want map[string]msgtracetest.Row, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := detailEvents(e)
		missing := 0
		for k := range want {
			if len(got[k]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if c.Exited() || time.Now().After(deadline) {
			t.Fatalf("details of %d of %d rows missing (collector exited: %v)", missing, len(want), c.Exited())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Details arrive for the chosen statuses only, each row's once, across a restart in the
// middle, with some details requests failing, and no request over the tenant's quota.
func TestDetailsChosenStatusesOnceAcrossRestart(t *testing.T) {
	parallel(t)
	// The quota window is 4 s instead of 5 min; the receiver keeps 90 per window, 30 for details.
	e := newEnv(t, msgtracetest.Options{QuotaRequests: 100, QuotaWindow: 4 * time.Second, DetailsFailEvery: 7}, devotest.Options{})
	src := rows(16, 400)
	e.st.Tenant.AddRows(src...)
	want := chosenKeys(src)
	e.extra = append(e.extra, "BUDGET_REQUESTS=90", "BUDGET_INTERVAL=4s", "DETAILS_SHARE=30", "DETAILS_PER_POLL=10")
	c := e.run("details.yaml")
	e.waitDelivered(c, stack.Keys(src), 2*time.Minute)
	// Stop while details are still pending: the restart resumes them from storage.
	for len(detailEvents(e)) < 10 {
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := len(detailEvents(e))
	if before >= len(want) {
		t.Fatalf("all %d rows had details before the restart: the test no longer restarts mid-way", len(want))
	}
	c = e.run("details.yaml")
	waitDetails(t, e, c, want, 3*time.Minute)
	e.settle(2 * time.Second)

	got := detailEvents(e)
	answered := answeredDetails(e)
	for k, row := range want {
		names := got[k]
		wantNames := msgtracetest.DetailsFor(&row)
		if len(names) != len(wantNames) {
			t.Errorf("row %s (%s): %d detail events, want %d (%v)", k, row.Status, len(names), len(wantNames), names)
		}
		if answered[k] != 1 {
			t.Errorf("row %s: details fetched %d times", k, answered[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("details for row %s, whose status was not chosen", k)
		}
	}
	rowEvents, _ := stack.SplitDetails(e.st.Sink.Events())
	delivered, err := stack.Delivered(rowEvents)
	if err != nil {
		t.Fatal(err)
	}
	e.report(stack.Keys(src), delivered, false)
	e.requireNoQuotaViolation()
	t.Logf("FIGURES %s: chosen_rows=%d of %d, before_restart=%d, detail_requests=%d (failed by the stand-in: %d)",
		t.Name(), len(want), len(src), before, len(e.st.Tenant.DetailRequests()), len(e.st.Tenant.DetailRequests())-len(answered))
}

// The list's rows/s over a backlog with details off and on, and the details fetched per window
// afterwards. The quota window is 2 s instead of 5 min (150 times faster).
func TestDetailsListThroughput(t *testing.T) {
	measure := func(details bool) (rowsPerSec float64, catchUp time.Duration, detailsPerWindow float64, e *env) {
		e = newEnv(t, msgtracetest.Options{QuotaRequests: 100, QuotaWindow: 2 * time.Second, LatencyPer1000Rows: 20 * time.Millisecond}, devotest.Options{})
		src := rows(17, 8000)
		e.st.Tenant.AddRows(src...)
		on := "false"
		if details {
			on = "true"
		}
		e.extra = append(e.extra, "PAGE_SIZE=200", "BUDGET_REQUESTS=90", "BUDGET_INTERVAL=2s", "DETAILS_ENABLED="+on,
			"DETAILS_SHARE=20", "DETAILS_PER_POLL=20", "EARLY_DELAY=0s")
		c := e.run("details.yaml")
		start := time.Now()
		e.waitDelivered(c, stack.Keys(src), 3*time.Minute)
		catchUp = time.Since(start)
		rowsPerSec = float64(len(src)) / catchUp.Seconds()
		if details {
			n0, t0 := len(e.st.Tenant.DetailRequests()), time.Now()
			time.Sleep(6 * time.Second)
			detailsPerWindow = float64(len(e.st.Tenant.DetailRequests())-n0) / time.Since(t0).Seconds() * 2
		}
		e.requireNoQuotaViolation()
		return rowsPerSec, catchUp, detailsPerWindow, e
	}
	offRate, offTime, _, _ := measure(false)
	onRate, onTime, perWindow, e := measure(true)
	t.Logf("FIGURES %s: backlog 8000 messages, page_size 200, 90 requests / 2 s window: details off %.0f rows/s (%v), details on %.0f rows/s (%v), ratio %.2f; details afterwards %.1f per window (share 20)",
		t.Name(), offRate, offTime.Round(100*time.Millisecond), onRate, onTime.Round(100*time.Millisecond), onRate/offRate, perWindow)
	// The share is 20 of 90: the list keeps at least 70/90 of its requests. Allow for load.
	if onRate < offRate*70/90*0.8 {
		t.Errorf("with details the list ran at %.0f rows/s, below the share's bound (%.0f rows/s x 70/90)", onRate, offRate)
	}
	if perWindow > 20*1.15 {
		t.Errorf("details ran at %.1f requests per window, over their share of 20", perWindow)
	}
	if perWindow == 0 {
		t.Errorf("no details fetched after the backlog")
	}
	_ = e
}

// The worst case for the list: a burst of rows arrives while details use their whole share.
// Rows received at T become readable at T + delay (1 m); meanwhile the details of an earlier
// backlog saturate their share. The burst's rows/s with details on and off.
func TestDetailsListThroughputWhileDetailsRun(t *testing.T) {
	soak(t)
	measure := func(details bool) (rowsPerSec float64, took time.Duration, pendingDetails int) {
		e := newEnv(t, msgtracetest.Options{QuotaRequests: 100, QuotaWindow: 2 * time.Second, LatencyPer1000Rows: 20 * time.Millisecond}, devotest.Options{})
		e.st.Tenant.AddRows(rows(18, 3000)...)
		at := time.Now().Add(10 * time.Second).Truncate(time.Second)
		burst := msgtracetest.Generate(19, 8000, at, at.Add(time.Second), msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 5})
		e.st.Tenant.AddRows(burst...)
		on := "false"
		if details {
			on = "true"
		}
		e.extra = append(e.extra, "PAGE_SIZE=200", "BUDGET_REQUESTS=90", "BUDGET_INTERVAL=2s", "DETAILS_ENABLED="+on,
			"DETAILS_SHARE=20", "DETAILS_PER_POLL=20", "EARLY_DELAY=0s")
		c := e.run("details.yaml")
		readable := at.Add(time.Minute + time.Second)
		time.Sleep(time.Until(readable))
		n0 := len(e.st.Tenant.DetailRequests())
		start := time.Now()
		e.waitDelivered(c, stack.Keys(burst), 3*time.Minute)
		took = time.Since(start)
		if details {
			if n0 < 100 {
				t.Fatalf("only %d details requests before the burst: the share was not in use", n0)
			}
			pendingDetails = len(chosenKeys(e.st.Tenant.Rows())) - len(detailEvents(e))
		}
		e.requireNoQuotaViolation()
		return float64(len(burst)) / took.Seconds(), took, pendingDetails
	}
	offRate, offTook, _ := measure(false)
	onRate, onTook, pending := measure(true)
	t.Logf("FIGURES %s: burst of 8000 messages at 200 rows a page, 90 requests / 2 s window, details share 20 in use (%d rows still waiting for details): details off %.0f rows/s (%v), details on %.0f rows/s (%v), ratio %.2f",
		t.Name(), pending, offRate, offTook.Round(100*time.Millisecond), onRate, onTook.Round(100*time.Millisecond), onRate/offRate)
	if onRate < offRate*70/90*0.8 {
		t.Errorf("with details the list ran at %.0f rows/s, below the share's bound (%.0f rows/s x 70/90)", onRate, offRate)
	}
}
