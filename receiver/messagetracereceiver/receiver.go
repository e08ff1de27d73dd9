package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

const (
	// setupBackoffMin and setupBackoffMax bound the wait after an error only a person can fix
	// (refused login, missing permission): minutes, never a tight loop.
	setupBackoffMin = time.Minute
	setupBackoffMax = 15 * time.Minute
)

// messageTraceReceiver polls the message trace API of one tenant. Reading order: Start ->
// run (schedule) -> poll (ranges up to now - delay) -> walk (pages of one range) -> deliver.
type messageTraceReceiver struct {
	cfg       *Config
	set       receiver.Settings
	next      consumer.Logs
	obs       *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder
	builder   *recordBuilder
	planner   *rangePlanner // of the settled pass
	settled   *pass
	early     *pass // nil when early_delay is 0
	passes    []*pass

	// Seams for tests.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	retry retryPolicy

	// Set by Start.
	cancel   context.CancelFunc
	done     chan struct{}
	http     *http.Client
	client   *apiClient
	storage  storage.Client
	store    *checkpointStore
	cp       *checkpoint
	seen     *seenState   // what was emitted per row; nil without an early pass
	requests atomic.Int64 // API requests sent, for range summaries
	setupErr time.Duration
	health   pollHealth

	// details is nil unless details.enabled (details.go).
	details *detailsRunner

	// memory bounds the pages in flight of all receivers of one factory; set by the factory,
	// or a budget of this receiver's own when created directly.
	memory *pageMemory

	summary pullSummary // of the ranges since the last info-level summary line
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*messageTraceReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "https",
		LongLivedCtx:           true,
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &messageTraceReceiver{
		cfg:       cfg,
		set:       set,
		next:      next,
		obs:       obs,
		telemetry: tb,
		builder: &recordBuilder{
			tenant:         cfg.TenantID,
			legacyNames:    cfg.LegacyFieldNames,
			includeSubject: cfg.IncludeSubject,
			version:        set.BuildInfo.Version,
		},
		planner: newRangePlanner(cfg, cfg.Delay),
		now:     time.Now,
		sleep:   sleepCtx,
		retry:   retryPolicy{backoff: cfg.BackOffConfig, maxThrottles: maxThrottles},
	}
	r.settled = &pass{name: "settled", planner: r.planner, cp: func() *passCheckpoint { return &r.cp.passCheckpoint }}
	r.passes = []*pass{r.settled}
	if cfg.EarlyDelay > 0 {
		r.early = &pass{name: "early", planner: newRangePlanner(cfg, cfg.EarlyDelay), cp: func() *passCheckpoint {
			if r.cp.Early == nil {
				r.cp.Early = &passCheckpoint{}
			}
			return r.cp.Early
		}}
		// The early pass goes first: freshness is its whole point.
		r.passes = []*pass{r.early, r.settled}
	}
	return r, nil
}

// Start prepares clients and the checkpoint and starts polling in the background. It never
// touches the network, so an unreachable Microsoft never fails the collector's start.
func (r *messageTraceReceiver) Start(ctx context.Context, host component.Host) error {
	runCtx, err := r.prepare(ctx, host)
	if err != nil {
		return err
	}
	r.done = make(chan struct{})
	go r.run(runCtx)
	return nil
}

// prepare builds the HTTP client, token source and API client and loads the checkpoint; it
// returns the context the poll loop runs under. Tests call it and then poll directly.
func (r *messageTraceReceiver) prepare(ctx context.Context, host component.Host) (context.Context, error) {
	r.health.start(host)
	for _, w := range r.cfg.weakSettings() {
		r.set.Logger.Warn("insecure setting: " + w)
	}
	var err error
	if r.http, err = newHTTPClient(ctx, r.cfg, host, r.set.TelemetrySettings); err != nil {
		return nil, err
	}

	var cert *certCredential
	if r.cfg.ClientCertificate != nil {
		if cert, err = loadCertificate(r.cfg.ClientCertificate.CertFile, r.cfg.ClientCertificate.KeyFile); err != nil {
			return nil, fmt.Errorf("`client_certificate`: %w", err)
		}
	}

	if err = r.openStorage(ctx, host); err != nil {
		return nil, err
	}
	var fresh bool
	r.cp, fresh = r.loadCheckpoint(ctx)
	if r.early != nil {
		if r.seen, err = loadSeenState(ctx, r.storage); err != nil {
			r.set.Logger.Warn("ignoring the stored remembered rows; rows seen before may be emitted again", zap.Error(err))
		}
		if fresh {
			// A new start (reset_checkpoint, another tenant) re-reads everything: rows remembered
			// from before must not suppress them.
			r.seen.forgetBefore(time.Unix(1<<40, 0))
		}
	}

	r.prepareDetails(ctx, fresh)

	base, err := url.Parse(r.cfg.effectiveEndpoint())
	if err != nil {
		return nil, fmt.Errorf("`endpoint`: %w", err)
	}
	if r.memory == nil {
		r.memory = newPageMemory(defaultPageMemoryBytes)
	}
	// The poll loop and the token source outlive Start's context by design.
	runCtx, cancel := context.WithCancel(context.Background())
	r.client = r.newAPIClient(runCtx, base, cert)
	r.cancel = cancel
	return runCtx, nil
}

