package messagetracereceiver

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// releaseState is the state written by the release before issue 22 (testdata/state/release-1:
// one file per storage key, the file's path below the directory being the key), as bytes that
// code wrote: a checkpoint with both passes inside a range, remembered rows in two buckets and
// two rows waiting for details.
const releaseState = "testdata/state/release-1"

func readReleaseState(t *testing.T) map[string][]byte {
	t.Helper()
	state := map[string][]byte{}
	// Walked and read through an os.Root, which no symlink leads out of; its paths, below the
	// directory and slash-separated, are the keys.
	root, err := os.OpenRoot(releaseState)
	require.NoError(t, err)
	defer root.Close()
	dir := root.FS()
	require.NoError(t, fs.WalkDir(dir, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		state[path], err = fs.ReadFile(dir, path)
		return err
	}))
	return state
}

func storedClient(t *testing.T, state map[string][]byte) storage.Client {
	t.Helper()
	client := newMemClient()
	for k, v := range state {
		require.NoError(t, client.Set(context.Background(), k, v))
	}
	return client
}

// State stored by the last release loads unchanged and is written back byte for byte.
func TestStateOfTheLastReleaseLoadsAndRoundTrips(t *testing.T) {
	ctx := context.Background()
	state := readReleaseState(t)
	require.Len(t, state, 5)
	client := storedClient(t, state)
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rows := []tracepage.Row{
		{ID: "0b6e3c4e-8f4a-4c41-9d5e-2f1a7b9c0d11", Recipient: "alice@example.com", Received: base.Add(-3 * time.Minute)},
		{ID: "1c7f4d5f-9a5b-4d52-8e6f-3a2b8c0d1e22", Recipient: "BOB@example.com", Received: base.Add(-2 * time.Minute)},
		{ID: "2d8a5e6a-ab6c-4e63-9f7a-4b3c9d1e2f33", Recipient: "carol@example.com", Received: base.Add(-25 * time.Minute)},
		{ID: "3e9b6f7b-bc7d-4f74-8a8b-5c4d0e2f3a44", Recipient: "dave@example.com", Received: base.Add(-2 * time.Minute)},
	}

	cfg := createDefaultConfig().(*Config)
	cfg.TenantID, cfg.API, cfg.ResetCheckpoint, cfg.EarlyDelay = "contoso.onmicrosoft.com", apiGraph, "2026-11-01", 2*time.Minute
	st := newReceiverState(cfg, zap.NewNop())
	require.False(t, st.load(ctx, client, base, base.Add(-89*24*time.Hour)), "the stored checkpoint is this configuration's")
	cp := st.cp
	require.NotNil(t, cp)
	assert.Equal(t, checkpointVersion, cp.Version)
	assert.Equal(t, "contoso.onmicrosoft.com", cp.Tenant)
	assert.Equal(t, "graph", cp.API)
	assert.Equal(t, "2026-11-01", cp.Reset)
	assert.Equal(t, base.Add(-time.Hour), cp.Done)
	assert.Equal(t, base.Add(-2*time.Hour), cp.EarlyFrom)
	require.NotNil(t, cp.Open)
	assert.Equal(t, base.Add(-time.Hour), cp.Open.Start)
	assert.Equal(t, base, cp.Open.End)
	assert.Equal(t, orderAsc, cp.Open.Order)
	assert.Equal(t, base.Add(-2*time.Minute), cp.Open.Bound)
	assert.Equal(t, 2, cp.Open.Rows)
	assert.True(t, cp.Open.AtBound.contains(rowHash(&rows[1])), "bob's row, delivered at the bound")
	assert.False(t, cp.Open.wants(&rows[0]), "alice's row lies before the bound of an ascending range: delivered")
	assert.False(t, cp.Open.wants(&rows[1]))
	assert.True(t, cp.Open.wants(&rows[3]), "dave's row at the bound was not delivered")
	require.NotNil(t, cp.Early)
	assert.Equal(t, base.Add(-5*time.Minute), cp.Early.Done)
	require.NotNil(t, cp.Early.Open)
	assert.Equal(t, orderUnknown, cp.Early.Open.Order)
	assert.Equal(t, 2, cp.Early.Open.AtBound.len())

	seen, ok := st.seen.(*seenState)
	require.True(t, ok, "with an early pass the rows are remembered")
	n, bytes := seen.size()
	assert.Equal(t, 3, n)
	assert.Equal(t, 3*entryBytes, bytes)
	assert.Equal(t, statusCode("delivered"), seen.lookup(&rows[0]))
	assert.Equal(t, statusCode("pending"), seen.lookup(&rows[1]), "recipients compare case-insensitively")
	assert.Equal(t, statusCode("failed"), seen.lookup(&rows[2]))
	assert.Equal(t, uint8(statusUnknown), seen.lookup(&rows[3]))

	pending, dropped, err := loadPendingDetails(ctx, client, 100, 1<<20)
	require.NoError(t, err)
	assert.Empty(t, dropped)
	st.pending = pending
	require.Len(t, pending.Entries(), 2)
	assert.Equal(t, pendingDetail{
		TraceID: rows[1].ID, Recipient: "bob@example.com", MessageID: "<b2@example.com>", Status: "pending",
		Received: base.Add(-2 * time.Minute), Added: base,
	}, pending.Entries()[0])
	assert.Equal(t, pendingDetail{
		TraceID: rows[2].ID, Recipient: "carol@example.com", Status: "failed",
		Received: base.Add(-25 * time.Minute), Added: base, Attempts: 2,
	}, pending.Entries()[1])

	// Written back, whole (as to a new storage file) and as the state copy: the same keys and
	// the same bytes (the index lists its buckets in any order).
	out := newMemClient()
	st.store = &checkpointStore{client: out}
	st.markAllUnsaved()
	require.NoError(t, st.write(ctx))
	entries, err := st.entries()
	require.NoError(t, err)
	copied := map[string][]byte{}
	for _, e := range entries {
		copied[e.Key] = e.Value
	}
	assert.Len(t, copied, len(state))
	for k, want := range state {
		got, err := out.Get(ctx, k)
		require.NoError(t, err)
		for _, got := range [][]byte{got, copied[k]} {
			if k == seenIndexKey {
				var w, g []int64
				require.NoError(t, json.Unmarshal(want, &w))
				require.NoError(t, json.Unmarshal(got, &g))
				assert.ElementsMatch(t, w, g)
				continue
			}
			assert.Equal(t, string(want), string(got), k)
		}
	}
}

