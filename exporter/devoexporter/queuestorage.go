package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// Issue 20 item 6: two failures of exporterhelper's persistent queue (v0.165.0) when its
// storage cannot be written (a full disk, file_storage's max_size):
//
//   - Reads drop requests. persistentQueue.getNextItem reads the next request in one storage
//     batch with the write of its new read position and, when that write fails, drops the
//     request at debug level and goes on to the next: a queue read on a full disk discards
//     everything it holds, rows the receiver had checkpointed (measured: 13,000-20,000 of
//     30,000 rows lost in 4 of 4 runs of TestFullDiskPersistentQueueLosesNothing).
//   - A failed enqueue jams the queue. Offer counts the request's size before the write and
//     keeps it when the write fails, and the index it skipped is read only after the next
//     successful enqueue. Once the sizes kept exceed queue_size (the receiver offers the page
//     again at every poll), every Offer waits for space that never comes: rows stay at
//     Microsoft, and nothing is delivered until a restart.
//   - A failed delete is forgotten. A delivered request whose delete fails on a full disk keeps
//     its space in the file for good (nothing reads it again); on a small volume those fill it,
//     and the queue stays unwritable after the space the operator freed is used up.
//
// The queue's storage client is wrapped (queueHost). A batch that reads and fails is read again
// on its own (a read needs no new space) and counts as done: the request is sent from memory
// while its position on disk still lists it as unread, so a crash before the position is next
// written sends it again (a duplicate), never loses it. And once a write failed, the exporter
// offers nothing to the queue until a probe as large as the request was written (and removed):
// the request is refused before exporterhelper counts it, the sender keeps it (the receiver
// keeps its checkpoint and fetches the page again), and at most one enqueue per episode fails
// inside exporterhelper. Deletes that failed are done again once the storage takes writes.

// queueStorage is what the exporter knows of its persistent queue's storage client.
type queueStorage struct {
	logger *zap.Logger
	client atomic.Pointer[readKeepingClient] // set when exporterhelper's queue opens it
}

// probeKey is written and removed by writable; exporterhelper's queue never reads it.
const probeKey = "devo_exporter_write_probe"

// writable returns nil when the queue's storage takes writes, as far as is known: after a
// failed write it writes (and removes) a probe of size bytes first.
func (q *queueStorage) writable(ctx context.Context, size int) error {
	c := q.client.Load()
	if c == nil || !c.failing.Load() {
		return nil
	}
	if err := c.Client.Batch(ctx, storage.SetOperation(probeKey, make([]byte, size))); err != nil {
		return err
	}
	_ = c.Client.Batch(ctx, storage.DeleteOperation(probeKey))
	c.deletePending(ctx)
	if c.failing.CompareAndSwap(true, false) {
		q.logger.Warn("the persistent sending queue's storage takes writes again")
	}
	return nil
}

// queueHost is the host exporterhelper's queue sees: the collector's host with the storage
// extension the queue uses wrapped. The exporter's own start unwraps it.
type queueHost struct {
	component.Host
	storageID component.ID
	queue     *queueStorage
}

func (h queueHost) GetExtensions() map[component.ID]component.Component {
	exts := h.Host.GetExtensions()
	ext, ok := exts[h.storageID]
	if !ok {
		return exts
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return exts // exporterhelper reports the wrong type itself
	}
	out := make(map[component.ID]component.Component, len(exts))
	for id, c := range exts {
		out[id] = c
	}
	out[h.storageID] = readKeepingExtension{Extension: se, queue: h.queue}
	return out
}

// unwrapHost returns the collector's host behind a queueHost.
func unwrapHost(host component.Host) component.Host {
	if h, ok := host.(queueHost); ok {
		return h.Host
	}
	return host
}

type readKeepingExtension struct {
	storage.Extension
	queue *queueStorage
}

func (e readKeepingExtension) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := e.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	rc := &readKeepingClient{Client: c, logger: e.queue.logger}
	e.queue.client.Store(rc)
	return rc, nil
}

// readKeepingClient is a storage client whose batches that read never fail only because
// their writes failed (see the top of this file).
type readKeepingClient struct {
	storage.Client
	logger *zap.Logger
	// failing is set by a failed write and cleared by queueStorage.writable's probe: one
	// warning per episode, and no enqueue while it is set.
	failing atomic.Bool

	// pending are the keys of delivered requests whose delete failed: exporterhelper forgets
	// them (they would keep their space in the file for good, and on a small volume keep it
	// full), so they are deleted again once the storage takes writes.
	mu      sync.Mutex
	pending []string
}

// maxPendingDeletes bounds pending: beyond it a request's space stays in the file (no row is
// at stake, only disk space).
const maxPendingDeletes = 100_000

func (c *readKeepingClient) deletePending(ctx context.Context) {
	c.mu.Lock()
	keys := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	ops := make([]*storage.Operation, len(keys))
	for i, k := range keys {
		ops[i] = storage.DeleteOperation(k)
	}
	if err := c.Client.Batch(ctx, ops...); err != nil {
		c.mu.Lock()
		c.pending = append(keys, c.pending...)[:min(len(keys)+len(c.pending), maxPendingDeletes)]
		c.mu.Unlock()
	}
}

func (c *readKeepingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	err := c.Client.Batch(ctx, ops...)
	writes := false
	var reads []*storage.Operation
	var deletes []string
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			reads = append(reads, op)
		case storage.Delete:
			deletes = append(deletes, op.Key)
			writes = true
		default:
			writes = true
		}
	}
	if err == nil {
		if writes {
			c.deletePending(ctx)
		}
		return nil
	}
	if !writes {
		return err
	}
	if len(deletes) > 0 {
		c.mu.Lock()
		if len(c.pending)+len(deletes) <= maxPendingDeletes {
			c.pending = append(c.pending, deletes...)
		}
		c.mu.Unlock()
	}
	if !c.failing.Swap(true) {
		c.logger.Warn("the persistent sending queue cannot write its position (is the disk full?): queued rows are still sent, and sent again after a crash until the storage takes writes again",
			zap.Error(err))
	}
	if len(reads) == 0 {
		return err
	}
	for _, op := range reads {
		op.Value = nil
	}
	if rerr := c.Client.Batch(ctx, reads...); rerr != nil {
		return err
	}
	return nil
}
