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
		memory: &pageHold{m: r.memory},
		retry:  r.retry,
		now:    r.now,
		sleep:  r.sleep,
		logger: r.set.Logger,
		observe: func(status string, throttled bool) {
			r.requests.Add(1)
			r.telemetry.ReceiverMessageTraceRequests.Add(runCtx, 1, metric.WithAttributes(attribute.String("status", status)))
			if throttled {
				r.health.throttled()
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
func (r *messageTraceReceiver) loadCheckpoint(ctx context.Context) (*checkpoint, bool) {
	fresh := &checkpoint{
		Version:        checkpointVersion,
		Tenant:         r.cfg.TenantID,
		API:            r.cfg.API,
		Reset:          r.cfg.ResetCheckpoint,
		passCheckpoint: passCheckpoint{Done: r.now().Add(-r.cfg.InitialLookback).UTC().Truncate(time.Second)},
	}
	// initial_lookback may equal the API's limit; start just inside it rather than warning
	// about a gap on every first run.
	if oldest := r.planner.oldest(r.now()); fresh.Done.Before(oldest) {
		fresh.Done = oldest
	}
	stored, err := r.store.load(ctx)
	switch {
	case err != nil:
		r.set.Logger.Warn("ignoring the stored checkpoint; starting from initial_lookback", zap.Error(err), zap.Time("start", fresh.Done))
		return fresh, true
	case stored == nil:
		r.set.Logger.Info("no stored checkpoint; starting from initial_lookback", zap.Time("start", fresh.Done))
		return fresh, true
	case stored.Reset != r.cfg.ResetCheckpoint:
		r.set.Logger.Warn("reset_checkpoint changed: discarding the stored checkpoint and starting from initial_lookback",
			zap.String("previous", stored.Reset), zap.String("reset_checkpoint", r.cfg.ResetCheckpoint), zap.Time("start", fresh.Done))
		return fresh, true
	case stored.Tenant != r.cfg.TenantID || stored.API != r.cfg.API:
		r.set.Logger.Warn("the stored checkpoint belongs to another tenant or api; starting from initial_lookback",
			zap.String("stored_tenant", stored.Tenant), zap.String("stored_api", stored.API), zap.Time("start", fresh.Done))
		return fresh, true
	}
	if found := futureCheckpoint(stored, r.now().Add(maxClockSkew)); found != "" {
		r.set.Logger.Warn("the stored checkpoint lies in the future (corrupt, or this machine's clock jumped back): "+
			"discarding it and starting from initial_lookback; rows since then may be emitted again",
			zap.String("found", found), zap.Time("now", r.now().UTC()), zap.Time("start", fresh.Done))
		return fresh, true
	}
	for _, pc := range []*passCheckpoint{&stored.passCheckpoint, stored.Early} {
		if pc == nil || pc.Open == nil {
			continue
		}
		if o := pc.Open; !o.End.After(o.Start) || o.End.Sub(o.Start) > maxQuerySpan+time.Second {
			r.set.Logger.Warn("the stored checkpoint's open range is empty or wider than the API allows (10 days): "+
				"discarding the range and reading on from its done time; rows of it already delivered may be emitted again",
				zap.Time("range_start", o.Start), zap.Time("range_end", o.End), zap.Time("done_until", pc.Done))
			pc.Open = nil
		}
	}
	r.set.Logger.Info("resuming from the stored checkpoint", zap.Time("done_until", stored.Done), zap.Bool("inside_range", stored.Open != nil))
	return stored, false
}

// futureCheckpoint describes the first time of a stored checkpoint that lies after limit, or
// returns "". Such a checkpoint would make the receiver send nothing (done ahead) or queries
// the API refuses (an open range ahead) until the clock catches up, possibly for years.
func futureCheckpoint(cp *checkpoint, limit time.Time) string {
	check := func(name string, pc *passCheckpoint) string {
		switch {
		case pc == nil:
		case pc.Done.After(limit):
			return name + " done " + pc.Done.UTC().Format(time.RFC3339)
		case pc.Open != nil && (pc.Open.End.After(limit) || pc.Open.Start.After(limit)):
			return name + " open range " + pc.Open.Start.UTC().Format(time.RFC3339) + " to " + pc.Open.End.UTC().Format(time.RFC3339)
		}
		return ""
	}
	if s := check("settled pass", &cp.passCheckpoint); s != "" {
		return s
	}
	if s := check("early pass", cp.Early); s != "" {
		return s
	}
	if cp.EarlyFrom.After(limit) {
		return "early_from " + cp.EarlyFrom.UTC().Format(time.RFC3339)
	}
	return ""
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

// pass is one reading of time: the settled pass at `delay` (complete data) or the early pass
// at `early_delay` (fresh data). Both share the request budget and take turns range by range.
type pass struct {
	name    string
	planner *rangePlanner
	cp      func() *passCheckpoint

	caughtUp bool // since start: its per-range lines are then debug (see logRange)
}

// poll walks both passes from their checkpoints to now - delay (settled) and now - early_delay
// (early), one range of each in turn so neither falls behind while the other has a backlog.
func (r *messageTraceReceiver) poll(ctx context.Context) error {
	// One clock reading for the whole poll: the passes walk to limits fixed at its start, so a
	// slow API cannot keep the poll going with ever newer one-second ranges.
	observed := r.now()
	defer r.recordLag(ctx)
	defer func() { r.logSummary(r.now()) }()
	for ctx.Err() == nil {
		progressed := false
		for _, p := range r.passes {
			ok, err := r.step(ctx, p, observed)
			if err != nil {
				return err
			}
			progressed = progressed || ok
		}
		if !progressed {
			r.detailsTurn(ctx) // details only once the list has caught up
			return nil
		}
	}
	return ctx.Err()
}

// step reads the next range of a pass, or the next pageBudget pages of it, so that the other
// pass gets its turn while one has a long range.
func (r *messageTraceReceiver) step(ctx context.Context, p *pass, observed time.Time) (bool, error) {
	prog, ok := r.nextRange(p, observed)
	ahead := p.cp().Done
	if ok {
		ahead = prog.End
	}
	if ahead.After(observed.Add(maxClockSkew)) {
		// Checked at load too; this is the clock jumping back while running. Restarting from
		// initial_lookback would emit rows again, and the API refuses a range in the future,
		// so the pass waits for the clock.
		r.set.Logger.Warn("the checkpoint lies ahead of this machine's clock (did the clock jump back?); "+
			"nothing is read until the clock passes it", zap.String("pass", p.name), zap.Time("done_until", ahead), zap.Time("now", observed.UTC()))
		return false, nil
	}
	if !ok {
		return false, nil
	}
	started, requests := r.now(), r.requests.Load()
	pages, emitted, complete, err := r.walk(ctx, p, prog, observed)
	if err != nil {
		return false, err
	}
	if !complete {
		r.set.Logger.Debug("range paused for the other pass", zap.String("pass", p.name),
			zap.Time("from", prog.Start), zap.Time("to", prog.End), zap.Int("rows", prog.Rows), zap.Int("pages", pages))
		return true, nil
	}
	p.planner.learn(prog.End.Sub(prog.Start), prog.Rows)
	cp := p.cp()
	cp.Done, cp.Open = prog.End, nil
	if p == r.settled && r.seen != nil {
		// The settled pass never returns here: what it remembered of this range is done.
		r.seen.forgetBefore(cp.Done.Add(-bucketSpan))
	}
	r.save(ctx)
	r.summary.add(prog.Rows, emitted, pages, r.requests.Load()-requests)
	r.logRange(p, p.planner.limit(observed).Sub(cp.Done),
		zap.String("pass", p.name),
		zap.Time("from", prog.Start), zap.Time("to", prog.End),
		zap.Int("rows", prog.Rows), zap.Int("emitted", emitted), zap.Int("pages", pages),
		zap.Int64("requests", r.requests.Load()-requests),
		zap.Duration("took", r.now().Sub(started).Round(time.Millisecond)),
		zap.Duration("lag", p.planner.limit(observed).Sub(cp.Done)))
	r.recordLag(ctx)
	return true, nil
}

// save stores the checkpoint and the remembered rows in one batch.
func (r *messageTraceReceiver) save(ctx context.Context) {
	var ops []*storage.Operation
	if r.seen != nil {
		ops = r.seen.saveOps()
	}
	ops = append(ops, r.detailsSaveOps()...)
	if err := r.store.save(ctx, r.cp, ops...); err != nil {
		r.set.Logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next page", zap.Error(err))
		return
	}
	r.detailsSaved()
	if r.seen != nil {
		r.seen.saved()
		rows, bytes := r.seen.size()
		r.telemetry.ReceiverMessageTraceRememberedRows.Record(ctx, int64(rows))
		r.telemetry.ReceiverMessageTraceStateBytes.Record(ctx, int64(bytes))
	}
}

// nextRange resumes the pass's open range or plans its next one. The settled pass clamps a
// checkpoint the API would refuse and reports the gap; the early pass never reads what the
// settled pass may already read.
func (r *messageTraceReceiver) nextRange(p *pass, now time.Time) (*rangeProgress, bool) {
	cp := p.cp()
	if p == r.settled {
		if done, gap := p.planner.clamp(cp.Done, now); gap > 0 {
			r.set.Logger.Warn("the checkpoint is older than the API allows; rows in the gap cannot be read any more",
				zap.Time("checkpoint", cp.Done), zap.Time("clamped_to", done), zap.Duration("gap", gap))
			cp.Done = done
			if cp.Open != nil && !cp.Open.clampStart(done) {
				cp.Done, cp.Open = cp.Open.End, nil
			}
		}
	} else if floor := r.settled.planner.limit(now); cp.Done.Before(floor) {
		if cp.Open == nil || !cp.Open.End.After(floor) {
			cp.Done, cp.Open = floor, nil
		}
		if r.cp.EarlyFrom.IsZero() {
			r.cp.EarlyFrom = floor
		}
	}
	if open := cp.Open; open != nil {
		if open.Start.Before(cp.Done) {
			open.Start = cp.Done
		}
		return open, true
	}
	next, ok := p.planner.next(cp.Done, now)
	if !ok {
		return nil, false
	}
	return &next, true
}

// walk reads one range page by page, delivering each page before storing progress past it.
func (r *messageTraceReceiver) walk(ctx context.Context, p *pass, prog *rangeProgress, observed time.Time) (pages, emitted int, complete bool, err error) {
	resumed := prog.Rows > 0
	pageURL := r.client.firstPageURL(prog.queryBounds())
	isNext := false
	requeries := 0
	// A fetched page holds its share of the collector's page memory until it is delivered.
	defer r.client.memory.release()
	for {
		r.client.memory.release()
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
			return pages, emitted, false, err
		}
		pages++
		r.health.pageRead()
		r.telemetry.ReceiverMessageTracePages.Add(ctx, 1)
		handled := page.rows[:0]
		for i := range page.rows {
			if page.rows[i].TimeUnknown && page.rows[i].Received.IsZero() {
				// An unparsed row on a page without any parsed row: it lies somewhere in what
				// was queried, so it is placed at the end of the range.
				page.rows[i].Received = prog.End
			}
			if (resumed && prog.wants(&page.rows[i])) || (!resumed && prog.contains(&page.rows[i])) {
				handled = append(handled, page.rows[i])
			}
		}
		if len(handled) > 0 {
			n, err := r.deliver(ctx, p, handled, observed)
			if err != nil {
				return pages, emitted, false, err
			}
			emitted += n
			requeries = 0
			prog.delivered(handled)
			*p.cp() = passCheckpoint{Done: p.cp().Done, Open: prog}
			r.save(ctx)
		}
		if page.next == "" {
			return pages, emitted, true, nil
		}
		if r.early != nil && pages >= p.planner.pageBudget() && (prog.Order == "desc" || prog.Order == "asc") {
			// Progress is stored exactly, so the rest is queried afresh on the next turn.
			return pages, emitted, false, nil
		}
		if pageURL, err = r.client.resolveNextLink(pageURL, page.next); err != nil {
			return pages, emitted, false, err
		}
		isNext = true
	}
}

// deliver hands the rows that are new or changed to the pipeline and remembers them. A
// retryable refusal stops the poll so the same rows are offered again; a permanent one is
// logged, counted and skipped, as retrying cannot help.
func (r *messageTraceReceiver) deliver(ctx context.Context, p *pass, rows []traceRow, observed time.Time) (int, error) {
	emit, previous, codes, known := rows, []string(nil), []uint8(nil), []bool(nil)
	if r.seen != nil {
		emit = make([]traceRow, 0, len(rows))
		for i := range rows {
			code := statusCode(normaliseStatus(rows[i].Status))
			prev := r.seen.lookup(&rows[i])
			if prev == code {
				continue // emitted before with this status: a boundary or restart repeat
			}
			emit = append(emit, rows[i])
			codes = append(codes, code)
			known = append(known, prev != statusUnknown)
			previous = append(previous, statusNames[prev])
			switch {
			case prev != statusUnknown:
				r.telemetry.ReceiverMessageTraceStatusUpdates.Add(ctx, 1, metric.WithAttributes(attribute.String("pass", p.name)))
			case p == r.settled && rows[i].Received.After(r.cp.EarlyFrom) && !r.cp.EarlyFrom.IsZero():
				r.telemetry.ReceiverMessageTraceLateRows.Add(ctx, 1)
			}
		}
	}
	if len(emit) > 0 {
		ld := r.builder.build(emit, observed)
		if previous != nil {
			lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
			for i, prev := range previous {
				if prev == "" {
					continue
				}
				lr := lrs.At(i)
				lr.Attributes().PutStr("exchange.message_trace.previous_status", prev)
				// Syslog destinations such as Devo only see the body: say it there too.
				if r.cfg.LegacyFieldNames {
					lr.Body().Map().PutStr("PreviousStatus", legacyStatus(prev))
				} else {
					lr.Body().Map().PutStr("previousStatus", prev)
				}
			}
		}
		opCtx := r.obs.StartLogsOp(ctx)
		err := r.next.ConsumeLogs(opCtx, ld)
		r.obs.EndLogsOp(opCtx, "json", len(emit), err)
		switch {
		case err == nil:
			r.telemetry.ReceiverMessageTraceRows.Add(ctx, int64(len(emit)), metric.WithAttributes(attribute.String("pass", p.name)))
			r.countUnparsed(ctx, p, emit)
			r.queueDetails(ctx, emit)
		case consumererror.IsPermanent(err):
			r.telemetry.ReceiverMessageTraceRejectedRows.Add(ctx, int64(len(emit)))
			r.set.Logger.Error("the pipeline refused rows permanently; skipping them", zap.Int("rows", len(emit)), zap.Error(err))
		default:
			return 0, fmt.Errorf("the pipeline refused %d rows (they will be offered again): %w", len(emit), err)
		}
	}
	// Only the early pass's rows are read again (by the settled pass); what the settled pass
	// emits is never read again, so remembering it would only cost memory.
	if r.seen != nil && p != r.settled {
		r.seen.rememberAll(emit, codes, known)
	}
	return len(emit), nil
}

// countUnparsed counts the rows delivered raw because they could not be parsed, and logs one
// line per page (not per row: a hostile page could hold thousands).
func (r *messageTraceReceiver) countUnparsed(ctx context.Context, p *pass, rows []traceRow) {
	n, first := 0, -1
	for i := range rows {
		if rows[i].ParseError != "" {
			n++
			if first < 0 {
				first = i
			}
		}
	}
	if n == 0 {
		return
	}
	r.telemetry.ReceiverMessageTraceUnparsedRows.Add(ctx, int64(n), metric.WithAttributes(attribute.String("pass", p.name)))
	r.set.Logger.Warn("message trace rows could not be parsed; delivered them raw with the attribute "+parseErrorAttribute,
		zap.String("pass", p.name), zap.Int("rows", n), zap.String("first_reason", rows[first].ParseError), zap.String("first_row_id", rows[first].ID))
}

func (r *messageTraceReceiver) recordLag(ctx context.Context) {
	now := r.now()
	for _, p := range r.passes {
		lag := p.planner.limit(now).Sub(p.cp().Done).Seconds()
		r.telemetry.ReceiverMessageTraceCheckpointLag.Record(ctx, max(lag, 0), metric.WithAttributes(attribute.String("pass", p.name)))
	}
}
