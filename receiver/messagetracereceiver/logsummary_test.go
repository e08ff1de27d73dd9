package messagetracereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// At the defaults (both passes, a poll a minute) a tenant logs one info line an hour while it
// runs normally; the per-range lines are debug.
func TestInfoLogsAreHourlyPerTenant(t *testing.T) {
	clock := msgtracetest.NewClock(time.Now().Add(-24 * time.Hour).Truncate(time.Second))
	t0 := clock.Now().Add(-30 * time.Hour)
	rows := msgtracetest.Generate(31, 400, t0, clock.Now(), msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{Now: clock.Now, QuotaRequests: -1}, rows)
	h.cfg.Delay = createDefaultConfig().(*Config).Delay
	h.cfg.RequestBudget.Requests = 1 << 20 // the budget keeps real time; this test runs hours of the fake clock
	h.cfg.EarlyDelay = createDefaultConfig().(*Config).EarlyDelay
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.now = clock.Now
	r.state.cp.Done = clock.Now().Add(-h.cfg.InitialLookback) // prepare computed it from the real clock
	// The first poll reads the backlog: its ranges are info (what the setup guide tells an
	// operator to look for), then each pass says once that it caught up.
	for range 2 { // the early pass starts where the settled one ended, one poll later
		require.NoError(t, r.poll(ctx))
		clock.Advance(time.Minute)
	}
	first := h.logs.FilterMessage("Pull summary: range complete").FilterLevelExact(zap.InfoLevel).Len()
	seen := h.logs.FilterMessage("Pull summary: range complete").Len()
	assert.Positive(t, first, "no info range line while catching up after start")
	assert.Equal(t, 2, h.logs.FilterMessageSnippet("Pull summary: caught up").Len(), "one caught-up line per pass")
	started := h.logs.Len()
	const minutes = 150 // two and a half hours of polls at the default poll_interval
	for range minutes {
		require.NoError(t, r.poll(ctx))
		clock.Advance(time.Minute)
	}
	info := h.logs.FilterLevelExact(zap.InfoLevel).All()
	var summaries int
	for _, e := range info {
		if e.Message == "Pull summary: last period" {
			summaries++
			ctx := e.ContextMap()
			assert.Contains(t, ctx, "settled_lag")
			assert.Contains(t, ctx, "early_lag")
			assert.Contains(t, ctx, "requests")
		}
	}
	assert.Equal(t, 2, summaries, "one summary an hour")
	var laterInfo int
	for _, e := range h.logs.All()[started:] {
		if e.Level >= zap.InfoLevel {
			laterInfo++
		}
	}
	assert.Equal(t, summaries, laterInfo, "once caught up only the hourly summaries are info or above")
	ranges := h.logs.FilterMessage("Pull summary: range complete").All()[seen:]
	assert.GreaterOrEqual(t, len(ranges), minutes, "every range still has its debug line")
	for _, e := range ranges {
		assert.Equal(t, zap.DebugLevel, e.Level)
	}
	t.Logf("%d polls: %d info range lines catching up, then %d info lines and %d debug range lines", minutes, first, laterInfo, len(ranges))
}
