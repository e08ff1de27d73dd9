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

func TestBudgetNeverExceededAndRetryAfterHonoured(t *testing.T) {
	rows := rowsIn(6, 400, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 2})
	// The tenant allows 8 requests per 2 s; the receiver's budget is 6 per 2 s. Tenant, budget
	// and waits share one fake clock that only the receiver's waits move: the quota is checked
	// exactly, whatever the machine's load, and the test does not sleep.
	clock := msgtracetest.NewClock(time.Now())
	h := newHarness(t, msgtracetest.Options{QuotaRequests: 8, QuotaWindow: 2 * time.Second, Now: clock.Now}, rows)
	h.cfg.PageSize = 50
	h.cfg.RequestBudget = RequestBudgetConfig{Requests: 6, Interval: 2 * time.Second}
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	var waited time.Duration
	fakeSleep := func(ctx context.Context, d time.Duration) error {
		waited += d
		clock.Advance(d)
		return ctx.Err()
	}
	r.client.now, r.client.retry.now, r.client.retry.sleep = clock.Now, clock.Now, fakeSleep
	r.client.budget.now, r.client.budget.sleep = clock.Now, fakeSleep
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultThrottle, RetryAfter: time.Second})

	start := clock.Now()
	require.NoError(t, r.poll(ctx))
	took := clock.Now().Sub(start)
	requireExactlyOnce(t, rows, delivered(sink))
	assert.Zero(t, h.srv.QuotaViolations(), "no request arrived over quota or before Retry-After passed")

	reqs := apiRequests(h.srv)
	var throttledAt time.Time
	for i, q := range reqs {
		if q.Throttled {
			throttledAt = q.Time
			require.Less(t, i+1, len(reqs))
			assert.GreaterOrEqual(t, reqs[i+1].Time.Sub(throttledAt), time.Second, "next request after Retry-After: %+v then %+v", q, reqs[i+1])
		}
	}
	require.False(t, throttledAt.IsZero())
	for i := range reqs {
		n := 0
		for j := range reqs {
			if !reqs[j].Time.After(reqs[i].Time) && reqs[i].Time.Sub(reqs[j].Time) < 2*time.Second {
				n++
			}
		}
		assert.LessOrEqual(t, n, 6, "budget of 6 per 2 s exceeded at request %d", i)
	}
	// The budget did the pacing: without its waits the fake clock would not have moved.
	assert.GreaterOrEqual(t, took, time.Duration(len(reqs)/6-1)*2*time.Second, "budget waits for %d requests", len(reqs))
	assert.Equal(t, waited, took)
	t.Logf("%d requests for %d rows in %v of fake time", len(reqs), len(rows), took.Round(time.Millisecond))
}

