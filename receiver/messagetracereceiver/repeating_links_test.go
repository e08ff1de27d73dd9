package messagetracereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap/zapcore"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// Issue 20 item 2: the API answers every next-link with the same page and the same next-link.
// Every distinct row of the range arrives exactly once, within a bounded number of requests
// (fresh queries narrowed by the progress, never the loop), with one warning.
func TestRepeatingNextLinkIsWarnedAndTheRangeReadAfresh(t *testing.T) {
	for _, api := range []string{apiGraph, apiLegacy} {
		t.Run(api, func(t *testing.T) {
			now := time.Now()
			// One range: Graph's first is 10 days, the legacy API's the first hour of the lookback.
			from, to := now.Add(-47*time.Hour-50*time.Minute), now.Add(-47*time.Hour-10*time.Minute)
			rows := msgtracetest.Generate(130, 600, from, to, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
			h := newHarness(t, msgtracetest.Options{}, rows)
			h.cfg.API = api
			h.cfg.PageSize = 100
			h.srv.RepeatNextLinks(true)
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
			// page can bring fewer than page_size new rows: at most twice the pages.
			assert.LessOrEqual(t, requests, 2*pages+2, "requests")
			warned := h.logs.FilterMessageSnippet("the API repeated a page or a next-link")
			assert.Equal(t, 1, warned.FilterLevelExact(zapcore.WarnLevel).Len(), "one warning")
			assert.Equal(t, r.planner.limit(r.now()), r.cp.Done, "the whole lookback read")
		})
	}
}
