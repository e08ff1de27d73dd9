package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"slices"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

const (
	// lookbackMargin keeps a query's start this far inside the API's oldest allowed time, so the
	// time between planning and sending never pushes it over (seeds: max_historic_date_margin).
	lookbackMargin = time.Minute
	// minSpan is the smallest range the planner makes for a very dense tenant.
	minSpan = time.Minute
)

// rangePlanner decides the next range to read. Ranges are as long as the API allows (10 days)
// while the tenant is sparse, so catching up costs one request per range; for dense tenants a
// range is sized from the row rate of the previous one to hold about targetRows rows, which
// keeps the legacy API far below its ~1,000,000-row skiptoken ceiling and bounds the work one
// range represents.
type rangePlanner struct {
	delay       time.Duration
	maxLookback time.Duration
	targetRows  int
	pageSize    int
	span        time.Duration // current span, adapted after every range
}

func newRangePlanner(cfg *Config, delay time.Duration) *rangePlanner {
	api, pageSize := cfg.api(), cfg.effectivePageSize()
	return &rangePlanner{delay: delay, maxLookback: api.maxLookback(), targetRows: api.targetRows(pageSize), span: api.firstSpan(), pageSize: pageSize}
}

// pageBudget is how many pages one turn of a pass reads before the other pass gets its turn.
func (p *rangePlanner) pageBudget() int {
	return max(p.targetRows/p.pageSize, 1)
}

// limit is the newest time that may be queried now.
func (p *rangePlanner) limit(now time.Time) time.Time {
	return now.Add(-p.delay).UTC().Truncate(time.Second)
}

// oldest is the oldest start the API accepts now, with a margin.
func (p *rangePlanner) oldest(now time.Time) time.Time {
	return now.Add(-p.maxLookback + lookbackMargin).UTC().Truncate(time.Second).Add(time.Second)
}

// clamp moves a checkpoint the API would refuse forward and reports the gap it skips.
func (p *rangePlanner) clamp(done, now time.Time) (time.Time, time.Duration) {
	if o := p.oldest(now); done.Before(o) {
		return o, o.Sub(done)
	}
	return done, 0
}

// next returns the range (done, end] to read now, or false when the checkpoint is caught up.
func (p *rangePlanner) next(done, now time.Time) (rangeProgress, bool) {
	lim := p.limit(now)
	if !done.Before(lim) {
		return rangeProgress{}, false
	}
	// Queries round the start down to a second; measure the span from there so the query
	// never exceeds the API's 10 days.
	end := done.Truncate(time.Second).Add(p.span)
	if end.After(lim) {
		end = lim
	}
	return rangeProgress{Start: done, End: end}, true
}

// clampCheckpoint moves a checkpoint the API would refuse forward, with its open range, and
// reports the time it skipped: from the checkpoint to the oldest time the API serves.
func (p *rangePlanner) clampCheckpoint(cp *passCheckpoint, now time.Time) (from, to time.Time, gap time.Duration) {
	to, gap = p.clamp(cp.Done, now)
	if gap <= 0 {
		return cp.Done, cp.Done, 0
	}
	from, cp.Done = cp.Done, to
	if cp.Open != nil && !cp.Open.clampStart(to) {
		cp.Done, cp.Open = cp.Open.End, nil
	}
	return from, to, gap
}

// resume returns the checkpoint's open range, its start moved up to the checkpoint, or plans
// the next one; false when the checkpoint is caught up.
func (p *rangePlanner) resume(cp *passCheckpoint, now time.Time) (*rangeProgress, bool) {
	if open := cp.Open; open != nil {
		if open.Start.Before(cp.Done) {
			open.Start = cp.Done
		}
		return open, true
	}
	next, ok := p.next(cp.Done, now)
	if !ok {
		return nil, false
	}
	return &next, true
}

// raiseTo moves a checkpoint before floor up to it, keeping an open range that reaches past
// floor; it reports whether the checkpoint was before floor.
func (cp *passCheckpoint) raiseTo(floor time.Time) bool {
	if !cp.Done.Before(floor) {
		return false
	}
	if cp.Open == nil || !cp.Open.End.After(floor) {
		cp.Done, cp.Open = floor, nil
	}
	return true
}

// learn adapts the span to the density of a completed range.
func (p *rangePlanner) learn(span time.Duration, rows int) {
	if rows <= 0 || span <= 0 {
		p.span = maxQuerySpan
		return
	}
	perRow := span / time.Duration(rows)
	next := perRow * time.Duration(p.targetRows)
	if perRow > 0 && next/perRow != time.Duration(p.targetRows) { // overflow: very sparse
		next = maxQuerySpan
	}
	p.span = min(max(next, minSpan), maxQuerySpan)
}

