package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

// detailsRunner fetches the details of rows with chosen statuses. Rows wait in a pending set
// stored with the checkpoint; details are fetched at the end of a poll, once the list has
// caught up, and only with requests the list's budget has free at that moment and that fit the
// details' own share: the list never waits for a details request, and details never take the
// receiver over request_budget (so never the tenant over its quota).
type detailsRunner struct {
	cfg     DetailsConfig
	pending *pendingDetails
	share   *requestBudget // the details' own window: max_requests_per_window per interval
	client  detailsClient

	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	builder   *recordBuilder
	// consume hands records to the pipeline (the receiver's consume, which deliver uses too).
	consume func(ctx context.Context, ld plog.Logs, n int) error
	// save stores the state after the pending set changed.
	save func(ctx context.Context)
	now  func() time.Time
}

// detailsQueue is what the poll path sees of details: rows queued once the pipeline accepted
// them, and a turn at the end of a poll. noDetails stands in while details are off.
type detailsQueue interface {
	queue(ctx context.Context, rows []traceRecord)
	turn(ctx context.Context)
}

type noDetails struct{}

func (noDetails) queue(context.Context, []traceRecord) {}
func (noDetails) turn(context.Context)                 {}

// detailsClient is what details need of the Microsoft client (details_adapter.go).
type detailsClient interface {
	// tryRequest takes a request of the receiver's budget if one is free now, without waiting.
	tryRequest() (release func(), ok bool)
	// fetchDetails sends one details request that already holds its budget slots. It never
	// retries by itself: a failed row is tried again at a later turn, up to max_attempts.
	fetchDetails(ctx context.Context, p *pendingDetail) ([]detailEvent, error)
}

// Reasons of receiver_message_trace_details_not_fetched.
const (
	notFetchedExpired  = "expired"  // waited longer than max_wait
	notFetchedFailed   = "failed"   // max_attempts requests failed
	notFetchedRefused  = "refused"  // 400/403/404: the API will not answer for this row
	notFetchedOverflow = "overflow" // the pending set was full
	notFetchedInvalid  = "invalid"  // the row's id or recipient cannot be asked about
	notFetchedRejected = "rejected" // the pipeline refused the detail records permanently
)

// queue adds delivered rows of the chosen statuses to the pending set (in deliver, after the
// pipeline accepted them; stored by the save that follows).
func (d *detailsRunner) queue(ctx context.Context, rows []traceRecord) {
	now := d.now()
	var overflow, invalid []pendingDetail
	for i := range rows {
		row, status := rows[i].row, rows[i].status
		if row.ParseError != "" {
			continue // its status is not known for sure; the raw row is delivered for a person
		}
		if !d.cfg.wants(status) {
			continue
		}
		p := pendingDetail{TraceID: row.ID, Recipient: row.Recipient, MessageID: row.MessageID, Status: status, Received: row.Received, Added: now}
		if p.check() != "" {
			invalid = append(invalid, p)
			continue
		}
		if _, full := d.pending.add(p); full {
			overflow = append(overflow, p)
		}
	}
	d.notFetched(ctx, notFetchedOverflow, overflow, "the set of rows waiting for details is full (details.max_pending, details.max_pending_bytes); raise the share or the bounds")
	d.notFetched(ctx, notFetchedInvalid, invalid, "rows with an id or recipient that cannot be asked about")
	d.telemetry.ReceiverMessageTraceDetailsPending.Record(ctx, int64(len(d.pending.entries)))
}

// notFetched counts rows given up on and logs one line for them all.
func (d *detailsRunner) notFetched(ctx context.Context, reason string, rows []pendingDetail, why string) {
	if len(rows) == 0 {
		return
	}
	d.telemetry.ReceiverMessageTraceDetailsNotFetched.Add(ctx, int64(len(rows)), metric.WithAttributes(attribute.String("reason", reason)))
	d.logger.Warn("message trace details not fetched: "+why, zap.String("reason", reason), zap.Int("rows", len(rows)),
		zap.String("first_trace_id", quote.Value(rows[0].TraceID)), zap.String("first_recipient", quote.Value(rows[0].Recipient)))
}

