package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// maxRequeries bounds how often one range is queried afresh after refused or repeating
// next-links without any row being delivered in between.
const maxRequeries = 3

// maxLoopRequeries bounds how often one walk queries its range afresh because the API repeated
// a page or a next-link, even when each fresh query delivers rows: an API that also breaks its
// order (progress "none") re-reads the whole range each time. The next poll goes on from the
// checkpoint.
const maxLoopRequeries = 50

// maxFollowedLinks bounds the next-links a walk remembers to notice a cycle (A, B, A ...).
const maxFollowedLinks = 1000

// errRepeatingPages ends a walk whose API keeps repeating pages after fresh queries too.
var errRepeatingPages = errors.New("the API keeps repeating pages")

// walk reads one range page by page, delivering each page before storing progress past it.
func (r *messageTraceReceiver) walk(ctx context.Context, p *pass, prog *rangeProgress, observed time.Time) (pages, emitted int, complete bool, err error) {
	w := newRangeWalk(r, p, prog, observed)
	defer func() { r.reportOutOfRange(ctx, p, prog, &w.outside) }()
	// A fetched page holds its share of the collector's page memory until it is delivered.
	defer func() { w.release() }()
	for {
		var done bool
		if done, complete, err = w.step(ctx); done {
			return w.pages, w.emitted, complete, err
		}
	}
}

// rangeWalk is what one walk of a range keeps from page to page.
type rangeWalk struct {
	r        *messageTraceReceiver
	p        *pass
	prog     *rangeProgress
	observed time.Time

	pageURL          string
	isNext           bool
	resumed          bool
	requeries, loops int
	repeats          map[uint64]int // one page's rows by identity (dropRepeats)
	outside          outOfRange
	staleRun         int             // next-link pages in a row whose rows of the range were all delivered
	fresh            bool            // a row was delivered since the last fresh query
	followed         map[string]bool // next-links followed since the last fresh query
	release          func()
	pages, emitted   int
}

func newRangeWalk(r *messageTraceReceiver, p *pass, prog *rangeProgress, observed time.Time) *rangeWalk {
	return &rangeWalk{
		r: r, p: p, prog: prog, observed: observed,
		resumed:  prog.Rows > 0,
		pageURL:  r.client.firstPageURL(prog.queryBounds()),
		repeats:  map[uint64]int{},
		followed: map[string]bool{},
		release:  func() {},
	}
}

// step reads the next page of the range and delivers its new rows. done: the walk ends, with
// err, complete, or paused for the other pass.
func (w *rangeWalk) step(ctx context.Context) (done, complete bool, err error) {
	page, again, err := w.fetch(ctx)
	if err != nil || again {
		return err != nil, false, err
	}
	handled, inRange := w.rowsOf(page)
	handled = w.dropRepeats(handled)
	if w.stale(inRange, handled) {
		// Rows of the range on a next-link's page, all delivered already: the API is
		// repeating itself. Delivering them would send them again, following its link
		// would loop.
		if err = w.looped("a page without new rows"); err != nil {
			return true, false, err
		}
		w.staleRun = 0
		return false, false, nil
	}
	if err = w.deliverPage(ctx, handled); err != nil {
		return true, false, err
	}
	if page.Next == "" {
		return true, true, nil
	}
	if w.p.shares && w.pages >= w.p.planner.pageBudget() && w.prog.Order.exact() {
		// Progress is stored exactly, so the rest is queried afresh on the next turn.
		return true, false, nil
	}
	err = w.nextLink(page.Next)
	return err != nil, false, err
}

