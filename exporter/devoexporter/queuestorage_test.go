package devoexporter

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadatatest"
	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

// fullDisk is a storage extension whose batches with writes fail with ENOSPC while full is
// set, as file_storage's do on a full volume (bbolt fails the whole transaction, its reads
// included); batches that only read still succeed, as they need no new pages.
type fullDisk struct {
	*storagetest.TestStorage
	full  *atomic.Bool
	inner *atomic.Pointer[storage.Client] // the last client handed out, without the faults
}

func newFullDisk() fullDisk {
	return fullDisk{TestStorage: storagetest.NewInMemoryStorageExtension("queue"), full: &atomic.Bool{}, inner: &atomic.Pointer[storage.Client]{}}
}

func (f fullDisk) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := f.TestStorage.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	f.inner.Store(&c)
	return fullDiskClient{Client: c, full: f.full}, nil
}

type fullDiskClient struct {
	storage.Client
	full *atomic.Bool
}

func (c fullDiskClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if c.full.Load() {
		for _, op := range ops {
			if op.Type != storage.Get {
				return fmt.Errorf("write: %w", syscall.ENOSPC)
			}
		}
	}
	return c.Client.Batch(ctx, ops...)
}

func (c fullDiskClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c fullDiskClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c fullDiskClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

// Issue 20 item 6: requests in a persistent queue that is read while its disk is full are
// delivered once space is back, none dropped (exporterhelper alone drops every one of them).
func TestPersistentQueueReadOnFullDiskLosesNothing(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.TimeoutConfig.Timeout = time.Second
	cfg.BackOff.InitialInterval, cfg.BackOff.MaxInterval = 50*time.Millisecond, 100*time.Millisecond
	ext := newFullDisk()
	q := cfg.Queue.Get()
	q.StorageID, q.WaitForResult = &ext.ID, false
	// One consumer, no batching: one request is in flight while the others wait in the queue,
	// so the queue is read (again) only once Devo takes the first one.
	q.NumConsumers = 1
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()

	core, logs := observer.New(zap.WarnLevel)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	set.Logger = zap.New(core)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	require.NoError(t, exp.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	// Devo stalls with the first request in flight; ten more are queued (on disk).
	s.PauseReading()
	const perRequest, requests = 100, 11
	for i := range requests {
		require.NoError(t, exp.ConsumeLogs(context.Background(), numbered(i*perRequest, perRequest)))
	}
	require.Eventually(t, func() bool { return s.Stats().Handshakes >= 1 }, 10*time.Second, 10*time.Millisecond,
		"the first request is being sent")
	// The disk fills up, then Devo reads again: the queue is read while nothing can be written.
	ext.full.Store(true)
	s.ResumeReading()
	require.Eventually(t, func() bool { return s.EventCount() >= perRequest*requests },
		20*time.Second, 50*time.Millisecond, "rows at Devo: %d of %d", s.EventCount(), perRequest*requests)
	ext.full.Store(false)

	got := map[string]int{}
	for _, ev := range s.Events() {
		got[ev.Message[:10]]++
	}
	for i := range perRequest * requests {
		assert.NotZero(t, got[fmt.Sprintf("id-%07d", i)], "row %d lost", i)
	}
	assert.Len(t, logs.FilterMessageSnippet("cannot write its position").All(), 1, "one warning for the episode")

	// The delivered requests whose delete failed on the full disk are deleted once the storage
	// takes writes again (the next enqueue's probe), so they do not keep their space for good.
	require.NoError(t, exp.ConsumeLogs(context.Background(), numbered(perRequest*requests, 1)))
	require.Eventually(t, func() bool { return s.EventCount() > perRequest*requests }, 10*time.Second, 20*time.Millisecond)
	inner := *ext.inner.Load()
	for i := range requests {
		v, err := inner.Get(context.Background(), strconv.Itoa(i))
		require.NoError(t, err)
		assert.Nil(t, v, "delivered request %d still in the storage", i)
	}
}

// Issue 20 item 5: a Devo that stops reading does not hold the shutdown for `timeout` (30 s by
// default) per push, and the rows of the push cut short stay in the persistent queue: a
// collector started again on the same storage delivers them.
func TestShutdownWithStalledDevoIsPromptAndKeepsQueuedRows(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.TimeoutConfig.Timeout = 30 * time.Second // the default: what a stalled push waits
	dir := t.TempDir()
	ext := storagetest.NewFileBackedStorageExtension("queue", dir)
	q := cfg.Queue.Get()
	q.StorageID, q.WaitForResult = &ext.ID, false
	start := func() (exp interface {
		ConsumeLogs(context.Context, plog.Logs) error
		Shutdown(context.Context) error
	},
	) {
		tt := componenttest.NewTelemetry()
		t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
		e, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
		require.NoError(t, err)
		require.NoError(t, e.Start(context.Background(), storagetest.NewStorageHost().WithExtension(ext.ID, ext)))
		return e
	}

	s.PauseReading()
	exp := start()
	require.NoError(t, exp.ConsumeLogs(context.Background(), numbered(0, 3000)))
	require.Eventually(t, func() bool { return s.Stats().Handshakes >= 1 }, 10*time.Second, 10*time.Millisecond,
		"the push is on its way to the stalled Devo")
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	took := time.Since(began)
	assert.Less(t, took, 5*time.Second, "shutdown waited for the stalled push")
	t.Logf("shutdown with a push stalled at Devo took %v", took.Round(10*time.Millisecond))

	s.ResumeReading()
	before := s.EventCount()
	exp = start()
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	require.Eventually(t, func() bool { return distinct(s.Events()) == 3000 }, 20*time.Second, 50*time.Millisecond,
		"after the restart: %d of 3000 distinct rows (%d events before it)", distinct(s.Events()), before)
}

// With the defaults (in-memory queue, waiting for the result), shutting down while Devo stalls
// is as prompt, and the sender learns that its rows were not delivered (so a receiver keeps its
// checkpoint before them).
func TestShutdownWithStalledDevoIsPromptWithDefaults(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.TimeoutConfig.Timeout = 30 * time.Second
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	s.PauseReading()
	defer s.ResumeReading()
	returned := make(chan error, 1)
	go func() { returned <- exp.ConsumeLogs(context.Background(), numbered(0, 3000)) }()
	require.Eventually(t, func() bool { return s.Stats().Handshakes >= 1 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Less(t, time.Since(began), 5*time.Second, "shutdown waited for the stalled push")
	select {
	case err := <-returned:
		require.Error(t, err, "the rows were not confirmed")
	case <-time.After(5 * time.Second):
		t.Fatal("ConsumeLogs still waiting after the shutdown")
	}
}

func distinct(events []devotest.Event) int {
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.Message[:10]] = true
	}
	return len(seen)
}

// countingStorage counts the queue items written (keys that are item indexes).
type countingStorage struct {
	*storagetest.TestStorage
	items *atomic.Int64
}

func (c countingStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	cl, err := c.TestStorage.GetClient(ctx, kind, id, name)
	return countingClient{Client: cl, items: c.items}, err
}

type countingClient struct {
	storage.Client
	items *atomic.Int64
}

func (c countingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if _, err := strconv.Atoi(op.Key); err == nil && op.Type == storage.Set {
			c.items.Add(1)
		}
	}
	return c.Client.Batch(ctx, ops...)
}

// Issue 20 item 5: a 5,000-row page goes into a persistent queue as five requests of 1,000
// rows (one ~4 MB value fragmented the queue file and was unmarshalled at once), and all of it
// is delivered.
func TestPersistentQueueStoresPagesInParts(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	ext := countingStorage{TestStorage: storagetest.NewInMemoryStorageExtension("queue"), items: &atomic.Int64{}}
	q := cfg.Queue.Get()
	q.StorageID, q.WaitForResult = &ext.ID, false
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), storagetest.NewStorageHost().WithExtension(ext.ID, ext)))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	require.NoError(t, exp.ConsumeLogs(context.Background(), numbered(0, 5000)))
	assert.Equal(t, int64(5), ext.items.Load(), "queued requests")
	require.Eventually(t, func() bool { return distinct(s.Events()) == 5000 }, 20*time.Second, 50*time.Millisecond)
}

// Issue 20 item 6: enqueues that fail on a full disk do not jam the queue. exporterhelper keeps
// the size of a request whose write failed, so once those sizes pass queue_size every later
// Offer waits for space forever, even with the disk free again and the queue empty.
func TestPersistentQueueFailedEnqueuesDoNotJam(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	ext := newFullDisk()
	q := cfg.Queue.Get()
	q.StorageID, q.WaitForResult = &ext.ID, false
	q.QueueSize = 64 << 10 // a few failed requests of ~14 KB exceed it
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), storagetest.NewStorageHost().WithExtension(ext.ID, ext)))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	ext.full.Store(true)
	for range 20 { // a receiver offering its page at every poll while the disk is full
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		require.Error(t, exp.ConsumeLogs(ctx, numbered(0, 100)), "the disk is full")
		cancel()
	}
	ext.full.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, exp.ConsumeLogs(ctx, numbered(0, 100)), "the queue takes rows again once the disk has space")
	require.Eventually(t, func() bool { return distinct(s.Events()) == 100 }, 10*time.Second, 50*time.Millisecond)
}
