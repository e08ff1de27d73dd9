package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/internal/storagefile"
)

// devoExporter sends log records to one Devo endpoint: route -> frame -> write -> confirm.
type devoExporter struct {
	id     component.ID
	cfg    *Config
	logger *zap.Logger
	router router
	framer *framer
	tel    *metadata.TelemetryBuilder
	now    func() time.Time
	pool   *pool // built in start, once the certificates are loaded
	seg    *segmenter
	// segRetries bounds the immediate retries of a failed segment within one push.
	segRetries int
	health     *deliveryHealth
	graphNames *graphNamesCheck

	bufs  sync.Pool // *chunkWriter buffers, reused across pushes
	gzips sync.Pool // *gzip.Writer; each holds ~1 MB of deflate state

	// stopCtx ends every push in flight: cancelled shutdownGrace after the collector began to
	// shut the exporter down (see beginShutdown), so a stalled Devo cannot hold the shutdown for
	// `timeout` (30 s) per push.
	stopCtx    context.Context
	stopCancel context.CancelFunc
	stopTimer  atomic.Pointer[time.Timer]
}

// shutdownGrace is how long pushes in flight at shutdown may still finish before they are
// cancelled. What a cancelled push held is not lost: with the defaults the receiver's
// checkpoint has not moved past it, with a persistent queue it stays on disk, and either way it
// is sent again after the restart (at most one segment was sent twice).
const shutdownGrace = 2 * time.Second

func newExporter(set exporter.Settings, cfg *Config) (*devoExporter, error) {
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = machineHostname()
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("devo: telemetry: %w", err)
	}
	stopCtx, stopCancel := context.WithCancel(context.Background())
	return &devoExporter{
		id:         set.ID,
		stopCtx:    stopCtx,
		stopCancel: stopCancel,
		cfg:        cfg,
		logger:     set.Logger,
		router:     router{attr: cfg.TagAttribute, fallback: cfg.Tag},
		framer:     newFramer(cfg, hostname),
		tel:        tel,
		now:        time.Now,
		seg:        newSegmenter(cfg.MinSegmentRecords, cfg.MaxSegmentRecords),
		segRetries: segmentRetries,
		health:     newDeliveryHealth(set.Logger, time.Now),
		graphNames: &graphNamesCheck{logger: set.Logger},
	}, nil
}

// machineHostname is os.Hostname made safe for a syslog header (no spaces, bounded length).
func machineHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	b := []byte(h)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f {
			b[i] = '-'
		}
	}
	return string(b[:min(len(b), maxHostnameLen)])
}

// start loads the certificates (failing start-up if they are unreadable) but does not connect:
// Devo being unreachable must not stop the collector; pushes connect lazily and retry.
func (e *devoExporter) start(ctx context.Context, host component.Host) error {
	host = unwrapHost(host) // status reports go to the collector's host itself
	tlsCfg, err := loadTLS(ctx, e.cfg, e.logger)
	if err != nil {
		return err
	}
	logRiskWarnings(e.logger, e.cfg)
	if err := e.checkQueueFile(host); err != nil {
		return err
	}
	e.health.start(host)
	if err := e.tel.RegisterDevoExporterTimeSinceLastDeliveryCallback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(e.health.sinceLastDelivery().Seconds())
		return nil
	}); err != nil {
		return fmt.Errorf("devo: telemetry: %w", err)
	}
	e.tel.DevoExporterSegmentSize.Record(ctx, int64(e.seg.size()))
	maxIdle := 1
	if q := e.cfg.Queue.Get(); q != nil {
		maxIdle = q.NumConsumers
	}
	e.pool = &pool{
		dialer:      dialer{addr: e.cfg.Endpoint, tlsCfg: tlsCfg, timeout: e.cfg.TimeoutConfig.Timeout},
		idleTimeout: e.cfg.IdleTimeout,
		maxAge:      e.cfg.MaxConnectionAge,
		maxIdle:     maxIdle,
		now:         e.now,
		tel:         e.tel,
		logger:      e.logger,
	}
	return nil
}