// newAPIClient builds the client of list and details requests, with its token source, request
// budget, share of page memory and self-metrics; ctx bounds the logins and the metrics.
func (r *messageTraceReceiver) newAPIClient(ctx context.Context, base *url.URL, cert *certCredential) *apiClient {
	loginCtx := context.WithValue(ctx, oauth2.HTTPClient, r.http)
	return &apiClient{
		api:      r.cfg.api(),
		base:     base,
		pageSize: r.cfg.effectivePageSize(),
		http:     r.http,
		tokens: newTokenProvider(&loginSource{
			ctx:      loginCtx,
			tokenURL: r.cfg.tokenURL(),
			clientID: r.cfg.ClientID,
			secret:   string(r.cfg.ClientSecret),
			cert:     cert,
			scope:    r.cfg.scope(),
			now:      r.now,
		}, r.now),
		budget: newRequestBudget(r.cfg.RequestBudget.Requests, r.cfg.RequestBudget.Interval, r.now),
		memory: &pageHold{m: r.memory},
		retry:  r.retry,
		now:    r.now,
		sleep:  r.sleep,
		logger: r.set.Logger,
		observe: func(status string, throttled bool) {
			r.requests.Add(1)
			r.telemetry.ReceiverMessageTraceRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", status)))
			if throttled {
				r.health.throttled()
				r.telemetry.ReceiverMessageTraceThrottledRequests.Add(ctx, 1)
			}
		},
	}
}

// openStorage gets this receiver's storage client, or an in-memory stand-in with a warning.
func (r *messageTraceReceiver) openStorage(ctx context.Context, host component.Host) error {
	if r.cfg.StorageID == nil {
		r.set.Logger.Warn("no `storage` configured: the checkpoint is kept in memory only, so a restart re-reads from initial_lookback and emits those rows again; set storage: file_storage to keep it")
		r.storage = storage.NewNopClient()
	} else {
		ext, ok := host.GetExtensions()[*r.cfg.StorageID]
		if !ok {
			return fmt.Errorf("`storage`: extension %q is not configured: add it under extensions and service::extensions", r.cfg.StorageID)
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf("`storage`: extension %q is not a storage extension (use e.g. file_storage)", r.cfg.StorageID)
		}
		client, err := se.GetClient(ctx, component.KindReceiver, r.set.ID, "")
		if err != nil {
			return fmt.Errorf("`storage`: cannot open a client of %q: %w", r.cfg.StorageID, err)
		}
		r.storage = client
	}
	r.store = &checkpointStore{client: r.storage}
	return nil
}

// Shutdown stops polling, cancels requests in flight and closes the storage client. It is safe
// without Start and when called twice.
func (r *messageTraceReceiver) Shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	if r.done != nil {
		select {
		case <-r.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.done = nil
	}
	if r.http != nil {
		r.http.CloseIdleConnections()
	}
	var err error
	if r.storage != nil {
		err = r.storage.Close(ctx)
		r.storage = nil
	}
	r.telemetry.Shutdown()
	return err
}

// run polls at once and then every poll_interval, or after a setup back-off.
func (r *messageTraceReceiver) run(ctx context.Context) {
	defer close(r.done)
	for {
		wait := r.cfg.PollInterval
		if err := r.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			wait = r.afterFailure(err)
		} else {
			r.setupErr = 0
		}
		if r.sleep(ctx, wait) != nil {
			return
		}
	}
}

// afterFailure logs a failed poll and returns how long to wait before the next one.
func (r *messageTraceReceiver) afterFailure(err error) time.Duration {
	r.health.failed(err)
	if isSetupProblem(err) {
		r.setupErr = min(max(2*r.setupErr, setupBackoffMin), setupBackoffMax)
		wait := max(r.setupErr, r.cfg.PollInterval)
		r.set.Logger.Error("message trace setup problem: fix the configuration or tenant; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		return wait
	}
	r.set.Logger.Warn("message trace poll stopped early; the checkpoint is unchanged and the next poll resumes from it",
		zap.Error(err), zap.Duration("retry_in", r.cfg.PollInterval))
	return r.cfg.PollInterval
}
