package messagetracereceiver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

const testSecret = "fake-tenant-secret-value"

// fastRetry keeps retries real but quick: a page that keeps failing is given up within 200 ms.
var fastRetry = retryPolicy{backoff: configretry.BackOffConfig{
	Enabled: true, InitialInterval: time.Millisecond, Multiplier: 2, MaxInterval: 10 * time.Millisecond, MaxElapsedTime: 200 * time.Millisecond,
}, maxThrottles: maxThrottles}

// persistentFaults is more faults than fastRetry's 200 ms can try: the page fails for good.
const persistentFaults = 1000

type harness struct {
	t       *testing.T
	srv     *msgtracetest.Server
	cfg     *Config
	host    component.Host
	logs    *observer.ObservedLogs
	storage *storagetest.TestStorage
}

// newHarness starts a fake tenant holding rows and a receiver configuration pointing at it.
func newHarness(t *testing.T, opts msgtracetest.Options, rows []msgtracetest.Row) *harness {
	t.Helper()
	if opts.ClientSecret == "" && opts.ClientCert == nil {
		opts.ClientSecret = testSecret
	}
	srv := msgtracetest.New(t, opts)
	srv.AddRows(rows...)
	caFile, err := srv.CAFile(t.TempDir())
	require.NoError(t, err)

	cfg := createDefaultConfig().(*Config)
	cfg.TenantID = srv.Options().TenantID
	cfg.ClientID = srv.Options().ClientID
	if opts.ClientCert == nil {
		cfg.ClientSecret = testSecret
	}
	cfg.LoginEndpoint = srv.URL()
	cfg.Endpoint = srv.URL()
	cfg.TLS.CAFile = caFile
	cfg.Delay = time.Hour
	cfg.EarlyDelay = 0 // single pass; the two-pass tests turn it on
	cfg.InitialLookback = 48 * time.Hour
	cfg.Timeout = 5 * time.Second
	id := storagetest.NewStorageID("checkpoints")
	cfg.StorageID = &id
	ext := storagetest.NewFileBackedStorageExtension("checkpoints", t.TempDir())
	return &harness{
		t: t, srv: srv, cfg: cfg, storage: ext,
		host: storagetest.NewStorageHost().WithExtension(id, ext),
	}
}

// receiver creates and prepares a receiver (no background loop); cleanup shuts it down.
func (h *harness) receiver(next consumer.Logs) (*messageTraceReceiver, context.Context) {
	h.t.Helper()
	require.NoError(h.t, h.cfg.Validate())
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "tenant") // stable across restarts, like a real config
	core, logs := observer.New(zap.DebugLevel)
	set.Logger = zap.New(core)
	h.logs = logs
	r, err := newReceiver(set, h.cfg, next)
	require.NoError(h.t, err)
	r.retry = fastRetry
	ctx, err := r.prepare(context.Background(), h.host)
	require.NoError(h.t, err)
	// The planner's clock stands still so ranges do not grow by a second mid-test; the budget
	// and retries keep real time.
	frozen := time.Now()
	r.now = func() time.Time { return frozen }
	h.t.Cleanup(func() { require.NoError(h.t, r.Shutdown(context.Background())) })
	return r, ctx
}

// rowsIn generates rows for messages received in the last 47 h up to 2 h ago: all inside
// initial_lookback and older than delay.
func rowsIn(seed int64, messages int, opts msgtracetest.GenerateOptions) []msgtracetest.Row {
	now := time.Now()
	return msgtracetest.Generate(seed, messages, now.Add(-47*time.Hour), now.Add(-2*time.Hour), opts)
}

// delivered lists the keys of every record the sink received, in order.
func delivered(sink *consumertest.LogsSink) []string {
	var keys []string
	for _, ld := range sink.AllLogs() {
		forEachRecord(ld, func(lr plog.LogRecord) {
			id, _ := lr.Attributes().Get("email.local_id")
			to, _ := lr.Attributes().Get("email.to.address")
			keys = append(keys, id.Str()+"|"+strings.ToLower(to.Str()))
		})
	}
	return keys
}

func forEachRecord(ld plog.Logs, fn func(plog.LogRecord)) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				fn(lrs.At(k))
			}
		}
	}
}

func keysOf(rows []msgtracetest.Row) []string {
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.ID + "|" + strings.ToLower(r.Recipient)
	}
	return keys
}