// checkQueueFile verifies the persistent queue's file_storage file before exporterhelper's
// queue opens it, which it does right after this start: bbolt crashes the whole collector on a
// damaged file, at every restart (internal/boltcheck). A damaged file is moved aside, so the
// collector starts with an empty queue; the rows it held cannot be read and are not delivered,
// which the error says. Only at start: the queue reads and writes its file all the time, and
// damage while running still stops the collector (the next start then moves the file aside).
func (e *devoExporter) checkQueueFile(host component.Host) error {
	q := e.cfg.Queue.Get()
	if q == nil || q.StorageID == nil {
		return nil
	}
	ext, ok := host.GetExtensions()[*q.StorageID]
	if !ok {
		return nil // exporterhelper reports the missing extension
	}
	// exporterhelper names the client after the exporter and the signal ("logs").
	path, ok := storagefile.Path(ext, component.KindExporter, e.id, "logs")
	if !ok {
		return nil
	}
	d := storagefile.MoveAsideIfDamaged(path, e.now())
	switch {
	case d == nil:
		return nil
	case d.Aside == "":
		return fmt.Errorf("devo: the persistent queue file %s is damaged (%v) and cannot be moved aside (%v): move or delete it; the rows it holds cannot be delivered", path, d.Reason, d.Err)
	}
	e.logger.Error("the persistent queue file is damaged: moved aside, the exporter starts with an empty queue; the rows it held are not delivered",
		zap.String("file", path), zap.String("moved_to", d.Aside), zap.NamedError("damage", d.Reason))
	return nil
}

// beginShutdown runs when the collector begins to shut the exporter down, before exporterhelper
// drains its queue: pushes in flight get shutdownGrace to finish, then they are cancelled (and
// exporterhelper, whose retries are stopped by then, keeps their rows: see shutdownGrace).
func (e *devoExporter) beginShutdown() {
	t := time.AfterFunc(shutdownGrace, e.stopCancel)
	if old := e.stopTimer.Swap(t); old != nil {
		old.Stop()
	}
}

// shutdown runs after exporterhelper drained the queue, so no push is in flight.
func (e *devoExporter) shutdown(context.Context) error {
	if t := e.stopTimer.Load(); t != nil {
		t.Stop()
	}
	e.stopCancel()
	if e.pool != nil {
		e.pool.close()
	}
	e.tel.Shutdown()
	return nil
}

// plan is the routing result of one push: the tag of every record in iteration order, with ""
// for records that are dropped.
type plan struct {
	recs     []plog.LogRecord // every record in iteration order
	tags     []string
	sendable int
	dropped  int
}

// pushLogs is exporterhelper's push function. It never mutates ld.
func (e *devoExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	if ld.LogRecordCount() == 0 {
		return nil
	}
	if e.pool == nil {
		return errors.New("devo: exporter not started")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.stopCtx, cancel)()
	p, firstErr := e.route(ld)
	e.graphNames.inspect(&p)
	if p.dropped > 0 {
		e.tel.DevoExporterEventsDropped.Add(ctx, int64(p.dropped))
		e.logger.Error("dropping log records with an unusable Devo tag",
			zap.Int("dropped", p.dropped), zap.Int("in_push", len(p.tags)), zap.Error(firstErr))
	}
	if p.sendable == 0 {
		// Nothing in this push can ever be sent: retrying would only repeat the drop.
		return consumererror.NewPermanent(fmt.Errorf("devo: all %d log records dropped: %w", p.dropped, firstErr))
	}

	var sent counts
	var err error
	if e.cfg.Delivery == DeliveryFast {
		sent, err = e.pushFast(ctx, p)
	} else {
		sent, err = e.pushConfirmed(ctx, p)
	}
	if sent.records > 0 {
		e.tel.DevoExporterEventsSent.Add(ctx, int64(sent.records))
		e.tel.DevoExporterBytesSent.Add(ctx, sent.bytes)
		e.tel.DevoExporterEventsTruncated.Add(ctx, int64(sent.truncated))
	}
	if err == nil {
		if e.cfg.Delivery == DeliveryFast {
			e.health.delivered()
		}
		return nil
	}
	e.tel.DevoExporterPushFailures.Add(ctx, 1)
	// A push timing out counts (Devo stalls); one cancelled by shutdown does not.
	if sent.records == 0 && !errors.Is(ctx.Err(), context.Canceled) {
		e.health.failed(err)
	}
	if sent.records == 0 && p.dropped == 0 {
		return err // the whole request is retried as it is, no copy needed
	}
	// Hand back only what still needs sending: records neither dropped nor already sent. Sent
	// records come first in iteration order, so they are the first sent.records sendable ones.
	skip := sent.records
	return consumererror.NewLogs(err, subset(ld, func(i int) bool {
		if p.tags[i] == "" {
			return false
		}
		if skip > 0 {
			skip--
			return false
		}
		return true
	}))
}

