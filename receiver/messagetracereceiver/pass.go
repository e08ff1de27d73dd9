package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import "time"

// pass is one reading of time: the settled pass at `delay` (complete data) or the early pass
// at `early_delay` (fresh data). Both share the request budget and take turns range by range.
// What differs between them is set once, by newPasses.
type pass struct {
	name    string
	planner *rangePlanner
	cp      func() *passCheckpoint
	// bound moves the pass's checkpoint to where it may read now, before its next range (the
	// settled pass: not before the oldest time the API serves; the early pass: not before what
	// the settled pass may read already).
	bound func(cp *passCheckpoint, now time.Time)
	// remembers: another pass reads this pass's ranges again (the settled pass those of the
	// early pass), so what it emits is remembered.
	remembers bool
	// last: no pass reads this pass's ranges again, so what is remembered before its checkpoint
	// is forgotten.
	last bool
	// countsLate: a row this pass finds after early_from that the early pass did not emit is
	// late (the settled pass, with an early pass).
	countsLate bool
	// shares: another pass takes turns with this one, so a long range is read pageBudget pages
	// at a time.
	shares bool

	caughtUp bool // since start: its per-range lines are then debug (see logRange)
}
