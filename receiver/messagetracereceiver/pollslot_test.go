package messagetracereceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

// Tenants that finish a poll in the same second (a collector's receivers all start at once)
// wait for their next poll until instants spread over the whole interval, not all one
// poll_interval, which kept them polling together every interval.
func TestIdlePollsOfManyTenantsAreSpreadOverTheInterval(t *testing.T) {
	const tenants = 200
	h := newHarness(t, msgtracetest.Options{QuotaRequests: -1}, nil)
	h.cfg.StorageID = nil
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	waits := make(chan time.Duration, tenants)
	for i := range tenants {
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.NewIDWithName(metadata.Type, fmt.Sprintf("t%04d", i))
		r, err := newReceiver(set, h.cfg, new(consumertest.LogsSink))
		require.NoError(t, err)
		r.now = func() time.Time { return now }
		first := true
		r.sleep = func(ctx context.Context, d time.Duration) error {
			if first { // the wait after the first poll
				first = false
				waits <- d
			}
			<-ctx.Done()
			return ctx.Err()
		}
		require.NoError(t, r.Start(context.Background(), h.host))
		t.Cleanup(func() { assert.NoError(t, r.Shutdown(context.Background())) })
	}
	perSecond := make(map[int64]int)
	for range tenants {
		select {
		case d := <-waits:
			require.Positive(t, d)
			require.LessOrEqual(t, d, h.cfg.PollInterval)
			perSecond[now.Add(d).Unix()]++
		case <-time.After(30 * time.Second):
			t.Fatal("a tenant never finished its first poll")
		}
	}
	busiest := 0
	for _, n := range perSecond {
		busiest = max(busiest, n)
	}
	// Evenly spread, 200 tenants over 60 s are about 3.3 a second.
	assert.Greater(t, len(perSecond), 40, "seconds of the interval with a poll")
	assert.LessOrEqual(t, busiest, 12, "polls in the busiest second")
}

// A tenant's own polls stay one interval apart, whatever a poll took.
func TestPollSlotsAreOneIntervalApart(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	slot := now.Add(r.untilPollSlot())
	after := slot.Add(3 * time.Second) // the next poll took 3 s
	r.now = func() time.Time { return after }
	assert.Equal(t, slot.Add(cfg.PollInterval), after.Add(r.untilPollSlot()))
}

func TestUntilSlot(t *testing.T) {
	interval := 10 * time.Second
	base := time.Unix(1_000_000_000, 0) // a multiple of the interval
	assert.Equal(t, 3*time.Second, untilSlot(base, interval, 3*time.Second))
	assert.Equal(t, interval, untilSlot(base.Add(3*time.Second), interval, 3*time.Second), "at the slot: the next one")
	assert.Equal(t, 2*time.Second, untilSlot(base.Add(11*time.Second), interval, 3*time.Second))
	assert.Equal(t, 4*time.Second, untilSlot(base.Add(-time.Second), interval, 3*time.Second))
}
