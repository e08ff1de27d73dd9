package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
)

// The opt-in message trace details run in internal/details; this file is the receiver's side
// of them: what the poll path calls (detailsQueue), and the Microsoft client, the budgets and
// the record builder as the details package sees them (detailsWiring). Nothing in the details
// package calls back into the poll path.

// detailsQueue is what the poll path sees of details: rows queued once the pipeline accepted
// them, and a turn at the end of a poll. noDetails stands in while details are off.
type detailsQueue interface {
	queue(ctx context.Context, rows []traceRecord)
	turn(ctx context.Context)
}

type noDetails struct{}

func (noDetails) queue(context.Context, []traceRecord) {}
func (noDetails) turn(context.Context)                 {}

// detailsWiring connects a details.Runner to the receiver: it is the runner's Client (the
// details' share and the receiver's budget, the API client) and Sink (records to the pipeline).
type detailsWiring struct {
	run     *details.Runner
	share   *requestBudget // the details' own window: max_requests_per_window per interval
	client  *apiClient
	builder *recordBuilder
	tag     string
	consume func(ctx context.Context, ld plog.Logs, n int) error
	now     func() time.Time
}

// queue hands the runner the delivered rows it wants, filtered here so that a page of rows of
// other statuses costs no rows built only to be dropped.
func (w *detailsWiring) queue(ctx context.Context, rows []traceRecord) {
	var queued []details.Row
	for i := range rows {
		row := rows[i].row
		if row.ParseError != "" {
			continue // its status is not known for sure; the raw row is delivered for a person
		}
		if !w.run.Wants(rows[i].status) {
			continue
		}
		queued = append(queued, details.Row{TraceID: row.ID, Recipient: row.Recipient, MessageID: row.MessageID, Status: rows[i].status, Received: row.Received})
	}
	w.run.Queue(ctx, queued)
}

func (w *detailsWiring) turn(ctx context.Context) { w.run.Turn(ctx) }

// TryRequest takes one request from both the details share and the receiver's budget, without
// waiting for either: a details request only ever uses what is free now.
func (w *detailsWiring) TryRequest() (func(), bool) {
	list := w.client.budget
	if w.share.full() || list.full() {
		return nil, false
	}
	_, shareSlot := w.share.tryAcquire()
	_, listSlot := list.tryAcquire()
	return func() { w.share.finish(shareSlot); list.finish(listSlot) }, true
}

// detailEvents are one details answer's events (details.Records).
type detailEvents []detailEvent

func (e detailEvents) Len() int { return len(e) }

func (w *detailsWiring) Fetch(ctx context.Context, p *details.Row) (details.Records, error) {
	events, err := w.client.fetchDetails(ctx, p)
	switch {
	case errors.Is(err, errDetailsThrottled):
		err = detailsOutcome{err: err, is: details.ErrThrottled}
	case errors.Is(err, errDetailsRefused):
		err = detailsOutcome{err: err, is: details.ErrRefused}
	}
	return detailEvents(events), err
}

func (w *detailsWiring) Consume(ctx context.Context, p *details.Row, records details.Records) error {
	events := records.(detailEvents)
	return w.consume(ctx, w.builder.buildDetails(p, events, w.now(), w.tag), len(events))
}

// detailsOutcome is the client's error, with its message, that also answers errors.Is for the
// details package's outcome.
type detailsOutcome struct{ err, is error }

func (e detailsOutcome) Error() string   { return e.err.Error() }
func (e detailsOutcome) Unwrap() []error { return []error{e.err, e.is} }
