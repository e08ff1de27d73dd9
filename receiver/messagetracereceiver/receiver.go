package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

const (
	// minSetupBackoff and maxSetupBackoff bound the wait after an error only a person can fix
	// (refused login, missing permission): minutes, never a tight loop.
	minSetupBackoff = time.Minute
	maxSetupBackoff = 15 * time.Minute
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
	settled   *pass // whose checkpoint is what this receiver has read for good
	state     *receiverState
	disk      *stateStorage // where state is stored (storagefile.go)
	passes    []*pass

	// Seams for tests.
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	retry  retryPolicy
	getenv func(string) string // the managed identity platform's variables (credentials.go)

	// Set by Start.
	cancel   context.CancelFunc
	done     chan struct{}
	http     *http.Client
	metadata *http.Client // managed identity requests' own client; nil without managed_identity
	client   *apiClient
	requests atomic.Int64 // API requests sent, for range summaries
	setupErr time.Duration
	health   pollHealth

	// details are fetched for rows of chosen statuses; noDetails unless details.enabled (details.go).
	details detailsQueue

	// memory bounds the pages in flight of all receivers of one factory; set by the factory,
	// or a budget of this receiver's own when created directly.
	memory *pageMemory
	// start is this receiver's place in the start wave of its factory's receivers (startgate.go).
	start *startTurn

	summary pullSummary // of the ranges since the last info-level summary line

	// exposure names world-readable files holding credentials once per factory (exposure.go).
	exposure *exposureCheck
}

func (r *messageTraceReceiver) warnExposedFiles() {
	if r.exposure == nil {
		r.exposure = newExposureCheck()
	}
	keyFile := ""
	if r.cfg.ClientCertificate != nil {
		keyFile = r.cfg.ClientCertificate.KeyFile
	}
	r.exposure.warn(r.set.Logger, keyFile)
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
			local:          newLocalDomains(cfg.LocalDomains),
		},
		now:    time.Now,
		sleep:  sleepCtx,
		getenv: os.Getenv,
		retry:  retryPolicy{backoff: cfg.BackOffConfig, maxThrottles: maxThrottles},
	}
	r.state, r.details = newReceiverState(cfg, set.Logger), noDetails{}
	r.disk = &stateStorage{
		cfg: cfg, id: set.ID, logger: set.Logger, now: func() time.Time { return r.now() }, health: &r.health,
		telemetry: tb, state: r.state,
	}
	r.settled, r.passes = r.newPasses()
	return r, nil
}

// Start prepares clients and starts polling in the background, where the storage client is
// opened and the checkpoint loaded first (startup.go). It never touches the network, so an
// unreachable Microsoft never fails the collector's start.
func (r *messageTraceReceiver) Start(ctx context.Context, host component.Host) error {
	runCtx, ext, err := r.begin(ctx, host)
	if err != nil {
		return err
	}
	r.done = make(chan struct{})
	go r.loadThenRun(runCtx, ext)
	return nil
}

// prepareClients builds the HTTP client, token source and API client; it returns the context
// the poll loop runs under.
func (r *messageTraceReceiver) prepareClients(ctx context.Context, host component.Host) (context.Context, error) {
	r.health.start(host)
	r.logStartSummary()
	for _, w := range r.cfg.weakSettings() {
		r.set.Logger.Warn("insecure setting: " + w)
	}
	r.warnExposedFiles()
	var err error
	if r.http, err = newHTTPClient(ctx, r.cfg, host, r.set.TelemetrySettings); err != nil {
		return nil, err
	}

	base, err := url.Parse(r.cfg.effectiveEndpoint())
	if err != nil {
		return nil, fmt.Errorf("`endpoint`: %w", err)
	}
	if r.memory == nil {
		r.memory = newPageMemory(defaultPageMemoryBytes)
	}
	// The poll loop and the token source outlive Start's context by design.
	runCtx, cancel := context.WithCancel(context.Background())
	login, err := r.tokenSource(runCtx)
	if err != nil {
		cancel()
		return nil, err
	}
	r.client = r.newAPIClient(runCtx, base, login)
	r.cancel = cancel
	return runCtx, nil
}