// A receiver started on storage holding the last release's state resumes from it (its
// checkpoint, remembered rows and pending details), and writes it back unchanged.
func TestReceiverResumesTheLastReleasesState(t *testing.T) {
	state := readReleaseState(t)
	h := newHarness(t, msgtracetest.Options{}, nil)
	enableDetails(h.cfg)
	h.cfg.TenantID, h.cfg.API, h.cfg.ResetCheckpoint, h.cfg.EarlyDelay = "contoso.onmicrosoft.com", apiGraph, "2026-11-01", 2*time.Minute
	id := component.NewIDWithName(metadata.Type, "tenant") // as h.receiver names it
	client, err := h.storage.GetClient(context.Background(), component.KindReceiver, id, "")
	require.NoError(t, err)
	for k, v := range state {
		require.NoError(t, client.Set(context.Background(), k, v))
	}
	require.NoError(t, client.Close(context.Background()))

	r, ctx := h.receiver(new(consumertest.LogsSink))
	require.Len(t, h.logs.FilterMessage("resuming from the stored checkpoint").All(), 1)
	require.Empty(t, h.logs.FilterMessageSnippet("ignoring the stored").All())
	want, err := (&checkpointStore{client: storedClient(t, state)}).load(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, r.state.cp)
	require.NotNil(t, seenOf(r))
	rows, _ := seenOf(r).size()
	assert.Equal(t, 3, rows)
	require.Len(t, detailsOf(r).run.Pending().Entries(), 2)

	r.state.markAllUnsaved()
	r.disk.save(ctx)
	for k, v := range state {
		got, err := r.disk.client.Get(ctx, k)
		require.NoError(t, err)
		if k != seenIndexKey {
			assert.Equal(t, string(v), string(got), k)
		}
	}
}

// An empty pending set is stored as the last release stored it: null for a set never filled
// or cleared, [] for one whose rows were all removed (testdata/state/release-1-pending, bytes
// written by that release's code for each case).
func TestEmptyPendingSetIsStoredAsTheLastReleaseStoredIt(t *testing.T) {
	golden := func(name string) string {
		raw, err := os.ReadFile("testdata/state/release-1-pending/" + name)
		require.NoError(t, err)
		return string(raw)
	}
	stored := func(s *details.Set) string {
		ops := pendingPart{set: s}.allOps()
		require.Len(t, ops, 1)
		assert.Equal(t, detailsPendingKey, ops[0].Key)
		return string(ops[0].Value)
	}
	assert.Equal(t, golden("empty"), stored(details.NewSet(10, 1<<20)))
	cleared := details.NewSet(10, 1<<20)
	assert.Empty(t, cleared.Restore([]details.Row{{
		TraceID: "1c7f4d5f-9a5b-4d52-8e6f-3a2b8c0d1e22", Recipient: "bob@example.com", Status: "pending",
		Received: time.Unix(0, 0).UTC(), Added: time.Unix(0, 0).UTC(),
	}}))
	cleared.Clear()
	assert.Equal(t, golden("cleared"), stored(cleared))
	raw, err := json.Marshal(encodePending([]details.Row{}))
	require.NoError(t, err)
	assert.Equal(t, golden("emptied"), string(raw), "a set whose rows were all removed holds an empty, not a nil, list")

	// Each loads back as an empty set.
	for _, name := range []string{"empty", "cleared", "emptied"} {
		client := storedClient(t, map[string][]byte{detailsPendingKey: []byte(golden(name))})
		s, dropped, err := loadPendingDetails(context.Background(), client, 10, 1<<20)
		require.NoError(t, err, name)
		assert.Empty(t, dropped, name)
		assert.Empty(t, s.Entries(), name)
	}
}
