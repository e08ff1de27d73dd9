package messagetracereceiver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

// gatedStorage is a storage extension whose clients open only once the gate is open, like a
// disk that is slow to create and sync a file; the first failFirst opens fail.
type gatedStorage struct {
	*storagetest.TestStorage
	gate      chan struct{}
	opening   atomic.Int32
	failFirst atomic.Int32
}

func (g *gatedStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	g.opening.Add(1)
	defer g.opening.Add(-1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if g.failFirst.Add(-1) >= 0 {
		return nil, errors.New("the file is locked by another process")
	}
	return g.TestStorage.GetClient(ctx, kind, id, name)
}

// startTenant creates a receiver for a fake tenant holding rows, with storage behind g, and
// starts it the way the collector does.
func startTenant(t *testing.T, i int, g *gatedStorage, sink *consumertest.LogsSink, sleep func(context.Context, time.Duration) error) (*messageTraceReceiver, *observer.ObservedLogs, chan error) {
	h := newHarness(t, msgtracetest.Options{QuotaRequests: -1}, rowsIn(int64(200+i), 30, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1}))
	id := storagetest.NewStorageID("gated")
	h.cfg.StorageID = &id
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, fmt.Sprintf("t%d", i))
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	r, err := newReceiver(set, h.cfg, sink)
	require.NoError(t, err)
	r.retry = fastRetry
	if sleep != nil {
		r.sleep = sleep
	}
	started := make(chan error, 1)
	host := storagetest.NewStorageHost().WithExtension(id, g)
	go func() { started <- r.Start(context.Background(), host) }()
	t.Cleanup(func() { assert.NoError(t, r.Shutdown(context.Background())) })
	return r, logs, started
}

// The collector starts its receivers one after the other: a Start that waited for the storage
// client (a file created and synced per receiver) delayed every later tenant's first poll. Start
// returns while no client could be opened yet, all tenants open theirs at the same time, and
// each polls as soon as its own is open.
func TestStartDoesNotWaitForTheStorageClient(t *testing.T) {
	const tenants = 3
	g := &gatedStorage{TestStorage: storagetest.NewInMemoryStorageExtension("gated"), gate: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(g.gate)
		}
	}
	defer release() // a Start that blocks would otherwise hang the test
	sink := new(consumertest.LogsSink)
	for i := range tenants {
		_, _, started := startTenant(t, i, g, sink, nil)
		select {
		case err := <-started:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("Start of tenant %d waited for its storage client", i)
		}
	}
	require.Eventually(t, func() bool { return g.opening.Load() == tenants }, 5*time.Second, time.Millisecond,
		"every tenant opens its storage at the same time")
	assert.Zero(t, sink.LogRecordCount(), "no tenant polls before its checkpoint is loaded")
	release()
	require.Eventually(t, func() bool { return sink.LogRecordCount() == tenants*30 }, 10*time.Second, 5*time.Millisecond)
}

// A storage client that cannot be opened (a file locked by another collector) no longer fails
// the collector's start: the receiver reports it as a setup problem and tries again.
func TestStorageThatCannotBeOpenedIsRetried(t *testing.T) {
	g := &gatedStorage{TestStorage: storagetest.NewInMemoryStorageExtension("gated"), gate: make(chan struct{})}
	close(g.gate)
	g.failFirst.Store(1)
	var sleeps atomic.Int32
	waited := make(chan time.Duration, 1)
	sleep := func(ctx context.Context, d time.Duration) error {
		if sleeps.Add(1) == 1 {
			waited <- d
			return nil // the setup back-off, shortened
		}
		return sleepCtx(ctx, d)
	}
	sink := new(consumertest.LogsSink)
	_, logs, started := startTenant(t, 0, g, sink, sleep)
	require.NoError(t, <-started)
	select {
	case d := <-waited:
		assert.Equal(t, minSetupBackoff, d, "retried after the setup back-off")
	case <-time.After(5 * time.Second):
		t.Fatal("no back-off after the storage could not be opened")
	}
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 30 }, 10*time.Second, 5*time.Millisecond)
	failed := logs.FilterMessageSnippet("setup problem").All()
	require.Len(t, failed, 1)
	assert.Contains(t, failed[0].ContextMap()["error"], "`storage`: cannot open a client of")
}
