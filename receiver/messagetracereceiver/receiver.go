package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
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
	// maxRequeries bounds how often one range is queried afresh after refused next-links
	// without any row being delivered in between.
	maxRequeries = 3
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
	planner   *rangePlanner

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
	requests atomic.Int64 // API requests sent, for range summaries
	setupErr time.Duration
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
	return &messageTraceReceiver{
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
		planner: newRangePlanner(cfg),
		now:     time.Now,
		sleep:   sleepCtx,
		retry:   defaultRetryPolicy,
	}, nil
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
	tlsCfg, err := r.cfg.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("`tls`: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsCfg
	if r.cfg.ProxyURL != "" {
		proxy, perr := url.Parse(r.cfg.ProxyURL)
		if perr != nil {
			return nil, fmt.Errorf("`proxy_url`: %w", perr)
		}
		transport.Proxy = http.ProxyURL(proxy)
	}
	r.http = &http.Client{Transport: transport, Timeout: r.cfg.Timeout}

	var cert *certCredential
	if r.cfg.ClientCertificate != nil {
		if cert, err = loadCertificate(r.cfg.ClientCertificate.CertFile, r.cfg.ClientCertificate.KeyFile); err != nil {
			return nil, fmt.Errorf("`client_certificate`: %w", err)
		}
	}

	if err = r.openStorage(ctx, host); err != nil {
		return nil, err
	}
	r.cp = r.loadCheckpoint(ctx)

	base, err := url.Parse(r.cfg.effectiveEndpoint())
	if err != nil {
		return nil, fmt.Errorf("`endpoint`: %w", err)
	}
	// The poll loop and the token source outlive Start's context by design.
	runCtx, cancel := context.WithCancel(context.Background())
	loginCtx := context.WithValue(runCtx, oauth2.HTTPClient, r.http)
	r.client = &apiClient{
		api:      r.cfg.API,
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
		}),
		budget: newRequestBudget(r.cfg.RequestBudget.Requests, r.cfg.RequestBudget.Interval, r.now),
		retry:  r.retry,
		now:    r.now,
		sleep:  r.sleep,
		logger: r.set.Logger,
		observe: func(status string, throttled bool) {
			r.requests.Add(1)
			r.telemetry.ReceiverMessageTraceRequests.Add(runCtx, 1, metric.WithAttributes(attribute.String("status", status)))
			if throttled {
				r.telemetry.ReceiverMessageTraceThrottledRequests.Add(runCtx, 1)
			}
		},
	}
	r.cancel = cancel
	return runCtx, nil
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

