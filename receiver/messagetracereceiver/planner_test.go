package messagetracereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

func TestPlannerRanges(t *testing.T) {
	cfg := validConfig() // graph, delay 25h
	p := newRangePlanner(cfg, cfg.Delay)
	now := time.Date(2026, 11, 21, 12, 0, 0, 500, time.UTC)
	limit := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)

	t.Run("caught up", func(t *testing.T) {
		_, ok := p.next(limit, now)
		assert.False(t, ok)
	})
	t.Run("short range ends at now minus delay on a whole second", func(t *testing.T) {
		r, ok := p.next(limit.Add(-time.Hour), now)
		assert.True(t, ok)
		assert.Equal(t, rangeProgress{Start: limit.Add(-time.Hour), End: limit}, r)
	})
	t.Run("long backlog is split at the 10-day API limit", func(t *testing.T) {
		start := limit.Add(-30 * 24 * time.Hour)
		r, ok := p.next(start, now)
		assert.True(t, ok)
		assert.Equal(t, start.Add(10*24*time.Hour), r.End)
	})
	t.Run("clamp reports the gap", func(t *testing.T) {
		old := now.Add(-100 * 24 * time.Hour)
		got, gap := p.clamp(old, now)
		assert.True(t, got.After(now.Add(-90*24*time.Hour)), "start must be inside the 90-day limit")
		assert.Equal(t, got.Sub(old), gap)
		assert.Greater(t, gap, 10*24*time.Hour-2*time.Minute)
		same, gap := p.clamp(limit, now)
		assert.Equal(t, limit, same)
		assert.Zero(t, gap)
	})
}

func TestPlannerAdaptsToDensity(t *testing.T) {
	cfg := validConfig()
	p := newRangePlanner(cfg, cfg.Delay) // target 200 pages of 5000 rows
	p.learn(10*24*time.Hour, 10)
	assert.Equal(t, maxQuerySpan, p.span, "a sparse tenant keeps the longest range")
	p.learn(24*time.Hour, 10_000_000)
	assert.Equal(t, 24*time.Hour/10, p.span.Round(time.Minute), "10M rows a day at 1M rows per range")
	p.learn(time.Minute, 100_000_000)
	assert.Equal(t, minSpan, p.span)
	p.learn(time.Hour, 0)
	assert.Equal(t, maxQuerySpan, p.span)

	legacy := validConfig()
	legacy.API = apiLegacy
	lp := newRangePlanner(legacy, legacy.Delay)
	assert.Equal(t, 500_000, lp.targetRows, "legacy ranges stay far below the ~1M-row skiptoken ceiling")
}

func row(id, recipient string, t time.Time) tracepage.Row {
	return tracepage.Row{ID: id, Recipient: recipient, Received: t}
}

func TestProgressNewestFirstResumesExactly(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	p := rangeProgress{Start: t0, End: t0.Add(time.Hour)}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	// Page 1 (newest first) ends in the middle of a message at minute 30.
	page1 := []tracepage.Row{row("a", "x@c", at(50)), row("b", "x@c", at(40)), row("c", "x@c", at(30)), row("c", "Y@c", at(30))}
	p.delivered(page1)
	assert.Equal(t, orderDesc, p.Order)
	assert.Equal(t, at(30), p.Bound)
	assert.ElementsMatch(t, []uint64{keyHash("c|x@c"), keyHash("c|y@c")}, p.AtBound.hashes)

	from, to := p.queryBounds()
	assert.Equal(t, t0, from)
	assert.Equal(t, at(30), to)

	// A re-query returns the rest of minute 30 again; only the recipient not yet delivered is wanted.
	requery := []tracepage.Row{row("c", "y@C", at(30)), row("c", "z@c", at(30)), row("d", "x@c", at(20)), row("e", "x@c", t0)}
	var wanted []string
	for i := range requery {
		if p.wants(&requery[i]) {
			wanted = append(wanted, requery[i].Key())
		}
	}
	assert.Equal(t, []string{"c|z@c", "d|x@c"}, wanted, "a row at the range start belongs to the previous range")
}

func TestProgressOldestFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	p := rangeProgress{Start: t0, End: t0.Add(time.Hour)}
	p.delivered([]tracepage.Row{row("a", "x", t0.Add(time.Minute)), row("b", "x", t0.Add(2*time.Minute))})
	assert.Equal(t, orderAsc, p.Order)
	from, to := p.queryBounds()
	assert.Equal(t, t0.Add(2*time.Minute), from)
	assert.Equal(t, p.End, to)
	r := row("a", "x", t0.Add(time.Minute))
	assert.False(t, p.wants(&r))
	r = row("c", "x", t0.Add(3*time.Minute))
	assert.True(t, p.wants(&r))
}

func TestProgressBrokenOrderFallsBackToRereading(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	p := rangeProgress{Start: t0, End: t0.Add(time.Hour)}
	p.delivered([]tracepage.Row{row("a", "x", t0.Add(30*time.Minute)), row("b", "x", t0.Add(20*time.Minute)), row("c", "x", t0.Add(40*time.Minute))})
	assert.Equal(t, orderNone, p.Order)
	from, to := p.queryBounds()
	assert.Equal(t, t0, from)
	assert.Equal(t, p.End, to)
	r := row("a", "x", t0.Add(30*time.Minute))
	assert.True(t, p.wants(&r), "without order every row of the range is read again: duplicates, never loss")
	assert.Equal(t, 3, p.Rows)
}

func TestProgressSameInstantOnly(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	p := rangeProgress{Start: t0, End: t0.Add(time.Hour)}
	p.delivered([]tracepage.Row{row("a", "x", t0.Add(time.Minute)), row("a", "y", t0.Add(time.Minute))})
	assert.Empty(t, p.Order)
	from, to := p.queryBounds()
	assert.Equal(t, t0, from, "order unknown: the whole range is re-queried")
	assert.Equal(t, p.End, to)
	r := row("a", "x", t0.Add(time.Minute))
	assert.False(t, p.wants(&r))
	r = row("b", "x", t0.Add(2*time.Minute))
	assert.True(t, p.wants(&r))
}