// route resolves every record's tag; the first routing error explains the drops.
func (e *devoExporter) route(ld plog.Logs) (plan, error) {
	n := ld.LogRecordCount()
	p := plan{recs: make([]plog.LogRecord, 0, n), tags: make([]string, 0, n)}
	var firstErr error
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				tag, err := e.router.tag(res, lrs.At(k))
				if err != nil {
					p.dropped++
					if firstErr == nil {
						firstErr = err
					}
					tag = ""
				} else {
					p.sendable++
				}
				p.recs = append(p.recs, lrs.At(k))
				p.tags = append(p.tags, tag)
			}
		}
	}
	return p, firstErr
}

// pushConfirmed sends the push in segments, each on a fresh connection and reported done only
// once the server confirmed it read everything (see conn.confirm): a failure costs at most the
// segment in flight, which is sent again at once, smaller, up to segmentRetries times. It
// returns what was confirmed; pushLogs hands the rest back to exporterhelper, which retries only
// that. A connection that cannot even be opened ends the push at once: Devo is down, and
// exporterhelper's back-off is the right pace to try again.
func (e *devoExporter) pushConfirmed(ctx context.Context, p plan) (counts, error) {
	var done counts
	from, retries := 0, 0
	for from < len(p.tags) {
		to := p.segmentEnd(from, e.seg.size())
		c, err := e.pool.dial(ctx)
		if err != nil {
			return done, err
		}
		w, err := e.writeRange(ctx, c, p, from, to)
		if err == nil {
			err = c.confirm(ctx, e.ioTimeout(ctx))
		}
		if err != nil {
			e.pool.discard(ctx, c, err.Error())
			e.tel.DevoExporterSegmentFailures.Add(ctx, 1)
			// The server may have read any part of what was written: sent again, maybe twice.
			e.tel.DevoExporterEventsUnconfirmed.Add(ctx, int64(w.records))
			e.tel.DevoExporterSegmentSize.Record(ctx, int64(e.seg.failed(p.sendableIn(from, to))))
			retries++
			if retries > e.segRetries || ctx.Err() != nil {
				return done, err
			}
			e.logger.Debug("Devo segment failed; sending it again in a smaller segment", zap.Error(err), zap.Int("next_segment", e.seg.size()))
			continue
		}
		c.close(false) // both sides are already closed
		e.tel.DevoExporterConfirmedPushes.Add(ctx, 1)
		e.tel.DevoExporterSegmentSize.Record(ctx, int64(e.seg.confirmed()))
		e.health.delivered()
		done.records += w.records
		done.truncated += w.truncated
		done.bytes += w.bytes
		from, retries = to, 0
	}
	return done, nil
}

// segmentEnd is the index after the last record of a segment of up to size sendable records
// starting at from.
func (p *plan) segmentEnd(from, size int) int {
	n := 0
	for i := from; i < len(p.tags); i++ {
		if p.tags[i] == "" {
			continue
		}
		if n == size {
			return i
		}
		n++
	}
	return len(p.tags)
}

// sendableIn counts the sendable records in [from, to).
func (p *plan) sendableIn(from, to int) int {
	n := 0
	for _, t := range p.tags[from:to] {
		if t != "" {
			n++
		}
	}
	return n
}

// pushFast writes on a pooled connection and trusts completed writes. If a reused connection
// fails before anything was written it may simply have gone stale, so one fresh connection is
// tried at once instead of waiting for exporterhelper's backoff.
func (e *devoExporter) pushFast(ctx context.Context, p plan) (counts, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := e.pool.get(ctx)
		if err != nil {
			return counts{}, err
		}
		w, err := e.writeRange(ctx, c, p, 0, len(p.tags))
		if err == nil {
			e.pool.put(c)
			return w, nil
		}
		e.pool.discard(ctx, c, err.Error())
		if w.records > 0 || !reused || attempt > 0 || ctx.Err() != nil {
			return w, err
		}
	}
}

// writeRange frames and writes the sendable records among p.recs[from:to]; it returns what
// completed writes carried.
func (e *devoExporter) writeRange(ctx context.Context, c *conn, p plan, from, to int) (counts, error) {
	// A cancelled push must not stay blocked in a write until the deadline.
	stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()

	w := e.getWriter(ctx, c)
	defer e.putWriter(w)
	now := e.now()
	for i := from; i < to; i++ {
		tag := p.tags[i]
		if tag == "" {
			continue
		}
		if err := w.add(e.framer, tag, p.recs[i], now); err != nil {
			return w.written, err
		}
	}
	err := w.flush()
	return w.written, err
}

