package messagetracereceiver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap/zapcore"

	"github.com/msgtrace/otelcol-msgtrace/internal/boltcheck"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

// newFileStorage is contrib's real file_storage extension, started, keeping files in dir.
func newFileStorage(t testing.TB, dir string) storage.Extension {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext.(storage.Extension)
}

// TestStorageFileOfTheReceiver: the file the receiver verifies is the one its client writes
// (internal/storagefile pins the naming), and none is assumed for another extension.
func TestStorageFileOfTheReceiver(t *testing.T) {
	dir := t.TempDir()
	ext := newFileStorage(t, dir)
	a := tenantOnFileStorage(t, ext, nil)
	r, _ := a.tenantReceiver("a", new(consumertest.LogsSink))
	require.Equal(t, filepath.Join(dir, "receiver_office365_message_trace_a"), r.disk.path)
	r.disk.save(context.Background())
	require.NoError(t, boltcheck.Verify(r.disk.path))
	require.FileExists(t, r.disk.path+stateCopySuffix)

	other := newHarness(t, msgtracetest.Options{}, nil)
	ro, _ := other.receiver(new(consumertest.LogsSink))
	require.Empty(t, ro.disk.path)
	require.Equal(t, 1, other.logs.FilterMessageSnippet("the storage extension is not file_storage").Len())
}

// fileDamages are the four kinds of damage of issue 20, and a cut that always hits pages in
// use. A cut at 10,000 bytes is harmless when no page in use lies past it (bbolt writes free
// pages before reading them); then the receiver must go on with the file as it is.
var fileDamages = []struct {
	name     string
	harmless bool // may leave a file bbolt uses without trouble
	apply    func(t *testing.T, path string)
}{
	{"truncated to 10000 bytes", true, func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 10000)) }},
	{"truncated to the meta pages", false, func(t *testing.T, path string) {
		require.NoError(t, os.Truncate(path, int64(2*os.Getpagesize())))
	}},
	{"overwritten from 8192", false, func(t *testing.T, path string) {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		junk := make([]byte, len(raw)-8192)
		_, _ = rand.Read(junk)
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt(junk, 8192)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}},
	{"bad flags in the checkpoint's page", false, func(t *testing.T, path string) { pokeCheckpointPage(t, path, 8, 0x20) }},
	{"bad count in the checkpoint's page", false, func(t *testing.T, path string) { pokeCheckpointPage(t, path, 10, 0xFFF0) }},
}

// pokeCheckpointPage writes v at offset off of every leaf page holding the checkpoint key (the
// page in use among them; older copies may sit in freed pages), in place.
func pokeCheckpointPage(t *testing.T, path string, off int, v uint16) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	ps := os.Getpagesize()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	poked := 0
	for id := 2; (id+1)*ps <= len(raw); id++ {
		p := raw[id*ps : (id+1)*ps]
		if binary.LittleEndian.Uint64(p) == uint64(id) && binary.LittleEndian.Uint16(p[8:]) == 0x02 && strings.Contains(string(p), checkpointKey) {
			var b [2]byte
			binary.LittleEndian.PutUint16(b[:], v)
			_, err := f.WriteAt(b[:], int64(id*ps+off))
			require.NoError(t, err)
			t.Logf("poked offset %d", id*ps+off)
			poked++
		}
	}
	require.NotZero(t, poked)
}

// tenantOnFileStorage is a harness whose receiver keeps its state in the real file_storage
// extension ext (shared by the tenants of one test, as in a collector).
func tenantOnFileStorage(t *testing.T, ext storage.Extension, rows []msgtracetest.Row) *harness {
	h := newHarness(t, msgtracetest.Options{}, rows)
	id := component.MustNewID("file_storage")
	h.cfg.StorageID = &id
	h.host = storagetest.NewStorageHost().WithExtension(id, ext)
	return h
}

func (h *harness) tenantReceiver(name string, sink *consumertest.LogsSink) (*messageTraceReceiver, context.Context) {
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, name)
	return h.receiverWith(set, sink)
}

