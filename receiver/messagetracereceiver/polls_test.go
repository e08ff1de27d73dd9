package messagetracereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadatatest"
)

func TestDenseBackfillRequestsPer5000Rows(t *testing.T) {
	rows := rowsIn(20, 15_000, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 4})
	h := newHarness(t, msgtracetest.Options{}, rows)
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
	api := h.srv.APIRequestCount()
	minimum := (len(rows) + 4999) / 5000
	assert.LessOrEqual(t, api, minimum, "a dense backfill in one range needs one request per full page")
	t.Logf("dense backfill: %d rows, %d requests, %.3f requests per 5,000 rows (minimum %d)",
		len(rows), api, float64(api)*5000/float64(len(rows)), minimum)
}

func TestLateRowsWithinDelayAreNotLost(t *testing.T) {
	clock := msgtracetest.NewClock(time.Now().Add(-24 * time.Hour).Truncate(time.Second))
	t0 := clock.Now().Add(-30 * time.Minute)
	rows := msgtracetest.Generate(21, 300, t0, t0.Add(4*time.Hour), msgtracetest.GenerateOptions{LateFraction: 0.3, LateBy: 50 * time.Minute})
	h := newHarness(t, msgtracetest.Options{Now: clock.Now}, rows)
	h.cfg.InitialLookback = time.Hour
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.now = clock.Now
	r.state.cp.Done = clock.Now().Add(-h.cfg.InitialLookback) // prepare computed it from the real clock
	for range 40 {                                            // poll every 10 minutes for 6.7 hours of the fake's time
		require.NoError(t, r.poll(ctx))
		clock.Advance(10 * time.Minute)
	}
	requireExactlyOnce(t, rows, delivered(sink))
}

func TestStaleCheckpointIsClampedWithAWarning(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	r.state.cp.Done = r.now().Add(-100 * 24 * time.Hour)
	require.NoError(t, r.poll(ctx))
	warn := h.logs.FilterMessageSnippet("older than the API allows")
	require.Equal(t, 1, warn.Len())
	gap := warn.All()[0].ContextMap()["gap"]
	assert.NotEmpty(t, gap)
	assert.Zero(t, h.srv.QuotaViolations())
	for _, q := range apiRequests(h.srv) {
		assert.Equal(t, 200, q.Status, "no query the API refuses")
	}
}

func TestSeveralTenantsKeepTheirOwnCheckpoints(t *testing.T) {
	rowsA := rowsIn(22, 100, msgtracetest.GenerateOptions{})
	rowsB := rowsIn(23, 150, msgtracetest.GenerateOptions{})
	a := newHarness(t, msgtracetest.Options{}, rowsA)
	b := newHarness(t, msgtracetest.Options{}, rowsB)
	b.host, b.storage = a.host, a.storage // one collector, one storage extension

	start := func(h *harness, name string) (*messageTraceReceiver, *consumertest.LogsSink, context.Context) {
		sink := new(consumertest.LogsSink)
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.NewIDWithName(metadata.Type, name)
		r, err := newReceiver(set, h.cfg, sink)
		require.NoError(t, err)
		r.retry = fastRetry
		ctx, err := r.prepare(context.Background(), h.host)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
		return r, sink, ctx
	}
	ra, sa, ctxA := start(a, "tenant_a")
	rb, sb, ctxB := start(b, "tenant_b")
	require.NoError(t, ra.poll(ctxA))
	require.NoError(t, rb.poll(ctxB))
	requireExactlyOnce(t, rowsA, delivered(sa))
	requireExactlyOnce(t, rowsB, delivered(sb))
	require.NoError(t, ra.Shutdown(context.Background()))
	require.NoError(t, rb.Shutdown(context.Background()))

	// Restarted, each resumes from its own checkpoint and finds nothing new.
	ra2, sa2, ctxA2 := start(a, "tenant_a")
	rb2, sb2, ctxB2 := start(b, "tenant_b")
	assert.Equal(t, ra.state.cp.Done, ra2.state.cp.Done)
	assert.Equal(t, rb.state.cp.Done, rb2.state.cp.Done)
	assert.Equal(t, b.cfg.TenantID, rb2.state.cp.Tenant)
	require.NoError(t, ra2.poll(ctxA2))
	require.NoError(t, rb2.poll(ctxB2))
	assert.Zero(t, sa2.LogRecordCount()+sb2.LogRecordCount())
}

func TestSelfMetrics(t *testing.T) {
	rows := rowsIn(24, 200, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 2})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	r, ctx, _, tel := receiverWithTelemetry(t, h)
	logs := h.logs
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultThrottle, RetryAfter: time.Second})
	require.NoError(t, r.poll(ctx))

	// The generated helpers compare whole metrics (name, unit, temporality, every data point
	// with its attributes), so a count under the wrong attribute or metric fails here.
	ignoreTime := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualReceiverMessageTraceRows(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("pass", "settled")), Value: int64(len(rows))},
	}, ignoreTime)
	metadatatest.AssertEqualReceiverMessageTracePages(t, tel, []metricdata.DataPoint[int64]{{Value: 4}}, ignoreTime)
	metadatatest.AssertEqualReceiverMessageTraceRequests(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("status", "200")), Value: 4},
		{Attributes: attribute.NewSet(attribute.String("status", "429")), Value: 1},
	}, ignoreTime)
	metadatatest.AssertEqualReceiverMessageTraceThrottledRequests(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, ignoreTime)
	accepted, err := tel.GetMetric("otelcol_receiver_accepted_log_records")
	require.NoError(t, err)
	var total int64
	for _, dp := range accepted.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	assert.Equal(t, int64(len(rows)), total)
	lag, err := tel.GetMetric("otelcol_receiver_message_trace_checkpoint_lag")
	require.NoError(t, err)
	assert.InDelta(t, 0, lag.Data.(metricdata.Gauge[float64]).DataPoints[0].Value, 1)
	summary := logs.FilterMessage("Pull summary: range complete").All()
	require.Len(t, summary, 1)
	ctxMap := summary[0].ContextMap()
	assert.EqualValues(t, len(rows), ctxMap["rows"])
	assert.EqualValues(t, 4, ctxMap["pages"])
	assert.EqualValues(t, 5, ctxMap["requests"])
}
