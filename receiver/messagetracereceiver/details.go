package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

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

// prepareDetails loads the pending set (hook in prepare). A fresh checkpoint (reset, other
// tenant) starts with an empty set, since the rows will be read and queued again.
func (r *messageTraceReceiver) prepareDetails(ctx context.Context, fresh bool) {
	if !r.cfg.Details.Enabled {
		return
	}
	d := r.cfg.Details
	pending, dropped, err := loadPendingDetails(ctx, r.storage, d.MaxPending, d.MaxPendingBytes)
	if err != nil {
		r.set.Logger.Warn("ignoring the stored rows waiting for details; their details will not be fetched", zap.Error(err))
	}
	if len(dropped) > 0 {
		r.notFetched(ctx, notFetchedInvalid, dropped, "stored rows waiting for details failed their checks or exceed the bounds")
	}
	if fresh {
		pending.clear()
	}
	r.state.pending = pending
	r.details = &detailsRunner{cfg: d, pending: pending, share: newRequestBudget(d.MaxRequestsPerWindow, r.cfg.RequestBudget.Interval, r.now)}
	// Opt-in and costly (one request of the tenant's shared quota per row), so said at start.
	r.set.Logger.Warn("details enrichment is on: every row of the chosen statuses costs one request of the tenant's quota, "+
		"shared with the list, other tools and people",
		zap.Strings("statuses", d.Statuses), zap.Int("max_requests_per_window", d.MaxRequestsPerWindow),
		zap.Duration("window", r.cfg.RequestBudget.Interval), zap.Int("pending", len(pending.entries)))
}

// queueDetails adds delivered rows of the chosen statuses to the pending set (hook in deliver,
// after the pipeline accepted them; stored by the save that follows).
func (r *messageTraceReceiver) queueDetails(ctx context.Context, rows []traceRecord) {
	if r.details == nil {
		return
	}
	now := r.now()
	var overflow, invalid []pendingDetail
	for i := range rows {
		row, status := rows[i].row, rows[i].status
		if row.ParseError != "" {
			continue // its status is not known for sure; the raw row is delivered for a person
		}
		if !r.details.cfg.wants(status) {
			continue
		}
		p := pendingDetail{TraceID: row.ID, Recipient: row.Recipient, MessageID: row.MessageID, Status: status, Received: row.Received, Added: now}
		if p.check() != "" {
			invalid = append(invalid, p)
			continue
		}
		if _, full := r.details.pending.add(p); full {
			overflow = append(overflow, p)
		}
	}
	r.notFetched(ctx, notFetchedOverflow, overflow, "the set of rows waiting for details is full (details.max_pending, details.max_pending_bytes); raise the share or the bounds")
	r.notFetched(ctx, notFetchedInvalid, invalid, "rows with an id or recipient that cannot be asked about")
	r.telemetry.ReceiverMessageTraceDetailsPending.Record(ctx, int64(len(r.details.pending.entries)))
}

// notFetched counts rows given up on and logs one line for them all.
func (r *messageTraceReceiver) notFetched(ctx context.Context, reason string, rows []pendingDetail, why string) {
	if len(rows) == 0 {
		return
	}
	r.telemetry.ReceiverMessageTraceDetailsNotFetched.Add(ctx, int64(len(rows)), metric.WithAttributes(attribute.String("reason", reason)))
	r.set.Logger.Warn("message trace details not fetched: "+why, zap.String("reason", reason), zap.Int("rows", len(rows)),
		zap.String("first_trace_id", quote.Value(rows[0].TraceID)), zap.String("first_recipient", quote.Value(rows[0].Recipient)))
}

// slot takes one request from both the details share and the receiver's budget, without
// waiting for either: a details request only ever uses what is free now.
func (d *detailsRunner) slot(list *requestBudget) (func(), bool) {
	if d.share.full() || list.full() {
		return nil, false
	}
	_, shareSlot := d.share.tryAcquire()
	_, listSlot := list.tryAcquire()
	return func() { d.share.finish(shareSlot); list.finish(listSlot) }, true
}

