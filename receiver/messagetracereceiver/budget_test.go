package messagetracereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)} }

func TestBudgetRollingWindow(t *testing.T) {
	clk := newFakeClock()
	b := newRequestBudget(3, 10*time.Second, clk.now)
	for i := range 3 {
		wait, _ := b.tryAcquire()
		assert.Zero(t, wait, "request %d fits", i)
		clk.advance(time.Second)
	}
	// Three requests at t=0,1,2; now t=3: the first leaves the window at t=10 (strictly after).
	assert.Equal(t, 7*time.Second+time.Millisecond, waitOf(b))
	clk.advance(7*time.Second + time.Millisecond)
	assert.Zero(t, waitOf(b))
	// The window now holds t=1, 2 and 10.001; the next slot frees just after t=1 leaves it,
	// at t=11.001.
	assert.Equal(t, time.Second, waitOf(b))
}

func TestBudgetNeverExceedsWindow(t *testing.T) {
	clk := newFakeClock()
	const limit, window = 5, 5 * time.Second
	b := newRequestBudget(limit, window, clk.now)
	var sent []time.Time
	for len(sent) < 40 {
		if w := waitOf(b); w > 0 {
			clk.advance(w)
			continue
		}
		sent = append(sent, clk.now())
		clk.advance(300 * time.Millisecond)
	}
	for i := range sent {
		n := 0
		for j := range sent {
			if !sent[j].After(sent[i]) && sent[i].Sub(sent[j]) <= window {
				n++
			}
		}
		assert.LessOrEqual(t, n, limit, "requests in the window ending at request %d", i)
	}
}

func TestBudgetPauseUntil(t *testing.T) {
	clk := newFakeClock()
	b := newRequestBudget(100, time.Minute, clk.now)
	b.pauseUntil(clk.now().Add(30 * time.Second))
	b.pauseUntil(clk.now().Add(10 * time.Second)) // an earlier pause never shortens a longer one
	assert.Equal(t, 30*time.Second, waitOf(b))
	clk.advance(30 * time.Second)
	assert.Zero(t, waitOf(b))
}

func TestBudgetAcquireIsCancellable(t *testing.T) {
	b := newRequestBudget(1, time.Hour, time.Now)
	_, err := b.acquire(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = b.acquire(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
}

func waitOf(b *requestBudget) time.Duration {
	w, _ := b.tryAcquire()
	return w
}

func TestBudgetCountsARequestUntilItEnds(t *testing.T) {
	clk := newFakeClock()
	b := newRequestBudget(1, 10*time.Second, clk.now)
	done, err := b.acquire(context.Background())
	require.NoError(t, err)
	clk.advance(4 * time.Second) // a slow request: the server may have counted it late
	done()
	clk.advance(7 * time.Second)
	assert.Equal(t, 3*time.Second+time.Millisecond, waitOf(b), "the window runs from the request's end")
}