// fetch reads the page at pageURL, releasing the page read before. again: Microsoft refused a
// next-link it issued, and the rest of the range is queried afresh instead (within maxRequeries).
func (w *rangeWalk) fetch(ctx context.Context) (*tracepage.Page, bool, error) {
	w.release()
	page, done, err := w.r.client.Fetch(ctx, w.pageURL, w.isNext)
	w.release = done
	if errors.Is(err, errPoisonedLink) && w.requeries < maxRequeries {
		w.requeries++
		w.r.set.Logger.Warn("Microsoft refused a next-link it issued; querying the rest of the range afresh",
			zap.Error(err), zap.Time("from", w.prog.Start), zap.Time("to", w.prog.End), zap.Int("rows_delivered", w.prog.Rows))
		w.requery()
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	w.pages++
	w.r.health.pageRead()
	w.r.telemetry.ReceiverMessageTracePages.Add(ctx, 1)
	return page, false, nil
}

// rowsOf picks, in place, the page's rows of the range that are new to it; inRange counts all
// its rows of the range, new or not.
func (w *rangeWalk) rowsOf(page *tracepage.Page) (handled []tracepage.Row, inRange int) {
	handled = page.Rows[:0]
	for i := range page.Rows {
		row := &page.Rows[i]
		if row.TimeUnknown && (row.Received.IsZero() || w.r.unreachable(row.Received, w.observed)) {
			// An unparsed row on a page without any parsed row, or next to rows dated where
			// no range reaches: it lies somewhere in what was queried, so it is placed at
			// the end of the range.
			row.Received = w.prog.End
		}
		if !w.prog.contains(row) {
			if !w.prog.near(row) && w.r.unreachable(row.Received, w.observed) {
				w.outside.add(row)
			}
			continue
		}
		inRange++
		if !w.resumed || w.prog.wants(row) {
			handled = append(handled, *row)
		}
	}
	return handled, inRange
}

func (w *rangeWalk) dropRepeats(rows []tracepage.Row) []tracepage.Row {
	rows, dropped := dropRepeats(rows, w.repeats)
	if dropped > 0 {
		w.r.set.Logger.Debug("rows repeated on one page are emitted once", zap.String("pass", w.p.name), zap.Int("repeats", dropped))
	}
	return rows
}

// stale counts the next-link pages in a row that hold rows of the range but none new, and
// reports whether there are more of them than staleAllowed.
func (w *rangeWalk) stale(inRange int, handled []tracepage.Row) bool {
	if w.isNext && inRange > 0 && !anyNew(w.prog, handled) {
		w.staleRun++
	} else {
		w.staleRun = 0
	}
	return w.staleRun > w.r.staleAllowed(w.prog, w.resumed && !w.fresh)
}

// deliverPage delivers the page's new rows, then stores the progress past them.
func (w *rangeWalk) deliverPage(ctx context.Context, rows []tracepage.Row) error {
	if len(rows) == 0 {
		return nil
	}
	n, err := w.r.deliver(ctx, w.p, rows, w.observed)
	if err != nil {
		return err
	}
	w.emitted += n
	w.requeries, w.fresh = 0, true
	w.prog.delivered(rows)
	*w.p.cp() = passCheckpoint{Done: w.p.cp().Done, Open: w.prog}
	w.r.disk.save(ctx)
	return nil
}

// nextLink moves on to the page's next-link. A link followed before is caught before it is
// requested: the loop costs no request.
func (w *rangeWalk) nextLink(link string) error {
	next, err := w.r.client.resolveNextLink(w.pageURL, link)
	if err != nil {
		return err
	}
	if next == w.pageURL || w.followed[next] {
		return w.looped("a next-link followed before")
	}
	if len(w.followed) < maxFollowedLinks {
		w.followed[next] = true
	}
	w.pageURL, w.isNext = next, true
	return nil
}

// requery reads the rest of the range with a fresh query narrowed by the progress (after the
// newest or oldest row delivered), within maxRequeries without progress and maxLoopRequeries
// in all.
func (w *rangeWalk) requery() {
	w.resumed, w.isNext = true, false
	w.pageURL = w.r.client.firstPageURL(w.prog.queryBounds())
	clear(w.followed)
	w.staleRun, w.fresh = 0, false
}

// looped queries the range afresh after the API repeated what, or ends the walk past the bounds.
// A repeating API is warned about once per walk: each fresh query may meet the loop again.
func (w *rangeWalk) looped(what string) error {
	w.loops++
	if w.requeries >= maxRequeries || w.loops > maxLoopRequeries {
		return fmt.Errorf("%w (%s) after %d fresh queries of the range %v to %v; the next poll goes on from the checkpoint",
			errRepeatingPages, what, w.loops-1, w.prog.Start, w.prog.End)
	}
	w.requeries++
	fields := []zap.Field{
		zap.String("pass", w.p.name), zap.String("seen", what), zap.Time("from", w.prog.Start), zap.Time("to", w.prog.End),
		zap.Int("rows_delivered", w.prog.Rows), zap.Int("pages", w.pages), zap.Int("fresh_queries", w.loops),
	}
	if w.loops == 1 {
		w.r.set.Logger.Warn("the API repeated a page or a next-link; querying the rest of the range afresh", fields...)
	} else {
		w.r.set.Logger.Debug("the API repeated a page or a next-link again; querying the rest of the range afresh", fields...)
	}
	w.requery()
	return nil
}

// unreachable reports whether no range this receiver reads holds time t: it is in time the
// settled pass has read already (at or before its checkpoint, which is never before the
// oldest time the API serves), or in the future, which no query may ask for. A row dated
// outside its range but elsewhere is left to the range that holds it: emitting it here too
// would send it twice.
func (r *messageTraceReceiver) unreachable(t, observed time.Time) bool {
	return !t.After(r.state.cp.Done) || t.After(observed.Add(maxClockSkew))
}

// outOfRange counts the rows of one walk that were dated where no range reaches.
type outOfRange struct {
	rows    int
	firstID string
	firstAt time.Time
}

func (o *outOfRange) add(row *tracepage.Row) {
	if o.rows == 0 {
		o.firstID, o.firstAt = row.ID, row.Received
	}
	o.rows++
}

// reportOutOfRange logs and counts the rows a walk skipped as dated where no range reaches:
// one line per range walk, not per row (a hostile page could hold thousands).
func (r *messageTraceReceiver) reportOutOfRange(ctx context.Context, p *pass, prog *rangeProgress, o *outOfRange) {
	if o.rows == 0 {
		return
	}
	r.telemetry.ReceiverMessageTraceOutOfRangeRows.Add(ctx, int64(o.rows), metric.WithAttributes(attribute.String("pass", p.name)))
	r.set.Logger.Warn("Microsoft listed rows dated outside the range queried, in time this receiver has read already or in the future; skipped them",
		zap.String("pass", p.name), zap.Int("rows", o.rows), zap.Time("from", prog.Start), zap.Time("to", prog.End),
		zap.String("first_row_id", o.firstID), zap.String("first_received", o.firstAt.UTC().Format(time.RFC3339Nano)))
}

// dropRepeats removes the rows of a page that repeat an earlier row of it: the same trace id
// and recipient, the address compared case-insensitively, as the early and settled passes
// compare rows (rowHash). The API lists each row once; a page listing one twice, or once in
// another case, would otherwise emit it twice. byHash holds one page's rows, so its size is
// bounded by the page size (classify.go refuses a page with more rows than asked for); a hash
// match is confirmed on the fields, so a collision never drops a row.
func dropRepeats(rows []tracepage.Row, byHash map[uint64]int) ([]tracepage.Row, int) {
	if len(rows) < 2 {
		return rows, 0
	}
	clear(byHash)
	kept := rows[:0]
	for i := range rows {
		h := rowHash(&rows[i])
		if j, ok := byHash[h]; ok && kept[j].ID == rows[i].ID && strings.EqualFold(kept[j].Recipient, rows[i].Recipient) {
			continue
		}
		byHash[h] = len(kept)
		kept = append(kept, rows[i])
	}
	return kept, len(rows) - len(kept)
}

// staleAllowed is how many next-link pages in a row may bring only rows delivered already. In
// an uninterrupted walk none may: the API sends each row once. A fresh query (after a restart,
// a refused or a repeating link) first meets again the rows delivered in the second of its
// progress bound, which can fill pages when many rows share an instant; once it delivered a
// row, it is past them.
func (r *messageTraceReceiver) staleAllowed(prog *rangeProgress, rereading bool) int {
	if !rereading {
		return 0
	}
	return prog.AtBound.len()/max(r.client.pageSize, 1) + 10
}

// anyNew reports whether a page holds a row the range's progress does not count as delivered.
// A row whose time could not be read is counted as new: its place is not known.
func anyNew(prog *rangeProgress, rows []tracepage.Row) bool {
	for i := range rows {
		if rows[i].TimeUnknown || prog.wants(&rows[i]) {
			return true
		}
	}
	return false
}

// deliver hands the rows that are new or changed to the pipeline and remembers them. A
// retryable refusal stops the poll so the same rows are offered again; a permanent one is
// logged, counted and skipped, as retrying cannot help.
func (r *messageTraceReceiver) deliver(ctx context.Context, p *pass, rows []tracepage.Row, observed time.Time) (int, error) {
	emit := make([]traceRecord, 0, len(rows))
	for i := range rows {
		rec := traceRecord{row: &rows[i], status: normaliseStatus(rows[i].Status)}
		rec.before = r.state.seen.lookup(rec.row)
		// A row never emitted (always so without an early pass) skips the status table's scan:
		// statusCode is never statusUnknown.
		if rec.before != statusUnknown && rec.before == statusCode(rec.status) {
			continue // emitted before with this status: a boundary or restart repeat
		}
		switch {
		case rec.before != statusUnknown:
			r.telemetry.ReceiverMessageTraceStatusUpdates.Add(ctx, 1, metric.WithAttributes(attribute.String("pass", p.name)))
		case p.countsLate && rec.row.Received.After(r.state.cp.EarlyFrom) && !r.state.cp.EarlyFrom.IsZero():
			r.telemetry.ReceiverMessageTraceLateRows.Add(ctx, 1)
		}
		emit = append(emit, rec)
	}
	if len(emit) > 0 {
		err := r.consume(ctx, r.builder.build(emit, observed), len(emit))
		switch {
		case err == nil:
			r.telemetry.ReceiverMessageTraceRows.Add(ctx, int64(len(emit)), metric.WithAttributes(attribute.String("pass", p.name)))
			r.countUnparsed(ctx, p, emit)
			r.details.queue(ctx, emit)
		case consumererror.IsPermanent(err):
			r.telemetry.ReceiverMessageTraceRejectedRows.Add(ctx, int64(len(emit)))
			r.set.Logger.Error("the pipeline refused rows permanently; skipping them", zap.Int("rows", len(emit)), zap.Error(err))
		default:
			return 0, fmt.Errorf("the pipeline refused %d rows (they will be offered again): %w", len(emit), err)
		}
	}
	// Only the early pass's rows are read again (by the settled pass); what the settled pass
	// emits is never read again, so remembering it would only cost memory.
	if p.remembers {
		r.state.seen.rememberAll(emit)
	}
	return len(emit), nil
}

// countUnparsed counts the rows delivered raw because they could not be parsed, and logs one
// line per page (not per row: a hostile page could hold thousands).
func (r *messageTraceReceiver) countUnparsed(ctx context.Context, p *pass, rows []traceRecord) {
	n, first := 0, -1
	for i := range rows {
		if rows[i].row.ParseError != "" {
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
		zap.String("pass", p.name), zap.Int("rows", n), zap.String("first_reason", rows[first].row.ParseError), zap.String("first_row_id", rows[first].row.ID))
}
