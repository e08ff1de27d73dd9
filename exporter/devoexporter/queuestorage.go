package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// Issue 20 item 6: exporterhelper's persistent queue (v0.165.0, persistentQueue.getNextItem)
// reads the next request in one storage batch together with the write of its new read
// position. When that write fails (a full disk, file_storage's max_size) it drops the request
// at debug level and goes on to the next one, so a queue read on a full disk discards
// everything it holds: the rows the receiver had checkpointed are gone, and nothing says so.
//
// queueHost hands exporterhelper's queue a storage client that keeps the read: when a batch
// that reads fails, the reads are done again on their own (a read needs no new space) and the
// batch counts as done. The request is then sent from memory while the queue's position on
// disk still lists it as unread, so a crash before the position is next written sends it
// again (a duplicate), and nothing is lost. Writes that fail on their own still fail: a failed
// enqueue returns its error to the sender (the receiver keeps its checkpoint and fetches the
// page again), and a failed delete leaves the request on disk, sent again after a restart.

// queueHost is the host exporterhelper's queue sees: the collector's host with the storage
// extension the queue uses wrapped. The exporter's own start unwraps it.
type queueHost struct {
	component.Host
	storageID component.ID
	logger    *zap.Logger
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
	out[h.storageID] = readKeepingExtension{Extension: se, logger: h.logger}
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
	logger *zap.Logger
}

func (e readKeepingExtension) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := e.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	return &readKeepingClient{Client: c, logger: e.logger}, nil
}

// readKeepingClient is a storage client whose batches that read never fail only because
// their writes failed (see the top of this file).
type readKeepingClient struct {
	storage.Client
	logger *zap.Logger
	// failing is true from a kept read until a batch with writes succeeds again: one warning
	// per episode, not one per request.
	failing atomic.Bool
}

func (c *readKeepingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	err := c.Client.Batch(ctx, ops...)
	writes := false
	var reads []*storage.Operation
	for _, op := range ops {
		if op.Type == storage.Get {
			reads = append(reads, op)
		} else {
			writes = true
		}
	}
	if err == nil {
		if writes && c.failing.CompareAndSwap(true, false) {
			c.logger.Warn("the persistent sending queue's storage takes writes again")
		}
		return nil
	}
	if !writes || len(reads) == 0 {
		return err
	}
	for _, op := range reads {
		op.Value = nil
	}
	if rerr := c.Client.Batch(ctx, reads...); rerr != nil {
		return err
	}
	if !c.failing.Swap(true) {
		c.logger.Warn("the persistent sending queue cannot write its position (is the disk full?): queued rows are still sent, and sent again after a crash until the storage takes writes again",
			zap.Error(err))
	}
	return nil
}