// requireExactlyOnce checks every row arrived once and nothing else arrived.
func requireExactlyOnce(t *testing.T, want []msgtracetest.Row, got []string) {
	t.Helper()
	seen := map[string]int{}
	for _, k := range got {
		seen[k]++
	}
	for _, k := range keysOf(want) {
		require.Equal(t, 1, seen[k], "row %s delivered %d times", k, seen[k])
		delete(seen, k)
	}
	require.Empty(t, seen, "rows delivered that the tenant does not hold")
}

func TestExactlyOnceAcrossManyPages(t *testing.T) {
	rows := rowsIn(1, 1200, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 4})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)

	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))

	api := h.srv.APIRequestCount()
	pages := (len(rows) + 99) / 100
	assert.LessOrEqual(t, api, pages+1, "one request per page, plus at most one for the partial last page")
	assert.Zero(t, h.srv.QuotaViolations())
	t.Logf("%d rows, %d pages of 100, %d API requests, %d token requests", len(rows), pages, api, h.srv.TokensIssued())

	// A second poll finds nothing new and emits nothing.
	before := sink.LogRecordCount()
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, before, sink.LogRecordCount())
	assert.Equal(t, 1, h.logs.FilterMessage("Pull summary: range complete").Len())
}

func TestBoundaryRowsAreEmittedOnce(t *testing.T) {
	now := time.Now().UTC()
	limit := now.Add(-time.Hour).Truncate(time.Second)
	start := now.Add(-48 * time.Hour).Truncate(time.Second)
	mk := func(id string, at time.Time) msgtracetest.Row {
		return msgtracetest.Row{ID: id, MessageID: "<" + id + "@x>", Sender: "a@x", Recipient: "b@x", Received: at, Status: "delivered"}
	}
	rows := []msgtracetest.Row{
		mk("00000000-0000-4000-8000-000000000001", start),                  // exactly on the first range's start: before it
		mk("00000000-0000-4000-8000-000000000002", start.Add(time.Second)), // just inside
		mk("00000000-0000-4000-8000-000000000003", limit),                  // exactly on the end: inside
		mk("00000000-0000-4000-8000-000000000004", limit.Add(time.Second)), // after the end: next poll
		mk("00000000-0000-4000-8000-000000000005", limit.Add(-time.Millisecond)),
	}
	h := newHarness(t, msgtracetest.Options{}, rows)
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.now = func() time.Time { return now }
	r.cp.Done = start

	require.NoError(t, r.poll(ctx))
	assert.ElementsMatch(t, keysOf([]msgtracetest.Row{rows[1], rows[2], rows[4]}), delivered(sink))

	// One second later the row on the old end must not come again; the next one must.
	r.now = func() time.Time { return now.Add(time.Second) }
	require.NoError(t, r.poll(ctx))
	got := delivered(sink)
	require.Len(t, got, 4)
	assert.Equal(t, keysOf(rows[3:4])[0], got[3])
}

// crashingStorage stops storing anything once crashed, like a process that died.
type crashingStorage struct {
	storage.Client
	crashed atomic.Bool
}

func (c *crashingStorage) Set(ctx context.Context, k string, v []byte) error {
	if c.crashed.Load() {
		return errors.New("process is dead")
	}
	return c.Client.Set(ctx, k, v)
}

func (c *crashingStorage) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if c.crashed.Load() {
		return errors.New("process is dead")
	}
	return c.Client.Batch(ctx, ops...)
}

// crashAfter accepts calls until the n-th, accepts that one too and then kills the receiver
// before it can store its progress.
type crashAfter struct {
	consumertest.LogsSink
	n, calls int
	crash    func()
}

func (c *crashAfter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	c.calls++
	err := c.LogsSink.ConsumeLogs(ctx, ld)
	if c.calls == c.n {
		c.crash()
	}
	return err
}

func TestCrashMidRangeLosesNothingAndRepeatsAtMostOnePage(t *testing.T) {
	rows := rowsIn(2, 600, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 5})
	for _, crashAt := range []int{1, 4, 9} {
		t.Run(fmt.Sprintf("after page %d", crashAt), func(t *testing.T) {
			h := newHarness(t, msgtracetest.Options{}, rows)
			h.cfg.PageSize = 150
			store, err := h.storage.GetClient(context.Background(), component.KindReceiver, component.MustNewID("x"), "")
			require.NoError(t, err)
			crashing := &crashingStorage{Client: store}

			first := &crashAfter{n: crashAt}
			r1, ctx1 := h.receiver(first)
			crashCtx, kill := context.WithCancel(ctx1)
			first.crash = func() { crashing.crashed.Store(true); kill() }
			r1.store = &checkpointStore{client: crashing}
			require.ErrorIs(t, r1.poll(crashCtx), context.Canceled)

			// A new process on the same storage (the checkpoint written before the crash).
			second := new(consumertest.LogsSink)
			r2, ctx2 := h.receiver(second)
			r2.store = &checkpointStore{client: store}
			r2.cp, _ = r2.loadCheckpoint(ctx2)
			require.NoError(t, r2.poll(ctx2))

			all := append(delivered(&first.LogsSink), delivered(second)...)
			seen := map[string]int{}
			for _, k := range all {
				seen[k]++
			}
			dups := 0
			for _, k := range keysOf(rows) {
				require.GreaterOrEqual(t, seen[k], 1, "row %s lost", k)
				dups += seen[k] - 1
			}
			assert.LessOrEqual(t, dups, 150, "at most one page is repeated")
			t.Logf("crash after page %d: %d rows, %d duplicates (the page accepted but not yet checkpointed)", crashAt, len(rows), dups)
		})
	}
}