// ioTimeout bounds one blocking network step: `timeout`, or less if the push's deadline is nearer.
func (e *devoExporter) ioTimeout(ctx context.Context) time.Duration {
	t := e.cfg.TimeoutConfig.Timeout
	if d, ok := ctx.Deadline(); ok {
		t = min(t, time.Until(d))
	}
	return max(t, 0)
}

func (e *devoExporter) getWriter(ctx context.Context, c *conn) *chunkWriter {
	w, _ := e.bufs.Get().(*chunkWriter)
	if w == nil {
		w = &chunkWriter{buf: make([]byte, 0, chunkSize+4096)}
	}
	w.c, w.ctx, w.timeout = c, ctx, e.cfg.TimeoutConfig.Timeout
	if e.cfg.Compression == CompressionGzip {
		gz, _ := e.gzips.Get().(*gzip.Writer)
		if gz == nil {
			gz = gzip.NewWriter(w)
		}
		resetGzip(gz, w)
		w.gz = gz
	}
	return w
}

func (e *devoExporter) putWriter(w *chunkWriter) {
	if w.gz != nil {
		e.gzips.Put(w.gz)
	}
	// Keep memory bounded: a buffer grown by a huge event is not kept for every later push.
	if cap(w.buf) > 4*chunkSize || cap(w.frame) > 4*chunkSize {
		return
	}
	*w = chunkWriter{buf: w.buf[:0], frame: w.frame[:0]}
	e.bufs.Put(w)
}

// subset copies the records for which keep(i) is true (i counts records in iteration order),
// keeping their resource and scope.
func subset(ld plog.Logs, keep func(i int) bool) plog.Logs {
	out := plog.NewLogs()
	idx := 0
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		var outRL plog.ResourceLogs
		haveRL := false
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			var outSL plog.ScopeLogs
			haveSL := false
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				if keep(idx) {
					if !haveRL {
						outRL = out.ResourceLogs().AppendEmpty()
						rl.Resource().CopyTo(outRL.Resource())
						outRL.SetSchemaUrl(rl.SchemaUrl())
						haveRL = true
					}
					if !haveSL {
						outSL = outRL.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(outSL.Scope())
						outSL.SetSchemaUrl(sl.SchemaUrl())
						haveSL = true
					}
					lrs.At(k).CopyTo(outSL.LogRecords().AppendEmpty())
				}
				idx++
			}
		}
	}
	return out
}

// loadTLS builds the client TLS configuration. Each certificate file is read first so that an
// unreadable one fails start-up with its key named; no PEM content ever reaches an error.
func loadTLS(ctx context.Context, cfg *Config, logger *zap.Logger) (*tls.Config, error) {
	if cfg.TLS.Insecure {
		logger.Warn("`tls.insecure` is true: sending plain TCP; only an on-prem Devo relay accepts that")
		return nil, nil
	}
	for _, f := range []struct{ key, path string }{
		{"tls.ca_file", cfg.TLS.CAFile}, {"tls.cert_file", cfg.TLS.CertFile}, {"tls.key_file", cfg.TLS.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return nil, fmt.Errorf("`%s` cannot be read: %w (point it at the file Devo issued under Administration > Credentials > X.509 Certificates)", f.key, err)
		}
	}
	tlsCfg, err := cfg.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("`tls`: cannot load the certificates: %w", err)
	}
	if cfg.TLS.InsecureSkipVerify {
		// Warned like the receiver's same key: the connection is encrypted but not
		// authenticated, so whoever sits on the path receives the rows (and the client
		// certificate proves nothing to a server nobody checked).
		logger.Warn("`tls.insecure_skip_verify` is true: Devo's server certificate is not checked, so anyone on the path can receive and alter the rows; " +
			"remove it, or trust a private CA with `tls.ca_file`")
	}
	if cfg.TLS.CertFile == "" && cfg.TLS.CertPem == "" {
		logger.Warn("no client certificate configured (`tls.cert_file`/`tls.key_file`): Devo's cloud endpoints require one")
	}
	if tlsCfg.ServerName == "" { // `server_name_override` unset: SNI and verification use the endpoint host
		host, _, _ := net.SplitHostPort(cfg.Endpoint)
		tlsCfg.ServerName = host
	}
	if tlsCfg.MinVersion < tls.VersionTLS12 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	// `confirmed` delivery opens a connection per push; resumption saves most of each handshake.
	tlsCfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	return tlsCfg, nil
}