func TestTransientFaultsAreRetried(t *testing.T) {
	for _, kind := range []msgtracetest.FaultKind{
		msgtracetest.FaultServerError, msgtracetest.FaultHTMLSignIn, msgtracetest.FaultTruncatedJSON,
		msgtracetest.FaultUnauthorized,
	} {
		t.Run(string(kind), func(t *testing.T) {
			rows := rowsIn(7, 300, msgtracetest.GenerateOptions{})
			h := newHarness(t, msgtracetest.Options{}, rows)
			h.cfg.PageSize = 100
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			// Fail the first page and a later one.
			h.srv.InjectFaults(msgtracetest.Fault{Kind: kind})
			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
			assert.Nil(t, r.state.cp.Open)
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	rows := rowsIn(8, 50, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.Timeout = time.Second
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultSlow, Delay: 3 * time.Second})
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
	// The one page was asked for twice: the first request timed out, the retry brought it
	// (the stand-in records a request once it has noticed the client gave up).
	assert.Eventually(t, func() bool { return len(apiRequests(h.srv)) == 2 }, 5*time.Second, 10*time.Millisecond,
		"the timed-out request and its retry")
	retried := h.logs.FilterMessage("message trace request failed; retrying").All()
	require.Len(t, retried, 1)
	assert.Regexp(t, "Timeout|deadline exceeded", retried[0].ContextMap()["error"])

	// Without retries the same timeout ends the poll: the rows above came by the retry.
	h = newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.Timeout = time.Second
	sink = new(consumertest.LogsSink)
	r, ctx = h.receiver(sink)
	r.client.retry.policy.backoff.Enabled = false
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultSlow, Delay: 3 * time.Second})
	require.ErrorContains(t, r.poll(ctx), "retry_on_failure.enabled is false")
	assert.Eventually(t, func() bool { return len(apiRequests(h.srv)) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, sink.LogRecordCount())
}

func TestPersistentServerErrorsEndThePollWithoutMovingTheCheckpoint(t *testing.T) {
	rows := rowsIn(9, 20, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	faults := make([]msgtracetest.Fault, persistentFaults)
	for i := range faults {
		faults[i] = msgtracetest.Fault{Kind: msgtracetest.FaultServerError}
	}
	h.srv.InjectFaults(faults...)
	before := r.state.cp.Done
	err := r.poll(ctx)
	require.ErrorContains(t, err, "giving up on this page after")
	require.ErrorContains(t, err, "(retry_on_failure.max_elapsed_time 200ms)")
	assert.Equal(t, before, r.state.cp.Done)
	assert.Zero(t, sink.LogRecordCount())
	assert.GreaterOrEqual(t, h.srv.APIRequestCount(), 2, "retried")
	assert.Less(t, h.srv.APIRequestCount(), persistentFaults, "bounded retries")
}

func TestPoisonedNextLinkRequeriesTheRest(t *testing.T) {
	rows := rowsIn(10, 400, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 3})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	h.srv.InjectFaults(msgtracetest.Fault{}, msgtracetest.Fault{Kind: msgtracetest.FaultPoisonNextLink})
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
	assert.Equal(t, 1, h.logs.FilterMessage("Microsoft refused a next-link it issued; querying the rest of the range afresh").Len())
	bad := 0
	for _, q := range apiRequests(h.srv) {
		if q.Status == 400 {
			bad++
		}
	}
	assert.Equal(t, 1, bad, "the refused link is not retried")
}

func TestForeignNextLinkIsRefused(t *testing.T) {
	c := &apiClient{base: mustParse(t, "https://graph.microsoft.com")}
	cur := "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$top=5"
	for _, bad := range []string{
		"https://evil.example/v1.0/admin/exchange/tracing/messageTraces?$skiptoken=x",
		"http://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$skiptoken=x",
		"https://graph.microsoft.com.evil.example/x",
		"//evil.example/x",
	} {
		_, err := c.resolveNextLink(cur, bad)
		require.ErrorIs(t, err, errForeignLink, bad)
	}
	got, err := c.resolveNextLink(cur, "https://GRAPH.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$skiptoken=x")
	require.NoError(t, err)
	assert.Contains(t, got, "$skiptoken=x")
	_, err = c.resolveNextLink(cur, "https://graph.microsoft.com:443/v1.0/admin/exchange/tracing/messageTraces?$skiptoken=y")
	require.NoError(t, err, "the default port is the same host")
	_, err = c.resolveNextLink(cur, "https://graph.microsoft.com:8443/x")
	require.ErrorIs(t, err, errForeignLink)

	legacy := &apiClient{base: mustParse(t, "https://reports.office365.com")}
	got, err = legacy.resolveNextLink("https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$format=json",
		"../../reportingwebservice/reporting.svc/MessageTrace?$skiptoken=1999")
	require.NoError(t, err)
	assert.Equal(t, "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$skiptoken=1999", got)
}

func TestLegacyAPIBothEnvelopes(t *testing.T) {
	for _, env := range []string{msgtracetest.EnvelopeLight, msgtracetest.EnvelopeVerbose, msgtracetest.EnvelopeAlternate} {
		t.Run(env, func(t *testing.T) {
			rows := rowsIn(15, 500, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
			h := newHarness(t, msgtracetest.Options{LegacyEnvelope: env}, rows)
			h.cfg.API = apiLegacy
			h.cfg.PageSize = 200
			h.cfg.LegacyFieldNames = true
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
			lr := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			_, ok := lr.Body().Map().Get("MessageTraceId")
			assert.True(t, ok, "legacy body names")
		})
	}
}