func TestRestartWithoutCrashRepeatsNothing(t *testing.T) {
	rows := rowsIn(3, 500, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	// The pipeline refuses (retryably) the 3rd page: the poll stops with progress stored.
	var calls atomic.Int32
	first := new(consumertest.LogsSink)
	refusing := consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if calls.Add(1) == 3 {
			return errors.New("queue full")
		}
		return first.ConsumeLogs(ctx, ld)
	})
	r1, ctx1 := h.receiver(refusing)
	require.ErrorContains(t, r1.poll(ctx1), "will be offered again")
	require.NoError(t, r1.Shutdown(context.Background()))

	second := new(consumertest.LogsSink)
	r2, ctx2 := h.receiver(second)
	require.NotNil(t, r2.cp.Open, "progress inside the range was stored")
	require.NoError(t, r2.poll(ctx2))
	requireExactlyOnce(t, rows, append(delivered(first), delivered(second)...))
}

type consumerFunc func(context.Context, plog.Logs) error

func (f consumerFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return f(ctx, ld) }
func (consumerFunc) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }

func TestPermanentConsumerErrorSkipsRows(t *testing.T) {
	rows := rowsIn(4, 50, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	r, ctx := h.receiver(consumertest.NewErr(consumererror.NewPermanent(errors.New("bad data"))))
	require.NoError(t, r.poll(ctx))
	assert.Nil(t, r.cp.Open)
	assert.Equal(t, r.planner.limit(r.now()), r.cp.Done, "the checkpoint moved past the refused rows")
	assert.Equal(t, 1, h.logs.FilterMessage("the pipeline refused rows permanently; skipping them").Len())
}

func TestRetryableConsumerErrorKeepsCheckpoint(t *testing.T) {
	rows := rowsIn(5, 50, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	r, ctx := h.receiver(consumertest.NewErr(errors.New("downstream unavailable")))
	before := r.cp.Done
	require.Error(t, r.poll(ctx))
	assert.Equal(t, before, r.cp.Done)
	assert.Nil(t, r.cp.Open, "nothing was delivered, so there is no progress to store")

	sink := new(consumertest.LogsSink)
	r.next = sink
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
}

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
	r.client.now, r.client.sleep = clock.Now, fakeSleep
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

func apiRequests(srv *msgtracetest.Server) []msgtracetest.Request {
	var out []msgtracetest.Request
	for _, q := range srv.Requests() {
		if q.Kind == msgtracetest.KindGraph || q.Kind == msgtracetest.KindLegacy {
			out = append(out, q)
		}
	}
	return out
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
			assert.Nil(t, r.cp.Open)
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
	before := r.cp.Done
	err := r.poll(ctx)
	require.ErrorContains(t, err, "giving up on this page after")
	require.ErrorContains(t, err, "(retry_on_failure.max_elapsed_time 200ms)")
	assert.Equal(t, before, r.cp.Done)
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

func TestTokenIsCachedAndRefreshed(t *testing.T) {
	rows := rowsIn(11, 300, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{TokenTTL: 5*time.Minute + 2*time.Second}, rows)
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	clock := time.Now()
	r.client.tokens.now = func() time.Time { return clock }
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 1, h.srv.TokensIssued(), "one token serves every page")
	require.Greater(t, len(sink.AllLogs()), 1, "several pages were read with that token")
	// The token is renewed 5 minutes before expiry: with a TTL of 5m2s it is stale after 2 s.
	clock = clock.Add(time.Second)
	h.srv.AddRows(rowsIn(12, 5, msgtracetest.GenerateOptions{})...)
	r.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 1, h.srv.TokensIssued(), "still fresh one second later")
	clock = clock.Add(1500 * time.Millisecond)
	h.srv.AddRows(rowsIn(12, 10, msgtracetest.GenerateOptions{})...)
	r.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 2, h.srv.TokensIssued())
}

