// Package details fetches the message trace details of delivered rows of chosen statuses: rows
// wait in a bounded set (Set) stored with the receiver's checkpoint, and a Runner takes a turn
// at the end of a poll with only the requests free at that moment. It knows the Microsoft
// client, the budgets and the log records only through Client and Sink, and the storage not at
// all: the receiver stores the set (its stored form is the receiver's persisted.go).
package details // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

// Outcomes of one details request that the client reports (errors.Is).
var (
	// ErrThrottled: the server said 429; everything pauses, the row stays pending.
	ErrThrottled = errors.New("details request throttled")
	// ErrRefused: the answer will not change (400, 403, 404): retrying wastes quota.
	ErrRefused = errors.New("details request refused")
)

// Client is what details need of the Microsoft client.
type Client interface {
	// TryRequest takes one request of both the details' share and the receiver's budget if
	// both have one free now, without waiting: a details request only ever uses what is free.
	TryRequest() (release func(), ok bool)
	// Fetch sends one details request that already holds its budget slots. It never retries
	// by itself: a failed row is tried again at a later turn, up to max_attempts.
	Fetch(ctx context.Context, p *Row) (Records, error)
}

// Records are what one details answer holds, built into log records by the Sink.
type Records interface{ Len() int }

// Sink hands a row's detail records to the pipeline.
type Sink interface {
	Consume(ctx context.Context, p *Row, records Records) error
}

// Config is what the runner needs of the details block.
type Config struct {
	Wants       func(status string) bool // details.statuses
	MaxPerPoll  int
	MaxAttempts int
	MaxWait     time.Duration
}

// Settings are the runner's parts.
type Settings struct {
	Config    Config
	Pending   *Set // loaded from storage by the receiver, stored with its checkpoint
	Client    Client
	Sink      Sink
	Save      func(ctx context.Context) // stores the state after the pending set changed
	Now       func() time.Time
	Logger    *zap.Logger
	Telemetry *metadata.TelemetryBuilder
}

// Runner fetches the details of rows with chosen statuses. Rows wait in a pending set stored
// with the checkpoint; details are fetched at the end of a poll, once the list has caught up,
// and only with requests the list's budget has free at that moment and that fit the details'
// own share: the list never waits for a details request, and details never take the receiver
// over request_budget (so never the tenant over its quota).
type Runner struct {
	cfg       Config
	pending   *Set
	client    Client
	sink      Sink
	save      func(ctx context.Context)
	now       func() time.Time
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
}

func New(s Settings) *Runner {
	return &Runner{
		cfg: s.Config, pending: s.Pending, client: s.Client, sink: s.Sink, save: s.Save, now: s.Now,
		logger: s.Logger, telemetry: s.Telemetry,
	}
}

// Wants says whether rows of the status are queued for details (details.statuses).
func (d *Runner) Wants(status string) bool { return d.cfg.Wants(status) }

// Pending is the set of rows waiting for details.
func (d *Runner) Pending() *Set { return d.pending }

// Reasons of receiver_message_trace_details_not_fetched.
const (
	ReasonExpired  = "expired"  // waited longer than max_wait
	ReasonFailed   = "failed"   // max_attempts requests failed
	ReasonRefused  = "refused"  // 400/403/404: the API will not answer for this row
	ReasonOverflow = "overflow" // the pending set was full
	ReasonInvalid  = "invalid"  // the row's id or recipient cannot be asked about
	ReasonRejected = "rejected" // the pipeline refused the detail records permanently
)

// Queue adds delivered rows to the pending set (after the pipeline accepted them; stored by
// the save that follows). The caller gives only rows of statuses the runner Wants, filtered
// before it builds them, and no row whose status is not known for sure (unparsed).
func (d *Runner) Queue(ctx context.Context, rows []Row) {
	now := d.now()
	var overflow, invalid []Row
	for _, p := range rows {
		p.Added = now
		if p.check() != "" {
			invalid = append(invalid, p)
			continue
		}
		if _, full := d.pending.add(p); full {
			overflow = append(overflow, p)
		}
	}
	d.NotFetched(ctx, ReasonOverflow, overflow, "the set of rows waiting for details is full (details.max_pending, details.max_pending_bytes); raise the share or the bounds")
	d.NotFetched(ctx, ReasonInvalid, invalid, "rows with an id or recipient that cannot be asked about")
	d.telemetry.ReceiverMessageTraceDetailsPending.Record(ctx, int64(len(d.pending.entries)))
}

