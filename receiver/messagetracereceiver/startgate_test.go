package messagetracereceiver

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// No more than the slots set up their first request at once.
func TestStartGateBoundsFirstRequests(t *testing.T) {
	g := newStartGate(3, time.Minute)
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		turn := g.join()
		wg.Go(func() {
			leave, err := turn.enter(context.Background())
			require.NoError(t, err)
			n := inside.Add(1)
			for m := most.Load(); n > m; m = most.Load() {
				if most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			inside.Add(-1)
			leave()
			leave() // twice is harmless
		})
	}
	wg.Wait()
	assert.Equal(t, int32(3), most.Load())
	assert.Zero(t, g.pending)
}

// A receiver's second request waits until every receiver of its wave made its first attempt.
func TestStartGateHoldsLaterRequestsUntilTheWaveStarted(t *testing.T) {
	g := newStartGate(4, time.Minute)
	first, last := g.join(), g.join()
	ctx := context.Background()
	leave, err := first.enter(ctx)
	require.NoError(t, err)
	leave()

	second := make(chan error, 1)
	go func() { second <- first.behind(ctx) }()
	select {
	case err := <-second:
		t.Fatalf("the second request went before the other receiver's first attempt (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	leave, err = last.enter(ctx)
	require.NoError(t, err)
	leave()
	select {
	case err := <-second:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the second request still waits after the wave started")
	}
}

// A receiver that never starts holds the others back for the wave's limit only, and not at all
// once it shut down; a cancelled context ends the wait.
func TestStartGateWaitIsBounded(t *testing.T) {
	g := newStartGate(4, 100*time.Millisecond)
	active, stuck := g.join(), g.join()
	leave, err := active.enter(context.Background())
	require.NoError(t, err)
	leave()
	require.NoError(t, stuck.behind(context.Background()), "no first attempt yet: no wait")
	began := time.Now()
	require.NoError(t, active.behind(context.Background()))
	waited := time.Since(began)
	assert.Greater(t, waited, 50*time.Millisecond)
	assert.Less(t, waited, 2*time.Second)

	began = time.Now()
	require.NoError(t, active.behind(context.Background()))
	assert.Less(t, time.Since(began), 20*time.Millisecond, "past the wave's limit nobody waits")

	// A new wave: the stuck receiver shuts down, the other goes on at once.
	g2 := newStartGate(4, time.Hour)
	a, b := g2.join(), g2.join()
	leave, err = a.enter(context.Background())
	require.NoError(t, err)
	leave()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, a.behind(ctx), context.DeadlineExceeded)
	b.end()
	b.end()
	require.NoError(t, a.behind(context.Background()))
	stuck.end()

	var none *startTurn
	leave, err = none.enter(context.Background())
	require.NoError(t, err)
	leave()
	require.NoError(t, none.behind(context.Background()))
	none.end()
}

// Through the receiver: its first request gives the slot back once connected (while the API
// still thinks), and once that first attempt is made, a backlog is not read further until the
// other receiver of the wave made its first attempt. A caught-up receiver does not wait.
func TestReceiverWaitsForItsStartWave(t *testing.T) {
	rows := rowsIn(31, 30, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})
	h := newHarness(t, msgtracetest.Options{Latency: 300 * time.Millisecond}, rows)
	h.cfg.PageSize = 20 // the first page is followed by a next link
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	g := newStartGate(1, time.Minute)
	r.client.start = g.join()
	other := g.join() // created with it, not started yet

	polled := make(chan error, 1)
	go func() { polled <- r.poll(ctx) }()
	require.Eventually(t, func() bool { return h.srv.APIRequestCount() == 1 }, 5*time.Second, time.Millisecond)
	assert.Empty(t, g.slots, "the slot is given back once connected, while the API still thinks")
	require.Eventually(t, func() bool { return len(delivered(sink)) == 20 }, 5*time.Second, time.Millisecond, "the first page arrives")
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, h.srv.APIRequestCount(), "the next page of a backlog waits for the rest of the wave")
	leave, err := other.enter(context.Background())
	require.NoError(t, err)
	leave()
	select {
	case err := <-polled:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the backlog is still held after the wave started")
	}
	requireExactlyOnce(t, rows, delivered(sink))
}

// A caught-up receiver (pages without a next link) never waits for its wave.
func TestCaughtUpReceiverDoesNotWaitForItsStartWave(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	g := newStartGate(1, time.Hour)
	r.client.start = g.join()
	_ = g.join() // never starts
	for range 3 {
		done := make(chan error, 1)
		go func() { done <- r.poll(ctx) }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("a poll without a backlog waited for the wave")
		}
		r.state.cp.Done = r.state.cp.Done.Add(-time.Hour)
	}
}