func TestSetupErrorsSayWhatToFix(t *testing.T) {
	tests := []struct {
		fault msgtracetest.Fault
		want  string
	}{
		{msgtracetest.Fault{Kind: msgtracetest.FaultServicePrincipalMissing}, "New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"},
		{msgtracetest.Fault{Kind: msgtracetest.FaultForbidden}, "ExchangeMessageTrace.Read.All"},
		{msgtracetest.Fault{Kind: msgtracetest.FaultTokenError, AADSTS: "AADSTS7000215"}, "secret's Value"},
		{msgtracetest.Fault{Kind: msgtracetest.FaultTokenError, AADSTS: "AADSTS700016"}, "check client_id and tenant_id"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault.Kind)+tt.fault.AADSTS, func(t *testing.T) {
			h := newHarness(t, msgtracetest.Options{}, rowsIn(13, 5, msgtracetest.GenerateOptions{}))
			r, ctx := h.receiver(new(consumertest.LogsSink))
			h.srv.InjectFaults(tt.fault)
			err := r.poll(ctx)
			require.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), testSecret)
			assert.Equal(t, setupBackoffMin, max(r.afterFailure(err), 0), "setup errors wait minutes")
			assert.Equal(t, 2*setupBackoffMin, r.afterFailure(err), "and back off further")
		})
	}
}

func TestCertificateAuthentication(t *testing.T) {
	cc, err := msgtracetest.NewClientCert("message trace app")
	require.NoError(t, err)
	rows := rowsIn(14, 30, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{ClientCert: cc.Cert}, rows)
	dir := t.TempDir()
	certFile, keyFile, err := cc.WriteFiles(dir)
	require.NoError(t, err)
	h.cfg.ClientSecret = ""
	h.cfg.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
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

func TestStartReturnsAtOnceAndShutdownIsQuick(t *testing.T) {
	rows := rowsIn(16, 200, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 10
	// Every page is slow: Shutdown must cancel the request in flight.
	slow := make([]msgtracetest.Fault, 100)
	for i := range slow {
		slow[i] = msgtracetest.Fault{Kind: msgtracetest.FaultSlow, Delay: 2 * time.Second}
	}
	h.srv.InjectFaults(slow...)
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), h.cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, r.Start(context.Background(), h.host))
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	require.Eventually(t, func() bool { return h.srv.APIRequestCount() > 0 }, 5*time.Second, 10*time.Millisecond)
	start = time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	took := time.Since(start)
	assert.Less(t, took, time.Second)
	t.Logf("shutdown with a request in flight took %v", took)
	require.NoError(t, r.Shutdown(context.Background()), "a second Shutdown is safe")
}

func TestWithoutStorageWarnsOnce(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	h.cfg.StorageID = nil
	r, _ := h.receiver(new(consumertest.LogsSink))
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("no `storage` configured").Len())
	assert.NotNil(t, r.cp)
}

func TestResetCheckpointDiscardsStoredProgress(t *testing.T) {
	rows := rowsIn(17, 40, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	first := new(consumertest.LogsSink)
	r1, ctx1 := h.receiver(first)
	require.NoError(t, r1.poll(ctx1))
	require.NoError(t, r1.Shutdown(context.Background()))

	// Same reset value: resumes, nothing again.
	again := new(consumertest.LogsSink)
	r2, ctx2 := h.receiver(again)
	require.NoError(t, r2.poll(ctx2))
	assert.Zero(t, again.LogRecordCount())
	require.NoError(t, r2.Shutdown(context.Background()))

	h.cfg.ResetCheckpoint = "2026-11-21"
	reset := new(consumertest.LogsSink)
	r3, ctx3 := h.receiver(reset)
	require.NoError(t, r3.poll(ctx3))
	requireExactlyOnce(t, rows, delivered(reset))
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("reset_checkpoint changed").Len())
}

func TestSecretsNeverLogged(t *testing.T) {
	rows := rowsIn(18, 30, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultUnauthorized}, msgtracetest.Fault{Kind: msgtracetest.FaultServerError})
	require.NoError(t, r.poll(ctx))
	tok, err := r.client.tokens.Token()
	require.NoError(t, err)
	for _, e := range h.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		assert.NotContains(t, line, testSecret)
		assert.NotContains(t, line, tok.AccessToken)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}

// newMemClient is an in-memory storage client honouring the contract (nil, nil when missing).
func newMemClient() storage.Client {
	return storagetest.NewInMemoryClient(component.KindReceiver, component.MustNewID("x"), "")
}