// loadCheckpoint returns the stored checkpoint if it belongs to this configuration, else a new
// one starting initial_lookback ago.
func (r *messageTraceReceiver) loadCheckpoint(ctx context.Context) *checkpoint {
	fresh := &checkpoint{
		Version: checkpointVersion,
		Tenant:  r.cfg.TenantID,
		API:     r.cfg.API,
		Reset:   r.cfg.ResetCheckpoint,
		Done:    r.now().Add(-r.cfg.InitialLookback).UTC().Truncate(time.Second),
	}
	stored, err := r.store.load(ctx)
	switch {
	case err != nil:
		r.set.Logger.Warn("ignoring the stored checkpoint; starting from initial_lookback", zap.Error(err), zap.Time("start", fresh.Done))
		return fresh
	case stored == nil:
		r.set.Logger.Info("no stored checkpoint; starting from initial_lookback", zap.Time("start", fresh.Done))
		return fresh
	case stored.Reset != r.cfg.ResetCheckpoint:
		r.set.Logger.Warn("reset_checkpoint changed: discarding the stored checkpoint and starting from initial_lookback",
			zap.String("previous", stored.Reset), zap.String("reset_checkpoint", r.cfg.ResetCheckpoint), zap.Time("start", fresh.Done))
		return fresh
	case stored.Tenant != r.cfg.TenantID || stored.API != r.cfg.API:
		r.set.Logger.Warn("the stored checkpoint belongs to another tenant or api; starting from initial_lookback",
			zap.String("stored_tenant", stored.Tenant), zap.String("stored_api", stored.API), zap.Time("start", fresh.Done))
		return fresh
	}
	r.set.Logger.Info("resuming from the stored checkpoint", zap.Time("done_until", stored.Done), zap.Bool("inside_range", stored.Open != nil))
	return stored
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
	var se *setupError
	var le *loginError
	if errors.As(err, &se) || errors.As(err, &le) {
		r.setupErr = min(max(2*r.setupErr, setupBackoffMin), setupBackoffMax)
		wait := max(r.setupErr, r.cfg.PollInterval)
		r.set.Logger.Error("message trace setup problem: fix the configuration or tenant; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		return wait
	}
	r.set.Logger.Warn("message trace poll stopped early; the checkpoint is unchanged and the next poll resumes from it",
		zap.Error(err), zap.Duration("retry_in", r.cfg.PollInterval))
	return r.cfg.PollInterval
}

// poll walks from the checkpoint to now - delay, range by range.
func (r *messageTraceReceiver) poll(ctx context.Context) error {
	observed := r.now()
	defer r.recordLag(ctx)
	for ctx.Err() == nil {
		prog, ok := r.nextRange()
		if !ok {
			return nil
		}
		started, requests := r.now(), r.requests.Load()
		pages, err := r.walk(ctx, prog, observed)
		if err != nil {
			return err
		}
		r.planner.learn(prog.End.Sub(prog.Start), prog.Rows)
		r.cp.Done, r.cp.Open = prog.End, nil
		if err := r.store.save(ctx, r.cp); err != nil {
			r.set.Logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next range", zap.Error(err))
		}
		r.set.Logger.Info("Pull summary: range complete",
			zap.Time("from", prog.Start), zap.Time("to", prog.End),
			zap.Int("rows", prog.Rows), zap.Int("pages", pages),
			zap.Int64("requests", r.requests.Load()-requests),
			zap.Duration("took", r.now().Sub(started).Round(time.Millisecond)),
			zap.Duration("lag", r.planner.limit(r.now()).Sub(r.cp.Done)))
		r.recordLag(ctx)
	}
	return ctx.Err()
}

// nextRange resumes the open range or plans the next one, clamping a checkpoint the API would
// refuse and reporting the gap.
func (r *messageTraceReceiver) nextRange() (*rangeProgress, bool) {
	now := r.now()
	if done, gap := r.planner.clamp(r.cp.Done, now); gap > 0 {
		r.set.Logger.Warn("the checkpoint is older than the API allows; rows in the gap cannot be read any more",
			zap.Time("checkpoint", r.cp.Done), zap.Time("clamped_to", done), zap.Duration("gap", gap))
		r.cp.Done = done
		if r.cp.Open != nil && !r.cp.Open.End.After(done) {
			r.cp.Open = nil
		}
	}
	if open := r.cp.Open; open != nil {
		if open.Start.Before(r.cp.Done) {
			open.Start = r.cp.Done
		}
		return open, true
	}
	p, ok := r.planner.next(r.cp.Done, now)
	if !ok {
		return nil, false
	}
	return &p, true
}

// walk reads one range page by page, delivering each page before storing progress past it.
func (r *messageTraceReceiver) walk(ctx context.Context, prog *rangeProgress, observed time.Time) (int, error) {
	resumed := prog.Rows > 0
	pageURL := r.client.firstPageURL(prog.queryBounds())
	isNext := false
	pages, requeries := 0, 0
	for {
		page, err := r.client.fetch(ctx, pageURL, isNext)
		if errors.Is(err, errPoisonedLink) && requeries < maxRequeries {
			requeries++
			r.set.Logger.Warn("Microsoft refused a next-link it issued; querying the rest of the range afresh",
				zap.Error(err), zap.Time("from", prog.Start), zap.Time("to", prog.End), zap.Int("rows_delivered", prog.Rows))
			resumed, isNext = true, false
			pageURL = r.client.firstPageURL(prog.queryBounds())
			continue
		}
		if err != nil {
			return pages, err
		}
		pages++
		r.telemetry.ReceiverMessageTracePages.Add(ctx, 1)
		rows := page.rows[:0]
		for i := range page.rows {
			if (resumed && prog.wants(&page.rows[i])) || (!resumed && prog.contains(&page.rows[i])) {
				rows = append(rows, page.rows[i])
			}
		}
		if len(rows) > 0 {
			if err := r.deliver(ctx, rows, observed); err != nil {
				return pages, err
			}
			requeries = 0
			prog.delivered(rows)
			r.cp.Open = prog
			if err := r.store.save(ctx, r.cp); err != nil {
				r.set.Logger.Warn("could not store progress; it is kept in memory", zap.Error(err))
			}
		}
		if page.next == "" {
			return pages, nil
		}
		if pageURL, err = r.client.resolveNextLink(pageURL, page.next); err != nil {
			return pages, err
		}
		isNext = true
	}
}

// deliver hands rows to the pipeline. A retryable refusal stops the poll so the same rows are
// offered again; a permanent one is logged, counted and skipped, as retrying cannot help.
func (r *messageTraceReceiver) deliver(ctx context.Context, rows []traceRow, observed time.Time) error {
	ld := r.builder.build(rows, observed)
	opCtx := r.obs.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(opCtx, ld)
	r.obs.EndLogsOp(opCtx, "json", len(rows), err)
	if err == nil {
		r.telemetry.ReceiverMessageTraceRows.Add(ctx, int64(len(rows)))
		return nil
	}
	if consumererror.IsPermanent(err) {
		r.telemetry.ReceiverMessageTraceRejectedRows.Add(ctx, int64(len(rows)))
		r.set.Logger.Error("the pipeline refused rows permanently; skipping them", zap.Int("rows", len(rows)), zap.Error(err))
		return nil
	}
	return fmt.Errorf("the pipeline refused %d rows (they will be offered again): %w", len(rows), err)
}

func (r *messageTraceReceiver) recordLag(ctx context.Context) {
	lag := r.planner.limit(r.now()).Sub(r.cp.Done).Seconds()
	r.telemetry.ReceiverMessageTraceCheckpointLag.Record(ctx, max(lag, 0))
}
