package messagetracereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// A slow API must not keep a poll going: each pass walks to a limit fixed at the poll's start.
func TestPollEndsUnderLatencyWithARealClock(t *testing.T) {
	rows := rowsIn(40, 20, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{Latency: 1500 * time.Millisecond}, rows)
	h.cfg.Delay = time.Minute
	h.cfg.EarlyDelay = 30 * time.Second
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.now = time.Now
	require.NoError(t, r.poll(ctx))
	require.NoError(t, r.poll(ctx))
	// Two passes, two polls, one range each at most: never more than 4 requests; and the polls
	// did read the tenant (a poll that fetched nothing would also stay under 4).
	assert.LessOrEqual(t, h.srv.APIRequestCount(), 4)
	requireExactlyOnce(t, rows, delivered(sink))
}

func TestClampStart(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	done := t0.Add(24 * time.Hour)
	desc := rangeProgress{Start: t0, End: t0.Add(72 * time.Hour), Order: orderDesc, Bound: t0.Add(12 * time.Hour), AtBound: boundRows{hashes: []uint64{keyHash("k")}}}
	assert.False(t, desc.clampStart(done), "newest-first progress already below the limit: nothing readable is left")
	desc = rangeProgress{Start: t0, End: t0.Add(72 * time.Hour), Order: orderDesc, Bound: t0.Add(48 * time.Hour)}
	assert.True(t, desc.clampStart(done))
	from, to := desc.queryBounds()
	assert.Equal(t, done, from)
	assert.Equal(t, t0.Add(48*time.Hour), to)

	asc := rangeProgress{Start: t0, End: t0.Add(72 * time.Hour), Order: orderAsc, Bound: t0.Add(12 * time.Hour), AtBound: boundRows{hashes: []uint64{keyHash("k")}}}
	assert.True(t, asc.clampStart(done))
	from, _ = asc.queryBounds()
	assert.Equal(t, done, from, "oldest-first progress resumes at the limit, not before it")
	assert.Empty(t, asc.AtBound.hashes)

	whole := rangeProgress{Start: t0, End: t0.Add(time.Hour)}
	assert.False(t, whole.clampStart(done))
}

func TestStaleOpenRangeResumesInsideTheLimit(t *testing.T) {
	for _, order := range []rangeOrder{orderDesc, orderAsc} {
		t.Run(string(order), func(t *testing.T) {
			rows := rowsIn(41, 20, msgtracetest.GenerateOptions{})
			h := newHarness(t, msgtracetest.Options{}, rows)
			h.cfg.InitialLookback = 90 * 24 * time.Hour
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			now := r.now()
			r.state.cp.Done = now.Add(-95 * 24 * time.Hour)
			r.state.cp.Open = &rangeProgress{Start: r.state.cp.Done, End: now.Add(-85 * 24 * time.Hour), Order: order, Bound: now.Add(-91 * 24 * time.Hour), Rows: 10}
			require.NoError(t, r.poll(ctx))
			// The walk reached the limit through the tenant's rows, not past an empty answer.
			requireExactlyOnce(t, rows, delivered(sink))
			for _, q := range apiRequests(h.srv) {
				assert.Equal(t, 200, q.Status, "query %v", q.Query)
			}
			assert.Nil(t, r.state.cp.Open)
			assert.Equal(t, r.settled.planner.limit(now), r.state.cp.Done)
		})
	}
}

func TestResetCheckpointForgetsRememberedRows(t *testing.T) {
	now := time.Now()
	rows := msgtracetest.Generate(42, 30, now.Add(-50*time.Minute), now.Add(-15*time.Minute), msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.EarlyDelay = 10 * time.Minute
	first := new(consumertest.LogsSink)
	r1, ctx1 := h.receiver(first)
	require.NoError(t, r1.poll(ctx1))
	requireExactlyOnce(t, rows, delivered(first))
	require.NoError(t, r1.Shutdown(context.Background()))

	h.cfg.ResetCheckpoint = "2026-11-21"
	second := new(consumertest.LogsSink)
	r2, ctx2 := h.receiver(second)
	require.NoError(t, r2.poll(ctx2))
	requireExactlyOnce(t, rows, delivered(second))
}

func TestPassesTakeTurnsOnALongRange(t *testing.T) {
	rows := rowsIn(43, 600, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 2})
	now := time.Now()
	early := msgtracetest.Generate(44, 10, now.Add(-40*time.Minute), now.Add(-20*time.Minute), msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, append(rows, early...))
	h.cfg.EarlyDelay = 10 * time.Minute
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.settled.planner.targetRows = 300 // three pages a turn
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, append(rows, early...), delivered(sink))
	paused := h.logs.FilterMessage("range paused for the other pass")
	assert.GreaterOrEqual(t, paused.Len(), 3, "the settled pass's long range is read in turns")
	summaries := h.logs.FilterMessage("Pull summary: range complete").All()
	require.NotEmpty(t, summaries)
	assert.Equal(t, "early", summaries[0].ContextMap()["pass"], "the early pass is not starved by the settled backlog")
}