func (b *boundRows) add(h uint64) {
	b.hashes = append(b.hashes, h)
	b.sorted = len(b.hashes) == 1
}

func (b *boundRows) reset(h uint64) {
	b.hashes, b.sorted = append(b.hashes[:0], h), true
}

func (b *boundRows) contains(h uint64) bool {
	if !b.sorted {
		slices.Sort(b.hashes)
		b.sorted = true
	}
	_, ok := slices.BinarySearch(b.hashes, h)
	return ok
}

func (b *boundRows) len() int { return len(b.hashes) }

// clampStart moves the range's start forward to done (the oldest time the API still serves)
// and drops progress that pointed before it. It reports false when nothing of the range that
// is left to read can be read any more.
func (r *rangeProgress) clampStart(done time.Time) bool {
	if !r.End.After(done) {
		return false
	}
	if r.Start.Before(done) {
		r.Start = done
	}
	switch {
	case r.Order == orderDesc && !r.Bound.After(done):
		return false // what is left lies before the API's limit
	case r.Order == orderAsc && r.Bound.Before(done):
		r.Bound, r.AtBound = done, boundRows{}
	case r.Order == orderUnknown && !r.Bound.IsZero() && !r.Bound.After(done):
		r.Bound, r.AtBound = time.Time{}, boundRows{}
	}
	return true
}

// queryBounds is the time span still to query for a range, given its progress.
func (r *rangeProgress) queryBounds() (from, to time.Time) {
	return r.Order.queryBounds(r.Start, r.End, r.Bound)
}

// contains reports whether a row belongs to the range (Start, End]. The query's bounds are
// whole seconds and inclusive, so rows of neighbouring ranges come back and are dropped here.
func (r *rangeProgress) contains(row *tracepage.Row) bool {
	return row.Received.After(r.Start) && !row.Received.After(r.End)
}

// near reports whether a row lies in the range or within the second a query's whole-second
// bounds add on each side: such a row belongs to this range or its neighbour.
func (r *rangeProgress) near(row *tracepage.Row) bool {
	return row.Received.After(r.Start.Add(-time.Second)) && !row.Received.After(r.End.Add(time.Second))
}

// wants reports whether a row of a re-query (after a restart or a refused next-link) belongs
// to the range and was not delivered yet. Rows of an uninterrupted walk need only contains:
// the API returns each row once, so filtering them by progress could only lose rows if the
// API ever broke its order.
func (r *rangeProgress) wants(row *tracepage.Row) bool {
	t := row.Received
	if !r.contains(row) {
		return false
	}
	if r.Order == orderNone || r.Bound.IsZero() {
		return true
	}
	if t.Equal(r.Bound) {
		return !r.AtBound.contains(rowHash(row))
	}
	return r.Order.undelivered(t, r.Bound)
}

// delivered records rows the pipeline accepted, in the order the API sent them.
func (r *rangeProgress) delivered(rows []tracepage.Row) {
	for i := range rows {
		row := &rows[i]
		r.Rows++
		if r.Order == orderNone {
			continue
		}
		t := row.Received
		if r.Bound.IsZero() || t.Equal(r.Bound) {
			r.Bound = t
			r.AtBound.add(rowHash(row))
			continue
		}
		if r.Order = r.Order.after(t, r.Bound); r.Order == orderNone {
			// The API broke its order: no exact resume point exists any more.
			r.Bound, r.AtBound = time.Time{}, boundRows{}
			continue
		}
		r.Bound = t
		r.AtBound.reset(rowHash(row))
	}
}

// exact says whether progress in this order is stored exactly, so that the rest of a range can
// be queried afresh from it.
func (o rangeOrder) exact() bool { return o == orderDesc || o == orderAsc }

// queryBounds is the time span still to query of the range (start, end] whose rows were
// delivered up to bound.
func (o rangeOrder) queryBounds(start, end, bound time.Time) (from, to time.Time) {
	switch o {
	case orderDesc:
		return start, bound
	case orderAsc:
		return bound, end
	}
	return start, end
}

// undelivered says whether a row at t, not at bound, lies on the side of bound not delivered
// yet. With the order unknown only rows at bound are known delivered.
func (o rangeOrder) undelivered(t, bound time.Time) bool {
	switch o {
	case orderDesc:
		return t.Before(bound)
	case orderAsc:
		return t.After(bound)
	}
	return true
}

// after is the order once a row at t follows the last one delivered, at bound (t != bound).
func (o rangeOrder) after(t, bound time.Time) rangeOrder {
	switch {
	case o == orderUnknown && t.Before(bound):
		return orderDesc
	case o == orderUnknown:
		return orderAsc
	case o == orderDesc && t.After(bound), o == orderAsc && t.Before(bound):
		return orderNone
	}
	return o
}
