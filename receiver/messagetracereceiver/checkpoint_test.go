package messagetracereceiver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// countingClient counts the batches written through it.
type countingClient struct {
	storage.Client
	batches atomic.Int32
}

func (c *countingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	c.batches.Add(1)
	return c.Client.Batch(ctx, ops...)
}

// An idle tenant stores its progress over empty ranges every emptyRangeSaveEvery, not twice a
// minute; a range with rows is stored at once; a crash loses at most emptyRangeSaveEvery of
// empty progress and Shutdown loses none.
func TestEmptyRangesAreStoredAtMostEveryFiveMinutes(t *testing.T) {
	clock := msgtracetest.NewClock(time.Now().Add(-24 * time.Hour).Truncate(time.Second))
	h := newHarness(t, msgtracetest.Options{Now: clock.Now, QuotaRequests: -1}, nil)
	h.cfg.EarlyDelay = 2 * time.Minute // both passes: two empty ranges per poll
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.now = clock.Now
	counted := &countingClient{Client: r.state.store.client}
	r.state.store.client = counted
	r.state.cp.Done = clock.Now().Add(-h.cfg.Delay) // caught up: every poll reads one new minute
	r.state.savedAt = time.Time{}

	stored := func() time.Time {
		cp, err := r.state.store.load(context.Background())
		require.NoError(t, err)
		require.NotNil(t, cp)
		return cp.Done
	}
	for range 11 { // 10 minutes of 1-minute polls
		require.NoError(t, r.poll(ctx))
		clock.Advance(time.Minute)
	}
	require.Empty(t, delivered(sink))
	assert.Equal(t, int32(3), counted.batches.Load(), "stored at 0, 5 and 10 minutes, not at each of 22 empty ranges")
	assert.True(t, r.state.unsaved, "the last poll's early range waits for the next save")
	behind := r.state.cp.Done.Sub(stored())
	assert.Greater(t, behind, time.Duration(0))
	assert.LessOrEqual(t, behind, emptyRangeSaveEvery, "a crash now re-reads at most %v of empty ranges", emptyRangeSaveEvery)

	// A row in the next range: stored as soon as it is delivered.
	h.srv.AddRows(msgtracetest.Generate(7, 1, clock.Now().Add(-h.cfg.Delay-30*time.Second), clock.Now().Add(-h.cfg.Delay),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})...)
	clock.Advance(time.Minute)
	before := counted.batches.Load()
	require.NoError(t, r.poll(ctx))
	require.Len(t, delivered(sink), 1)
	assert.Greater(t, counted.batches.Load(), before)
	assert.Equal(t, r.state.cp.Done, stored(), "the range with a row is stored with everything before it")

	// Shutdown stores what is pending.
	clock.Advance(time.Minute)
	require.NoError(t, r.poll(ctx))
	require.True(t, r.state.unsaved)
	done := r.state.cp.Done
	r.done = make(chan struct{})
	go r.run(cancelled())
	<-r.done
	r.done = nil
	assert.False(t, r.state.unsaved)
	assert.Equal(t, done, stored(), "the end of the poll loop stores the held-back progress")
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
