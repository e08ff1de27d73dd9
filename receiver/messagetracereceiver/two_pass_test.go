package messagetracereceiver

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// emission is one record as the pipeline saw it, stamped with the fake clock.
type emission struct {
	at             time.Time
	status, before string
}

type recorder struct {
	mu    sync.Mutex
	clock *msgtracetest.Clock
	byKey map[string][]emission
	total int
}

func (rec *recorder) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	forEachRecord(ld, func(lr plog.LogRecord) {
		id, _ := lr.Attributes().Get("email.local_id")
		to, _ := lr.Attributes().Get("email.to.address")
		st, _ := lr.Attributes().Get("exchange.message_trace.status")
		prev, _ := lr.Attributes().Get("exchange.message_trace.previous_status")
		k := id.Str() + "|" + strings.ToLower(to.Str())
		rec.byKey[k] = append(rec.byKey[k], emission{at: rec.clock.Now(), status: st.Str(), before: prev.Str()})
		rec.total++
	})
	return nil
}

type scenarioResult struct {
	requests               int
	fresh, lateDelays      []time.Duration
	statusUpdates, lateRow int
	rememberedRows, bytes  int
	peakRemembered         int
}

// runScenario plays a tenant receiving mail for 3 hours, with late rows and status changes,
// against a receiver polling every minute for 6 hours of the fake's time. restartEvery > 0
// restarts the receiver (same storage) every that many polls.
func runScenario(t *testing.T, earlyDelay time.Duration, restartEvery int) scenarioResult {
	t.Helper()
	clock := msgtracetest.NewClock(time.Now().Add(-20 * time.Hour).Truncate(time.Minute))
	t0 := clock.Now()
	rows := msgtracetest.Generate(31, 400, t0, t0.Add(3*time.Hour), msgtracetest.GenerateOptions{
		MinRecipients: 1, MaxRecipients: 4, LateFraction: 0.15, LateBy: time.Hour,
		PendingFraction: 0.3, SettleAfter: 30 * time.Minute,
	})
	h := newHarness(t, msgtracetest.Options{Now: clock.Now}, rows)
	h.cfg.Delay = 2 * time.Hour
	h.cfg.EarlyDelay = earlyDelay
	h.cfg.InitialLookback = time.Hour
	h.cfg.PollInterval = time.Minute
	// The budget runs on real time while the scenario runs on the fake clock; the fake's own
	// quota (on the fake clock) still applies and must never be exceeded.
	h.cfg.RequestBudget = RequestBudgetConfig{Requests: 1000, Interval: time.Second}
	rec := &recorder{clock: clock, byKey: map[string][]emission{}}

	start := func() (*messageTraceReceiver, context.Context) {
		r, ctx := h.receiver(rec)
		r.now = clock.Now
		return r, ctx
	}
	r, ctx := start()
	r.state.cp.Done = t0.Add(-time.Hour)
	peak := 0
	for i := 1; i <= 360; i++ {
		require.NoError(t, r.poll(ctx))
		if seenOf(r) != nil {
			n, _ := seenOf(r).size()
			peak = max(peak, n)
		}
		clock.Advance(time.Minute)
		if restartEvery > 0 && i%restartEvery == 0 {
			require.NoError(t, r.Shutdown(context.Background()))
			r, ctx = start()
			require.NotNil(t, r.state.cp, "checkpoint survives")
		}
	}

	res := scenarioResult{requests: h.srv.APIRequestCount(), peakRemembered: peak}
	end := clock.Now()
	for _, row := range h.srv.Rows() {
		k := row.ID + "|" + strings.ToLower(row.Recipient)
		got := rec.byKey[k]
		require.NotEmpty(t, got, "row %s never delivered (received %v, visible %v)", k, row.Received, row.VisibleAt)
		final := row.Status
		if row.FinalStatus != "" && !end.Before(row.SettlesAt) {
			final = row.FinalStatus
		}
		require.Equal(t, final, got[len(got)-1].status, "row %s: the last status delivered is not the final one", k)
		for i := 1; i < len(got); i++ {
			require.NotEqual(t, got[i-1].status, got[i].status, "row %s delivered twice with status %s", k, got[i].status)
			require.Equal(t, got[i-1].status, got[i].before, "row %s: previous_status", k)
			res.statusUpdates++
		}
		visible := row.Received
		if row.VisibleAt.After(visible) {
			visible = row.VisibleAt
		}
		wait := got[0].at.Sub(visible)
		if earlyDelay > 0 && !row.VisibleAt.After(row.Received.Add(earlyDelay)) {
			res.fresh = append(res.fresh, wait)
			require.LessOrEqual(t, wait, earlyDelay+h.cfg.PollInterval+time.Second, "row %s visible early but delivered late", k)
		} else {
			res.lateDelays = append(res.lateDelays, wait)
			require.LessOrEqual(t, got[0].at.Sub(row.Received), h.cfg.Delay+h.cfg.PollInterval+time.Second, "late row %s missed by the settled pass", k)
			if earlyDelay > 0 && row.VisibleAt.After(row.Received.Add(earlyDelay)) {
				res.lateRow++
			}
		}
	}
	require.Zero(t, h.srv.QuotaViolations())
	if seenOf(r) != nil {
		res.rememberedRows, res.bytes = seenOf(r).size()
	}
	return res
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestEarlyAndSettledPasses(t *testing.T) {
	single := runScenario(t, 0, 0)
	both := runScenario(t, 5*time.Minute, 0)
	restarted := runScenario(t, 5*time.Minute, 7)

	assert.NotEmpty(t, both.fresh)
	assert.Positive(t, both.lateRow, "the scenario has rows published after early_delay")
	assert.Positive(t, both.statusUpdates, "the scenario has status changes")
	assert.Zero(t, single.statusUpdates, "a single pass at delay sees only final statuses")
	ratio := float64(both.requests) / float64(single.requests)
	assert.InDelta(t, 2.0, ratio, 0.6, "two passes cost about twice the requests of one")
	assert.Equal(t, both.statusUpdates, restarted.statusUpdates, "restarts add no repeats")
	assert.Positive(t, both.peakRemembered)
	assert.Less(t, both.peakRemembered, 1600, "only rows between the two passes are remembered")
	t.Logf("single pass: %d requests; median delay from visible to delivered %v", single.requests, median(single.lateDelays))
	t.Logf("two passes: %d requests (%.2fx); early rows %d, median freshness %v, max %v; late rows %d delivered by the settled pass (median %v after visible); status updates %d; at most %d rows remembered (%d bytes, %d a row), %d at the end",
		both.requests, ratio, len(both.fresh), median(both.fresh), slices.Max(both.fresh), both.lateRow, median(both.lateDelays),
		both.statusUpdates, both.peakRemembered, both.peakRemembered*entryBytes, entryBytes, both.rememberedRows)
	t.Logf("two passes with a restart every 7 polls: %d requests, %d status updates, no other repeats", restarted.requests, restarted.statusUpdates)
}

func TestRepeatsAreNotEmittedTwice(t *testing.T) {
	// Rows inside the early pass's window (between delay 1h and early_delay 10m ago) are
	// remembered until the settled pass is past them.
	now := time.Now()
	rows := msgtracetest.Generate(32, 50, now.Add(-50*time.Minute), now.Add(-15*time.Minute), msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.EarlyDelay = 10 * time.Minute
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
	rewind := func() { r.state.cp.Early.Done = r.state.cp.Early.Done.Add(-time.Hour) }
	// The same range read again (a lost checkpoint, a boundary) emits nothing new.
	rewind()
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
	// A status change is emitted again, with the previous status.
	newStatus := "failed"
	if rows[0].Status == newStatus {
		newStatus = "delivered"
	}
	require.True(t, h.srv.SetStatus(rows[0].ID, rows[0].Recipient, newStatus))
	rewind()
	require.NoError(t, r.poll(ctx))
	require.Len(t, delivered(sink), len(rows)+1)
	all := sink.AllLogs()
	last := all[len(all)-1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	prev, ok := last.Attributes().Get("exchange.message_trace.previous_status")
	require.True(t, ok)
	assert.Equal(t, rows[0].Status, prev.Str())
	st, _ := last.Attributes().Get("exchange.message_trace.status")
	assert.Equal(t, newStatus, st.Str())
	inBody, ok := last.Body().Map().Get("previousStatus")
	require.True(t, ok, "the body says it too, for syslog destinations")
	assert.Equal(t, rows[0].Status, inBody.Str())
	rowsKept, bytes := seenOf(r).size()
	assert.Equal(t, len(rows), rowsKept)
	assert.Equal(t, len(rows)*entryBytes, bytes)
}

func (*recorder) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