// NotFetched counts rows given up on and logs one line for them all.
func (d *Runner) NotFetched(ctx context.Context, reason string, rows []Row, why string) {
	if len(rows) == 0 {
		return
	}
	d.telemetry.ReceiverMessageTraceDetailsNotFetched.Add(ctx, int64(len(rows)), metric.WithAttributes(attribute.String("reason", reason)))
	d.logger.Warn("message trace details not fetched: "+why, zap.String("reason", reason), zap.Int("rows", len(rows)),
		zap.String("first_trace_id", quote.Value(rows[0].TraceID)), zap.String("first_recipient", quote.Value(rows[0].Recipient)))
}

// Turn fetches details for the oldest pending rows (at the end of a poll), at most
// max_per_poll, while both budgets have a free request. Each fetched row's records are
// delivered, then the row leaves the pending set in the storage write that follows.
func (d *Runner) Turn(ctx context.Context) {
	defer func() { d.telemetry.ReceiverMessageTraceDetailsPending.Record(ctx, int64(len(d.pending.entries))) }()
	d.expire(ctx)
	queue := append([]Row(nil), d.pending.entries...)
	fetched := 0
	for i := 0; i < len(queue) && fetched < d.cfg.MaxPerPoll && ctx.Err() == nil; i++ {
		p := &queue[i]
		finished, ok := d.client.TryRequest()
		if !ok {
			return
		}
		records, err := d.client.Fetch(ctx, p)
		finished()
		fetched++
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrThrottled):
			d.logger.Info("Microsoft throttled a details request; all requests pause and the row stays pending")
			return
		case errors.Is(err, ErrRefused):
			d.pending.remove(p.Key())
			d.NotFetched(ctx, ReasonRefused, []Row{*p}, "the API refused the details request: "+err.Error())
			d.save(ctx)
			continue
		case err != nil:
			d.failed(ctx, p, err)
			continue
		}
		if !d.deliver(ctx, p, records) {
			return
		}
		d.pending.remove(p.Key())
		d.save(ctx)
	}
}

// failed counts a failed request on the row and gives up after max_attempts.
func (d *Runner) failed(ctx context.Context, p *Row, err error) {
	for i := range d.pending.entries {
		e := &d.pending.entries[i]
		if !e.is(p.Key()) {
			continue
		}
		e.Attempts++
		d.pending.dirty = true
		if e.Attempts >= d.cfg.MaxAttempts {
			gone := *e
			d.pending.remove(p.Key())
			d.NotFetched(ctx, ReasonFailed, []Row{gone}, "details requests failed details.max_attempts times: "+err.Error())
		} else {
			d.logger.Warn("details request failed; the row stays pending", zap.Error(err), zap.Int("attempt", e.Attempts), zap.String("trace_id", quote.Value(p.TraceID)))
		}
		break
	}
	d.save(ctx)
}

// expire gives up on rows that waited longer than max_wait.
func (d *Runner) expire(ctx context.Context) {
	limit := d.now().Add(-d.cfg.MaxWait)
	var expired []Row
	for _, p := range d.pending.entries {
		if p.Added.Before(limit) {
			expired = append(expired, p)
		}
	}
	if len(expired) == 0 {
		return
	}
	for _, p := range expired {
		d.pending.remove(p.Key())
	}
	d.NotFetched(ctx, ReasonExpired, expired, "rows waited longer than details.max_wait; raise details.max_requests_per_window or narrow details.statuses")
	d.save(ctx)
}

// deliver hands a row's detail records to the pipeline. It reports false when the pipeline
// refused them for now: the row stays pending and is fetched again later.
func (d *Runner) deliver(ctx context.Context, p *Row, records Records) bool {
	if n := records.Len(); n > 0 {
		err := d.sink.Consume(ctx, p, records)
		switch {
		case err == nil:
			d.telemetry.ReceiverMessageTraceDetails.Add(ctx, int64(n))
		case consumererror.IsPermanent(err):
			d.NotFetched(ctx, ReasonRejected, []Row{*p}, "the pipeline refused detail records permanently: "+err.Error())
			return true
		default:
			d.logger.Warn("the pipeline refused detail records; the row stays pending", zap.Error(err))
			return false
		}
	}
	d.telemetry.ReceiverMessageTraceDetailsFetched.Add(ctx, 1)
	return true
}
