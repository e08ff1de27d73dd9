package messagetracereceiver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

func TestExactlyOnceAcrossManyPages(t *testing.T) {
	rows := rowsIn(1, 1200, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 4})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)

	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))

	api := h.srv.APIRequestCount()
	pages := (len(rows) + 99) / 100
	assert.LessOrEqual(t, api, pages+1, "one request per page, plus at most one for the partial last page")
	assert.Zero(t, h.srv.QuotaViolations())
	t.Logf("%d rows, %d pages of 100, %d API requests, %d token requests", len(rows), pages, api, h.srv.TokensIssued())

	// A second poll finds nothing new and emits nothing.
	before := sink.LogRecordCount()
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, before, sink.LogRecordCount())
	assert.Equal(t, 1, h.logs.FilterMessage("Pull summary: range complete").Len())
}

func TestBoundaryRowsAreEmittedOnce(t *testing.T) {
	now := time.Now().UTC()
	limit := now.Add(-time.Hour).Truncate(time.Second)
	start := now.Add(-48 * time.Hour).Truncate(time.Second)
	mk := func(id string, at time.Time) msgtracetest.Row {
		return msgtracetest.Row{ID: id, MessageID: "<" + id + "@x>", Sender: "a@x", Recipient: "b@x", Received: at, Status: "delivered"}
	}
	rows := []msgtracetest.Row{
		mk("00000000-0000-4000-8000-000000000001", start),                  // exactly on the first range's start: before it
		mk("00000000-0000-4000-8000-000000000002", start.Add(time.Second)), // just inside
		mk("00000000-0000-4000-8000-000000000003", limit),                  // exactly on the end: inside
		mk("00000000-0000-4000-8000-000000000004", limit.Add(time.Second)), // after the end: next poll
		mk("00000000-0000-4000-8000-000000000005", limit.Add(-time.Millisecond)),
	}
	h := newHarness(t, msgtracetest.Options{}, rows)
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.now = func() time.Time { return now }
	r.state.cp.Done = start

	require.NoError(t, r.poll(ctx))
	assert.ElementsMatch(t, keysOf([]msgtracetest.Row{rows[1], rows[2], rows[4]}), delivered(sink))

	// One second later the row on the old end must not come again; the next one must.
	r.now = func() time.Time { return now.Add(time.Second) }
	require.NoError(t, r.poll(ctx))
	got := delivered(sink)
	require.Len(t, got, 4)
	assert.Equal(t, keysOf(rows[3:4])[0], got[3])
}

// crashingStorage stops storing anything once crashed, like a process that died.
type crashingStorage struct {
	storage.Client
	crashed atomic.Bool
}

func (c *crashingStorage) Set(ctx context.Context, k string, v []byte) error {
	if c.crashed.Load() {
		return errors.New("process is dead")
	}
	return c.Client.Set(ctx, k, v)
}

func (c *crashingStorage) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if c.crashed.Load() {
		return errors.New("process is dead")
	}
	return c.Client.Batch(ctx, ops...)
}

// crashAfter accepts calls until the n-th, accepts that one too and then kills the receiver
// before it can store its progress.
type crashAfter struct {
	consumertest.LogsSink
	n, calls int
	crash    func()
}

func (c *crashAfter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	c.calls++
	err := c.LogsSink.ConsumeLogs(ctx, ld)
	if c.calls == c.n {
		c.crash()
	}
	return err
}

func TestCrashMidRangeLosesNothingAndRepeatsAtMostOnePage(t *testing.T) {
	rows := rowsIn(2, 600, msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 5})
	for _, crashAt := range []int{1, 4, 9} {
		t.Run(fmt.Sprintf("after page %d", crashAt), func(t *testing.T) {
			h := newHarness(t, msgtracetest.Options{}, rows)
			h.cfg.PageSize = 150
			store, err := h.storage.GetClient(context.Background(), component.KindReceiver, component.MustNewID("x"), "")
			require.NoError(t, err)
			crashing := &crashingStorage{Client: store}

			first := &crashAfter{n: crashAt}
			r1, ctx1 := h.receiver(first)
			crashCtx, kill := context.WithCancel(ctx1)
			first.crash = func() { crashing.crashed.Store(true); kill() }
			r1.state.store = &checkpointStore{client: crashing}
			require.ErrorIs(t, r1.poll(crashCtx), context.Canceled)

			// A new process on the same storage (the checkpoint written before the crash).
			second := new(consumertest.LogsSink)
			r2, ctx2 := h.receiver(second)
			r2.state.store = &checkpointStore{client: store}
			r2.state.cp, _ = r2.state.loadCheckpoint(ctx2, r2.now(), r2.settled.planner.oldest(r2.now()))
			require.NoError(t, r2.poll(ctx2))

			all := append(delivered(&first.LogsSink), delivered(second)...)
			seen := map[string]int{}
			for _, k := range all {
				seen[k]++
			}
			dups := 0
			for _, k := range keysOf(rows) {
				require.GreaterOrEqual(t, seen[k], 1, "row %s lost", k)
				dups += seen[k] - 1
			}
			assert.LessOrEqual(t, dups, 150, "at most one page is repeated")
			t.Logf("crash after page %d: %d rows, %d duplicates (the page accepted but not yet checkpointed)", crashAt, len(rows), dups)
		})
	}
}

func TestRestartWithoutCrashRepeatsNothing(t *testing.T) {
	rows := rowsIn(3, 500, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	// The pipeline refuses (retryably) the 3rd page: the poll stops with progress stored.
	var calls atomic.Int32
	first := new(consumertest.LogsSink)
	refusing := consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if calls.Add(1) == 3 {
			return errors.New("queue full")
		}
		return first.ConsumeLogs(ctx, ld)
	})
	r1, ctx1 := h.receiver(refusing)
	require.ErrorContains(t, r1.poll(ctx1), "will be offered again")
	require.NoError(t, r1.Shutdown(context.Background()))

	second := new(consumertest.LogsSink)
	r2, ctx2 := h.receiver(second)
	require.NotNil(t, r2.state.cp.Open, "progress inside the range was stored")
	require.NoError(t, r2.poll(ctx2))
	requireExactlyOnce(t, rows, append(delivered(first), delivered(second)...))
}

func TestPermanentConsumerErrorSkipsRows(t *testing.T) {
	rows := rowsIn(4, 50, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	r, ctx := h.receiver(consumertest.NewErr(consumererror.NewPermanent(errors.New("bad data"))))
	require.NoError(t, r.poll(ctx))
	assert.Nil(t, r.state.cp.Open)
	assert.Equal(t, r.settled.planner.limit(r.now()), r.state.cp.Done, "the checkpoint moved past the refused rows")
	assert.Equal(t, 1, h.logs.FilterMessage("the pipeline refused rows permanently; skipping them").Len())
}

func TestRetryableConsumerErrorKeepsCheckpoint(t *testing.T) {
	rows := rowsIn(5, 50, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	r, ctx := h.receiver(consumertest.NewErr(errors.New("downstream unavailable")))
	before := r.state.cp.Done
	require.Error(t, r.poll(ctx))
	assert.Equal(t, before, r.state.cp.Done)
	assert.Nil(t, r.state.cp.Open, "nothing was delivered, so there is no progress to store")

	sink := new(consumertest.LogsSink)
	r.next = sink
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
}