// slot takes one request from both the details share and the receiver's budget, without
// waiting for either: a details request only ever uses what is free now.
func (d *detailsRunner) slot() (func(), bool) {
	if d.share.full() {
		return nil, false
	}
	releaseList, ok := d.client.tryRequest()
	if !ok {
		return nil, false
	}
	_, shareSlot := d.share.tryAcquire()
	return func() { d.share.finish(shareSlot); releaseList() }, true
}

// turn fetches details for the oldest pending rows (at the end of a poll), at most
// max_per_poll, while both budgets have a free request. Each fetched row's records are
// delivered, then the row leaves the pending set in the storage write that follows.
func (d *detailsRunner) turn(ctx context.Context) {
	defer func() { d.telemetry.ReceiverMessageTraceDetailsPending.Record(ctx, int64(len(d.pending.entries))) }()
	d.expire(ctx)
	queue := append([]pendingDetail(nil), d.pending.entries...)
	fetched := 0
	for i := 0; i < len(queue) && fetched < d.cfg.MaxPerPoll && ctx.Err() == nil; i++ {
		p := &queue[i]
		finished, ok := d.slot()
		if !ok {
			return
		}
		events, err := d.client.fetchDetails(ctx, p)
		finished()
		fetched++
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errDetailsThrottled):
			d.logger.Info("Microsoft throttled a details request; all requests pause and the row stays pending")
			return
		case errors.Is(err, errDetailsRefused):
			d.pending.remove(p.key())
			d.notFetched(ctx, notFetchedRefused, []pendingDetail{*p}, "the API refused the details request: "+err.Error())
			d.save(ctx)
			continue
		case err != nil:
			d.failed(ctx, p, err)
			continue
		}
		if !d.deliver(ctx, p, events) {
			return
		}
		d.pending.remove(p.key())
		d.save(ctx)
	}
}

// failed counts a failed request on the row and gives up after max_attempts.
func (d *detailsRunner) failed(ctx context.Context, p *pendingDetail, err error) {
	for i := range d.pending.entries {
		e := &d.pending.entries[i]
		if !e.is(p.key()) {
			continue
		}
		e.Attempts++
		d.pending.dirty = true
		if e.Attempts >= d.cfg.MaxAttempts {
			gone := *e
			d.pending.remove(p.key())
			d.notFetched(ctx, notFetchedFailed, []pendingDetail{gone}, "details requests failed details.max_attempts times: "+err.Error())
		} else {
			d.logger.Warn("details request failed; the row stays pending", zap.Error(err), zap.Int("attempt", e.Attempts), zap.String("trace_id", quote.Value(p.TraceID)))
		}
		break
	}
	d.save(ctx)
}

// expire gives up on rows that waited longer than max_wait.
func (d *detailsRunner) expire(ctx context.Context) {
	limit := d.now().Add(-d.cfg.MaxWait)
	var expired []pendingDetail
	for _, p := range d.pending.entries {
		if p.Added.Before(limit) {
			expired = append(expired, p)
		}
	}
	if len(expired) == 0 {
		return
	}
	for _, p := range expired {
		d.pending.remove(p.key())
	}
	d.notFetched(ctx, notFetchedExpired, expired, "rows waited longer than details.max_wait; raise details.max_requests_per_window or narrow details.statuses")
	d.save(ctx)
}

// deliver hands a row's detail records to the pipeline. It reports false when the pipeline
// refused them for now: the row stays pending and is fetched again later.
func (d *detailsRunner) deliver(ctx context.Context, p *pendingDetail, events []detailEvent) bool {
	if len(events) > 0 {
		err := d.consume(ctx, d.builder.buildDetails(p, events, d.now(), d.cfg.Tag), len(events))
		switch {
		case err == nil:
			d.telemetry.ReceiverMessageTraceDetails.Add(ctx, int64(len(events)))
		case consumererror.IsPermanent(err):
			d.notFetched(ctx, notFetchedRejected, []pendingDetail{*p}, "the pipeline refused detail records permanently: "+err.Error())
			return true
		default:
			d.logger.Warn("the pipeline refused detail records; the row stays pending", zap.Error(err))
			return false
		}
	}
	d.telemetry.ReceiverMessageTraceDetailsFetched.Add(ctx, 1)
	return true
}
