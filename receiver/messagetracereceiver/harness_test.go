package messagetracereceiver

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
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
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "tenant") // stable across restarts, like a real config
	return h.receiverWith(set, next)
}

// receiverWith is receiver with the given settings (their logger is replaced by h.logs).
func (h *harness) receiverWith(set receiver.Settings, next consumer.Logs) (*messageTraceReceiver, context.Context) {
	h.t.Helper()
	require.NoError(h.t, h.cfg.Validate())
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
	for i := range ld.ResourceLogs().Len() {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
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

type consumerFunc func(context.Context, plog.Logs) error

func (f consumerFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return f(ctx, ld) }
func (consumerFunc) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }

func apiRequests(srv *msgtracetest.Server) []msgtracetest.Request {
	var out []msgtracetest.Request
	for _, q := range srv.Requests() {
		if q.Kind == msgtracetest.KindGraph || q.Kind == msgtracetest.KindLegacy {
			out = append(out, q)
		}
	}
	return out
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

// prepare is Start without its goroutine: begin and then the state loaded in the caller's
// goroutine, so that a test can poll directly.
func (r *messageTraceReceiver) prepare(ctx context.Context, host component.Host) (context.Context, error) {
	runCtx, ext, err := r.begin(ctx, host)
	if err != nil {
		return nil, err
	}
	if err := r.loadState(ctx, ext); err != nil {
		r.cancel()
		return nil, err
	}
	return runCtx, nil
}

// seenOf is the receiver's remembered rows; nil without an early pass.
func seenOf(r *messageTraceReceiver) *seenState {
	s, _ := r.state.seen.(*seenState)
	return s
}

// detailsOf is the receiver's details wiring; nil while details are off.
func detailsOf(r *messageTraceReceiver) *detailsWiring {
	d, _ := r.details.(*detailsWiring)
	return d
}