// full says whether a request would have to wait now.
func (b *requestBudget) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Before(b.blockedUntil) {
		return true
	}
	return len(b.sent) == b.max && !b.sent[b.head].Add(b.interval).Add(time.Millisecond).Before(now)
}

// detailsTurn fetches details for the oldest pending rows (hook at the end of a poll), at most
// max_per_poll, while both budgets have a free request. Each fetched row's records are
// delivered, then the row leaves the pending set in the storage write that follows.
func (r *messageTraceReceiver) detailsTurn(ctx context.Context) {
	d := r.details
	if d == nil {
		return
	}
	defer func() { r.telemetry.ReceiverMessageTraceDetailsPending.Record(ctx, int64(len(d.pending.entries))) }()
	r.expireDetails(ctx)
	queue := append([]pendingDetail(nil), d.pending.entries...)
	fetched := 0
	for i := 0; i < len(queue) && fetched < d.cfg.MaxPerPoll && ctx.Err() == nil; i++ {
		p := &queue[i]
		finished, ok := d.slot(r.client.budget)
		if !ok {
			return
		}
		events, err := r.client.fetchDetails(ctx, p)
		finished()
		fetched++
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errDetailsThrottled):
			r.set.Logger.Info("Microsoft throttled a details request; all requests pause and the row stays pending")
			return
		case errors.Is(err, errDetailsRefused):
			d.pending.remove(p.key())
			r.notFetched(ctx, notFetchedRefused, []pendingDetail{*p}, "the API refused the details request: "+err.Error())
			r.save(ctx)
			continue
		case err != nil:
			r.detailFailed(ctx, p, err)
			continue
		}
		if !r.deliverDetails(ctx, p, events) {
			return
		}
		d.pending.remove(p.key())
		r.save(ctx)
	}
}

// detailFailed counts a failed request on the row and gives up after max_attempts.
func (r *messageTraceReceiver) detailFailed(ctx context.Context, p *pendingDetail, err error) {
	d := r.details
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
			r.notFetched(ctx, notFetchedFailed, []pendingDetail{gone}, "details requests failed details.max_attempts times: "+err.Error())
		} else {
			r.set.Logger.Warn("details request failed; the row stays pending", zap.Error(err), zap.Int("attempt", e.Attempts), zap.String("trace_id", quote.Value(p.TraceID)))
		}
		break
	}
	r.save(ctx)
}

// expireDetails gives up on rows that waited longer than max_wait.
func (r *messageTraceReceiver) expireDetails(ctx context.Context) {
	d := r.details
	limit := r.now().Add(-d.cfg.MaxWait)
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
	r.notFetched(ctx, notFetchedExpired, expired, "rows waited longer than details.max_wait; raise details.max_requests_per_window or narrow details.statuses")
	r.save(ctx)
}

// deliverDetails hands a row's detail records to the pipeline. It reports false when the
// pipeline refused them for now: the row stays pending and is fetched again later.
func (r *messageTraceReceiver) deliverDetails(ctx context.Context, p *pendingDetail, events []detailEvent) bool {
	if len(events) > 0 {
		ld := r.builder.buildDetails(p, events, r.now(), r.details.cfg.Tag)
		opCtx := r.obs.StartLogsOp(ctx)
		err := r.next.ConsumeLogs(opCtx, ld)
		r.obs.EndLogsOp(opCtx, "json", len(events), err)
		switch {
		case err == nil:
			r.telemetry.ReceiverMessageTraceDetails.Add(ctx, int64(len(events)))
		case consumererror.IsPermanent(err):
			r.notFetched(ctx, notFetchedRejected, []pendingDetail{*p}, "the pipeline refused detail records permanently: "+err.Error())
			return true
		default:
			r.set.Logger.Warn("the pipeline refused detail records; the row stays pending", zap.Error(err))
			return false
		}
	}
	r.telemetry.ReceiverMessageTraceDetailsFetched.Add(ctx, 1)
	return true
}