// newAPIClient builds the client of list and details requests from its layers: admission
// (request budget, start turn, share of page memory), request (token source, HTTP client,
// self-metrics), retry; ctx bounds the metrics.
func (r *messageTraceReceiver) newAPIClient(ctx context.Context, base *url.URL, login oauth2.TokenSource) *apiClient {
	budget := newRequestBudget(r.cfg.RequestBudget.Requests, r.cfg.RequestBudget.Interval, r.now)
	tokens := newTokenProvider(&firstTokenLog{source: login, logger: r.set.Logger, tenant: r.cfg.TenantID}, r.now).withLogger(r.set.Logger)
	return &apiClient{
		api:       r.cfg.api(),
		base:      base,
		pageSize:  r.cfg.effectivePageSize(),
		now:       r.now,
		admission: admission{budget: budget, start: r.start, memory: &pageHold{m: r.memory}},
		tokens:    tokens,
		request:   &requester{http: r.http, tokens: tokens, observe: r.observeRequest(ctx)},
		limit:     maxBodyBytes,
		retry: &retrier{
			policy: r.retry, now: r.now, sleep: r.sleep, logger: r.set.Logger,
			pauseUntil: budget.pauseUntil, relogin: tokens.invalidate,
		},
	}
}

// observeRequest counts each API request in the self-metrics and the receiver's health.
func (r *messageTraceReceiver) observeRequest(ctx context.Context) func(status string, throttled bool) {
	return func(status string, throttled bool) {
		r.requests.Add(1)
		r.telemetry.ReceiverMessageTraceRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("status", status)))
		if throttled {
			r.health.throttled()
			r.telemetry.ReceiverMessageTraceThrottledRequests.Add(ctx, 1)
		}
	}
}

// Shutdown stops polling, cancels requests in flight and closes the storage client. It is safe
// without Start and when called twice.
func (r *messageTraceReceiver) Shutdown(ctx context.Context) error {
	r.start.end() // a receiver that never made its first attempt holds nobody back
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
	if r.metadata != nil {
		r.metadata.CloseIdleConnections()
	}
	var err error
	if r.disk.client != nil {
		err = r.disk.client.Close(ctx)
		r.disk.client = nil
	}
	r.telemetry.Shutdown()
	return err
}

// run polls at once and then every poll_interval, or after a setup back-off.
func (r *messageTraceReceiver) run(ctx context.Context) {
	defer close(r.done)
	defer r.disk.writeStateCopy(true)
	defer r.disk.saveUnsaved()
	for {
		wait := r.cfg.PollInterval
		if err := r.pollOnFreshStack(ctx); err != nil {
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

// pollOnFreshStack runs one poll on a goroutine of its own. A poll's call chain (HTTP, TLS,
// JSON, storage) grows a goroutine's stack to 16-32 KB, and the runtime keeps a parked
// goroutine's stack until garbage collections shrink it, one halving per cycle: with a poll
// loop holding it between polls, 1,000 idle tenants kept about 20 MB of stacks that were used
// once a minute (BENCHMARKS.md, issue 15). A finished goroutine's stack goes back to the pool.
func (r *messageTraceReceiver) pollOnFreshStack(ctx context.Context) error {
	result := make(chan error, 1)
	go func() { result <- r.poll(ctx) }()
	return <-result
}

// afterFailure logs a failed poll and returns how long to wait before the next one.
func (r *messageTraceReceiver) afterFailure(err error) time.Duration {
	r.health.failed(err)
	if isSetupProblem(err) {
		r.setupErr = min(max(2*r.setupErr, minSetupBackoff), maxSetupBackoff)
		wait := max(r.setupErr, r.cfg.PollInterval)
		r.set.Logger.Error("message trace setup problem: fix the configuration or tenant; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		return wait
	}
	r.set.Logger.Warn("message trace poll stopped early; the checkpoint is unchanged and the next poll resumes from it",
		zap.Error(err), zap.Duration("retry_in", r.cfg.PollInterval))
	return r.cfg.PollInterval
}

// consume hands n rows' records to the pipeline, reported as one receiver operation.
func (r *messageTraceReceiver) consume(ctx context.Context, ld plog.Logs, n int) error {
	opCtx := r.obs.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(opCtx, ld)
	r.obs.EndLogsOp(opCtx, "json", n, err)
	return err
}
