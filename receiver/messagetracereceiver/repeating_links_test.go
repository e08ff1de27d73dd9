package messagetracereceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap/zapcore"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// Issue 20 item 2: the API answers every next-link with the same page and the same next-link
// (or, Graph, a new next-link to the same page each time). Every distinct row of the range
// arrives exactly once, within a bounded number of requests (fresh queries narrowed by the
// progress, never the loop), with one warning.
func TestRepeatingNextLinkIsWarnedAndTheRangeReadAfresh(t *testing.T) {
	for _, tt := range []struct {
		api  string
		mode msgtracetest.NextLinkRepeat
	}{
		{apiGraph, msgtracetest.RepeatSameLink},
		{apiLegacy, msgtracetest.RepeatSameLink},
		{apiGraph, msgtracetest.RepeatFreshLink},
	} {
		api := tt.api
		t.Run(fmt.Sprintf("%s/%s", api, map[msgtracetest.NextLinkRepeat]string{msgtracetest.RepeatSameLink: "same_link", msgtracetest.RepeatFreshLink: "fresh_link"}[tt.mode]), func(t *testing.T) {
			now := time.Now()
			// One range: Graph's first is 10 days, the legacy API's the first hour of the lookback.
			from, to := now.Add(-47*time.Hour-50*time.Minute), now.Add(-47*time.Hour-10*time.Minute)
			rows := msgtracetest.Generate(130, 600, from, to, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
			h := newHarness(t, msgtracetest.Options{}, rows)
			h.cfg.API = api
			h.cfg.PageSize = 100
			h.srv.RepeatNextLinks(tt.mode)
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()

			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
			pages := (len(rows) + h.cfg.PageSize - 1) / h.cfg.PageSize
			requests := len(apiRequests(h.srv))
			t.Logf("%s: %d rows, %d pages of %d, %d requests", api, len(rows), pages, h.cfg.PageSize, requests)
			// Each fresh query repeats the rows of its bound's second that were delivered, so a
			// page can bring fewer than page_size new rows; a fresh link costs the one request
			// that shows the page repeats. At most twice the pages.
			assert.LessOrEqual(t, requests, 2*pages+2, "requests")
			warned := h.logs.FilterMessageSnippet("the API repeated a page or a next-link")
			assert.Equal(t, 1, warned.FilterLevelExact(zapcore.WarnLevel).Len(), "one warning")
			assert.Equal(t, r.settled.planner.limit(r.now()), r.state.cp.Done, "the whole lookback read")
		})
	}
}

// The other side of the repeat detection: a fresh query after a refused next-link meets again
// the rows already delivered at its bound, here 300 of 550 rows that share one instant (three
// pages of them). That is no loop: every row arrives once, without a repeat warning.
func TestFreshQueryThroughRowsAtOneInstantIsNoLoop(t *testing.T) {
	at := time.Now().Add(-47 * time.Hour).Truncate(time.Millisecond)
	rows := make([]msgtracetest.Row, 550)
	for i := range rows {
		rows[i] = msgtracetest.Row{ID: fmt.Sprintf("m-%03d", i), Recipient: fmt.Sprintf("r%03d@example.com", i), Received: at, Status: msgtracetest.StatusDelivered}
	}
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	noop := msgtracetest.Fault{Kind: msgtracetest.FaultSlow, Delay: time.Millisecond}
	h.srv.InjectFaults(noop, noop, msgtracetest.Fault{Kind: msgtracetest.FaultPoisonNextLink})

	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("refused a next-link").Len(), "the fresh query happened")
	assert.Zero(t, h.logs.FilterMessageSnippet("repeated a page").Len())
}
