package messagetracereceiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// sizeRecordingClient remembers the largest checkpoint written through it.
type sizeRecordingClient struct {
	storage.Client
	largest atomic.Int64
	writes  atomic.Int32
}

func (c *sizeRecordingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if op.Key == checkpointKey && op.Type == storage.Set {
			c.writes.Add(1)
			if n := int64(len(op.Value)); n > c.largest.Load() {
				c.largest.Store(n)
			}
		}
	}
	return c.Client.Batch(ctx, ops...)
}

// rowsAtOneInstant are n rows of one message instant (as a mass mailing or an import makes).
func rowsAtOneInstant(n int, at time.Time) []msgtracetest.Row {
	rows := make([]msgtracetest.Row, n)
	for i := range rows {
		rows[i] = msgtracetest.Row{
			ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i/7, i), MessageID: fmt.Sprintf("<m%d@contoso.com>", i/7),
			Sender: "news@contoso.com", Recipient: fmt.Sprintf("user%05d@fabrikam.example", i),
			Received: at, Status: msgtracetest.StatusDelivered, Size: 1000,
		}
	}
	return rows
}

// 30,000 rows at one instant, read in pages of 5,000 with a stop after the third page: the
// stored progress inside the range grows by 8 bytes a row at that instant (base64: 10.7
// characters), so the checkpoint stays under 330 KB (the keys it held before took 8 MB and
// were rewritten after every page), and the restart delivers every row exactly once.
func TestRowsAtOneInstantKeepTheCheckpointSmall(t *testing.T) {
	const n, pageSize = 30_000, 5_000
	rows := rowsAtOneInstant(n, time.Now().Add(-30*time.Hour).Truncate(time.Second).Add(123*time.Millisecond))
	h := newHarness(t, msgtracetest.Options{QuotaRequests: -1}, rows)
	h.cfg.PageSize = pageSize

	var calls atomic.Int32
	first := new(consumertest.LogsSink)
	refusing := consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if calls.Add(1) == 4 {
			return errors.New("queue full")
		}
		return first.ConsumeLogs(ctx, ld)
	})
	r1, ctx1 := h.receiver(refusing)
	rec := &sizeRecordingClient{Client: r1.state.store.client}
	r1.state.store.client = rec
	require.ErrorContains(t, r1.poll(ctx1), "will be offered again")
	require.NoError(t, r1.Shutdown(context.Background()))
	require.Equal(t, 3*pageSize, first.LogRecordCount())
	require.Equal(t, int32(3), rec.writes.Load(), "stored after each delivered page")

	const bound = 330_000 // 15,000 rows at the instant: 160 KB; 30,000 at most 320 KB + the rest
	t.Logf("largest checkpoint after 3 pages of %d rows at one instant: %d bytes", pageSize, rec.largest.Load())
	assert.Less(t, rec.largest.Load(), int64(3*pageSize*8*4/3+2_000), "8 bytes a row at the instant, base64")
	assert.Less(t, rec.largest.Load(), int64(bound))

	second := new(consumertest.LogsSink)
	r2, ctx2 := h.receiver(second)
	require.NotNil(t, r2.state.cp.Open, "progress inside the range was stored")
	require.Equal(t, 3*pageSize, r2.state.cp.Open.AtBound.len())
	rec2 := &sizeRecordingClient{Client: r2.state.store.client}
	r2.state.store.client = rec2
	require.NoError(t, r2.poll(ctx2))
	t.Logf("largest checkpoint with all %d rows at one instant delivered: %d bytes", n, rec2.largest.Load())
	assert.Less(t, rec2.largest.Load(), int64(bound))
	requireExactlyOnce(t, rows, append(delivered(first), delivered(second)...))
}

// A checkpoint stored before issue 20, with the rows at the bound as "keys", still loads and
// resumes exactly: the rows it lists are not sent again, the others at that instant are.
func TestCheckpointWithKeysFromBeforeLoads(t *testing.T) {
	now := time.Now()
	instant := now.Add(-20 * time.Hour).Truncate(time.Second)
	atBound := rowsAtOneInstant(40, instant)
	atBound[3].Recipient = "Ünïcode.User@Fabrikam.example" // the key holds it lower-cased
	newer := rowsIn(107, 20, msgtracetest.GenerateOptions{MaxRecipients: 1})
	older := msgtracetest.Generate(108, 20, now.Add(-46*time.Hour), instant.Add(-time.Minute), msgtracetest.GenerateOptions{MaxRecipients: 1})
	var newerThanBound []msgtracetest.Row
	for _, r := range newer {
		if r.Received.After(instant) {
			newerThanBound = append(newerThanBound, r)
		}
	}
	all := append(append(append([]msgtracetest.Row{}, atBound...), newer...), older...)
	h := newHarness(t, msgtracetest.Options{}, all)
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)

	start := now.Add(-47 * time.Hour).UTC().Truncate(time.Second)
	keys := keysOf(atBound[:20])
	old := map[string]any{
		"v": checkpointVersion, "tenant": h.cfg.TenantID, "api": h.cfg.API, "reset": "",
		"done": start,
		"open": map[string]any{
			"start": start, "end": r.settled.planner.limit(r.now()), "order": "desc", "bound": instant,
			"keys": keys, "rows": len(newerThanBound) + len(keys),
		},
	}
	raw, err := json.Marshal(old)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"keys":["`)
	require.NoError(t, r.state.store.client.Set(ctx, checkpointKey, raw))
	var fresh bool
	r.state.cp, fresh = r.state.loadCheckpoint(ctx, r.now(), r.settled.planner.oldest(r.now()))
	require.False(t, fresh, "the stored checkpoint is used")
	require.NotNil(t, r.state.cp.Open)
	assert.Equal(t, 20, r.state.cp.Open.AtBound.len())
	require.NoError(t, r.poll(ctx))

	var rest []msgtracetest.Row
	rest = append(rest, atBound[20:]...)
	for _, row := range all {
		if row.Received.Before(instant) && row.Received.After(start) {
			rest = append(rest, row)
		}
	}
	requireExactlyOnce(t, rest, delivered(sink))
}

// keyHash of a row's key is rowHash of the row, so stored keys and new hashes agree.
func TestKeyHashIsRowHash(t *testing.T) {
	for _, row := range []tracepage.Row{
		{ID: "a", Recipient: "x@c"}, {ID: "a", Recipient: "X@C"}, {ID: "id|with|bars", Recipient: "Ünïcode.User@Fabrikam.example"}, {ID: "", Recipient: ""},
	} {
		assert.Equal(t, rowHash(&row), keyHash(row.Key()), "%+v", row)
	}
	b := boundRows{}
	for i := range 5 {
		b.add(uint64(5 - i))
	}
	raw, err := json.Marshal(b)
	require.NoError(t, err)
	var back boundRows
	require.NoError(t, json.Unmarshal(raw, &back))
	for i := range 5 {
		assert.True(t, back.contains(uint64(i+1)))
	}
	assert.False(t, back.contains(9))
	require.ErrorContains(t, json.Unmarshal([]byte(`"AAAA"`), &back), "not a multiple of 8")
}