func errorLogs(h *harness, msg string) []string {
	var out []string
	for _, e := range h.logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet(msg).All() {
		out = append(out, e.ContextMap()["file"].(string)+" -> "+e.ContextMap()["moved_to"].(string))
	}
	return out
}

// TestDamagedStorageAtStart damages a tenant's file between two runs, the four ways of issue
// 20: the second start moves it aside, reports it, restores the state copy and delivers every
// row; the healthy tenant beside it on the same file_storage is untouched.
func TestDamagedStorageAtStart(t *testing.T) {
	for _, d := range fileDamages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			ext := newFileStorage(t, dir)
			rowsA := rowsIn(1, 300, msgtracetest.GenerateOptions{})
			rowsB := rowsIn(2, 300, msgtracetest.GenerateOptions{})
			a := tenantOnFileStorage(t, ext, rowsA)
			b := tenantOnFileStorage(t, ext, rowsB)
			a.cfg.PageSize = 100
			sinkA, sinkB := new(consumertest.LogsSink), new(consumertest.LogsSink)

			r, ctx := a.tenantReceiver("a", sinkA)
			require.NoError(t, r.poll(ctx))
			r.disk.writeStateCopy(true) // as the poll loop does when it ends
			require.NoError(t, r.Shutdown(context.Background()))
			rb, ctxB := b.tenantReceiver("b", sinkB)
			require.NoError(t, rb.poll(ctxB))
			require.NoError(t, rb.Shutdown(context.Background()))

			path := filepath.Join(dir, "receiver_office365_message_trace_a")
			require.FileExists(t, path+stateCopySuffix)
			d.apply(t, path)
			harmful := boltcheck.Verify(path) != nil
			require.True(t, harmful || d.harmless, "Verify found nothing")
			if !harmful {
				t.Log("the cut left every page in use: bbolt goes on with the file")
			}

			// Both tenants start again.
			status := &errorHost{Host: a.host}
			a.host = status
			r, ctx = a.tenantReceiver("a", sinkA)
			require.NoError(t, r.poll(ctx))
			rb, ctxB = b.tenantReceiver("b", sinkB)
			require.NoError(t, rb.poll(ctxB))
			require.NoError(t, boltcheck.Verify(path), "the file in use")
			requireExactlyOnce(t, rowsA, delivered(sinkA))
			requireExactlyOnce(t, rowsB, delivered(sinkB))
			moved := errorLogs(a, "the storage file is damaged: moved aside")
			matches, _ := filepath.Glob(path + ".damaged-*")
			if !harmful {
				require.Empty(t, moved)
				require.Empty(t, matches)
				return
			}
			require.Len(t, moved, 1)
			require.Contains(t, moved[0], path+" -> "+path+".damaged-")
			require.Len(t, matches, 1)
			require.Len(t, status.errs, 1, "one setup problem on the component status")
			require.Contains(t, status.errs[0], path)
			require.Contains(t, status.errs[0], matches[0])
			// The copy written when the receiver stopped is its last state: nothing is read again.
			require.Equal(t, 1, a.logs.FilterMessageSnippet("restored the state copy").Len())
		})
	}
}

// TestDamagedStorageWhileRunning damages a tenant's open file between two pages, the four ways
// of issue 20: the next save faults or panics inside bbolt, the receiver moves the file aside,
// writes its whole state to a new one and goes on; every row arrives exactly once, the healthy
// tenant beside it is untouched, and a restart resumes from the new file.
func TestDamagedStorageWhileRunning(t *testing.T) {
	for _, d := range fileDamages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			ext := newFileStorage(t, dir)
			rowsA := rowsIn(1, 300, msgtracetest.GenerateOptions{})
			rowsB := rowsIn(2, 300, msgtracetest.GenerateOptions{})
			a := tenantOnFileStorage(t, ext, rowsA)
			b := tenantOnFileStorage(t, ext, rowsB)
			a.cfg.PageSize = 50
			a.cfg.EarlyDelay = 10 * time.Minute // remembered rows too, written again in full
			a.cfg.Delay = time.Hour
			path := filepath.Join(dir, "receiver_office365_message_trace_a")

			sinkA, sinkB := new(consumertest.LogsSink), new(consumertest.LogsSink)
			pages, harmful := 0, false
			damaging := consumerFunc(func(ctx context.Context, ld plog.Logs) error {
				if pages++; pages == 3 {
					d.apply(t, path)
					harmful = boltcheck.Verify(path) != nil
					require.True(t, harmful || d.harmless, "Verify found nothing")
				}
				return sinkA.ConsumeLogs(ctx, ld)
			})
			set := receivertest.NewNopSettings(metadata.Type)
			set.ID = component.NewIDWithName(metadata.Type, "a")
			r, ctx := a.receiverWith(set, damaging)
			rb, ctxB := b.tenantReceiver("b", sinkB)
			require.NoError(t, r.poll(ctx))
			require.NoError(t, rb.poll(ctxB))
			require.Greater(t, pages, 3)

			matches, _ := filepath.Glob(path + ".damaged-*")
			if harmful {
				require.Len(t, errorLogs(a, "the storage file is damaged: moved aside"), 1)
				require.Len(t, matches, 1)
			} else {
				t.Log("the cut left every page in use: bbolt goes on with the file")
				require.Empty(t, matches)
			}
			require.NoError(t, boltcheck.Verify(path), "the file in use")
			requireExactlyOnce(t, rowsA, delivered(sinkA))
			requireExactlyOnce(t, rowsB, delivered(sinkB))

			// A restart reads the new file: nothing is emitted again.
			require.NoError(t, r.Shutdown(context.Background()))
			again := new(consumertest.LogsSink)
			r2, ctx2 := a.tenantReceiver("a", again)
			require.NoError(t, r2.poll(ctx2))
			require.Empty(t, delivered(again))
			require.Zero(t, a.logs.FilterMessageSnippet("damaged").Len())
		})
	}
}

// errorHost records the errors of the status events a component reports.
type errorHost struct {
	component.Host
	errs []string
}

func (h *errorHost) Report(e *componentstatus.Event) {
	if e.Status() == componentstatus.StatusPermanentError {
		h.errs = append(h.errs, e.Err().Error())
	}
}

// TestDamagedStorageWithoutCopy: a damaged file and no usable copy: the tenant starts from
// initial_lookback (every row again, none lost) and an error says so.
func TestDamagedStorageWithoutCopy(t *testing.T) {
	dir := t.TempDir()
	ext := newFileStorage(t, dir)
	rowsA := rowsIn(1, 100, msgtracetest.GenerateOptions{})
	a := tenantOnFileStorage(t, ext, rowsA)
	sink := new(consumertest.LogsSink)
	r, ctx := a.tenantReceiver("a", sink)
	require.NoError(t, r.poll(ctx))
	require.NoError(t, r.Shutdown(context.Background()))
	path := filepath.Join(dir, "receiver_office365_message_trace_a")
	require.NoError(t, os.Truncate(path, 10000))
	require.NoError(t, os.WriteFile(path+stateCopySuffix, []byte(`{"v":1,"receiver":"office365_message_trace/a","saved":"2999-01-01T00:00:00Z"}`), 0o600))

	r, ctx = a.tenantReceiver("a", sink)
	require.Equal(t, 1, a.logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("no usable state copy").Len())
	require.NoError(t, r.poll(ctx))
	got := map[string]int{}
	for _, k := range delivered(sink) {
		got[k]++
	}
	for _, k := range keysOf(rowsA) {
		require.Equal(t, 2, got[k], "row %s: once before the damage, once from initial_lookback", k)
	}
}

func TestStateCopyChecks(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const recv = "office365_message_trace/a"
	for name, tc := range map[string]struct {
		body string
		want string
	}{
		"sound":            {`{"v":1,"receiver":"` + recv + `","saved":"2026-12-07T11:59:00Z","entries":[{"k":"message_trace_checkpoint","v":"e30="}]}`, ""},
		"not json":         {`{"v":1,`, "not a state copy"},
		"other version":    {`{"v":2,"receiver":"` + recv + `","saved":"2026-12-07T11:59:00Z"}`, "version 2"},
		"other receiver":   {`{"v":1,"receiver":"office365_message_trace/b","saved":"2026-12-07T11:59:00Z"}`, "receiver"},
		"in the future":    {`{"v":1,"receiver":"` + recv + `","saved":"2026-12-08T12:00:00Z"}`, "future"},
		"a key not ours":   {`{"v":1,"receiver":"` + recv + `","saved":"2026-12-07T11:59:00Z","entries":[{"k":"other","v":"e30="}]}`, "unknown key"},
		"larger than 64MB": {`{"v":1,"receiver":"` + recv + `","entries":[{"k":"message_trace_checkpoint","v":"` + strings.Repeat("A", maxStateCopyBytes) + `"}]}`, "larger than"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			c, err := readStateCopy(p, recv, now)
			if tc.want == "" {
				require.NoError(t, err)
				require.Len(t, c.Entries, 1)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := readStateCopy(filepath.Join(dir, "absent"), recv, now)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestStateCopyAtMostEveryMinute: the copy follows saves at most once a minute, and a stop
// writes it whatever its age.
func TestStateCopyAtMostEveryMinute(t *testing.T) {
	dir := t.TempDir()
	ext := newFileStorage(t, dir)
	a := tenantOnFileStorage(t, ext, rowsIn(1, 20, msgtracetest.GenerateOptions{}))
	r, ctx := a.tenantReceiver("a", new(consumertest.LogsSink))
	require.NoError(t, r.poll(ctx))
	path := r.disk.stateCopyPath()
	savedAt := func() time.Time {
		c, err := readStateCopy(path, r.set.ID.String(), time.Now().Add(time.Hour))
		require.NoError(t, err)
		return c.Saved
	}
	first := savedAt()
	clock := time.Now()
	r.now = func() time.Time { return clock }
	clock = first.Add(30 * time.Second)
	r.disk.save(ctx)
	require.Equal(t, first, savedAt(), "30 s later: not written again")
	clock = first.Add(61 * time.Second)
	r.disk.save(ctx)
	require.Equal(t, clock.UTC().Truncate(time.Nanosecond), savedAt().UTC(), "61 s later: written")
	clock = clock.Add(time.Second)
	r.disk.writeStateCopy(true)
	require.Equal(t, clock.UTC(), savedAt().UTC(), "at a stop: written")
}

// TestStorageFileDeletedWhileRunning: a file removed under a running receiver (bbolt would go
// on writing into the deleted inode, lost at the next restart) is replaced at the next save by
// a new file holding the whole state; a restart then emits nothing again.
func TestStorageFileDeletedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	ext := newFileStorage(t, dir)
	rows := rowsIn(1, 300, msgtracetest.GenerateOptions{})
	a := tenantOnFileStorage(t, ext, rows)
	a.cfg.PageSize = 50
	a.cfg.EarlyDelay = 10 * time.Minute
	path := filepath.Join(dir, "receiver_office365_message_trace_a")
	sink := new(consumertest.LogsSink)
	pages := 0
	deleting := consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if pages++; pages == 3 {
			require.NoError(t, os.Remove(path))
		}
		return sink.ConsumeLogs(ctx, ld)
	})
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "a")
	r, ctx := a.receiverWith(set, deleting)
	require.NoError(t, r.poll(ctx))
	require.Equal(t, 1, a.logs.FilterMessageSnippet("the storage file disappeared").Len())
	require.NoError(t, boltcheck.Verify(path))
	requireExactlyOnce(t, rows, delivered(sink))
	require.NoError(t, r.Shutdown(context.Background()))

	again := new(consumertest.LogsSink)
	r2, ctx2 := a.tenantReceiver("a", again)
	require.NoError(t, r2.poll(ctx2))
	require.Empty(t, delivered(again))
}
