package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
)

// The collector starts its receivers one after the other. With the storage client opened and the
// checkpoint loaded in Start, the last of 1,000 tenants began polling 3.8 s after the first, and
// its catch-up was late by as much (BENCHMARKS.md, issue 15): not for the disk (a new bbolt file
// opens in 0.35 ms) but because every Start waited its turn while the tenants started before it
// were already polling on the same cores. So Start only checks that the storage extension exists,
// which is what a configuration mistake breaks; each receiver's own goroutine opens its client and
// loads its checkpoint before its first poll, all tenants at once.

// begin is what Start does in the caller's goroutine: the storage extension checked, the clients
// built; it returns the context the poll loop runs under.
func (r *messageTraceReceiver) begin(ctx context.Context, host component.Host) (context.Context, storage.Extension, error) {
	ext, err := r.storageExtension(host)
	if err != nil {
		return nil, nil, err
	}
	runCtx, err := r.prepareClients(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	return runCtx, ext, nil
}

// loadThenRun is the receiver's goroutine: it loads the state, retrying a storage client that
// cannot be opened (a locked or unreadable file) as a setup problem, and then polls.
func (r *messageTraceReceiver) loadThenRun(ctx context.Context, ext storage.Extension) {
	for {
		err := r.loadState(ctx, ext)
		if err == nil {
			r.run(ctx) // closes r.done
			return
		}
		if ctx.Err() != nil || r.sleep(ctx, r.afterFailure(&setupError{msg: err.Error()})) != nil {
			close(r.done)
			return
		}
	}
}

// storageExtension finds the configured storage extension; nil when none is configured.
func (r *messageTraceReceiver) storageExtension(host component.Host) (storage.Extension, error) {
	if r.cfg.StorageID == nil {
		return nil, nil
	}
	ext, ok := host.GetExtensions()[*r.cfg.StorageID]
	if !ok {
		return nil, fmt.Errorf("`storage`: extension %q is not configured: add it under extensions and service::extensions", r.cfg.StorageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("`storage`: extension %q is not a storage extension (use e.g. file_storage)", r.cfg.StorageID)
	}
	return se, nil
}

// loadState opens this receiver's storage client (an in-memory stand-in with a warning when none
// is configured) and loads the checkpoint, the remembered rows and the rows waiting for details.
func (r *messageTraceReceiver) loadState(ctx context.Context, ext storage.Extension) error {
	if ext == nil {
		r.set.Logger.Warn("no `storage` configured: the checkpoint is kept in memory only, so a restart re-reads from initial_lookback and emits those rows again; set storage: file_storage to keep it")
		r.disk.client = storage.NewNopClient()
	} else if err := r.disk.openStorage(ctx, ext); err != nil {
		return err
	}
	r.loadStored(ctx)
	if g, ok := r.disk.client.(*guardedClient); ok && g.faulted() && r.disk.recoverStorage(ctx, errStorageFault) {
		// The file passed the check but faulted while being read: the new file holds the
		// state copy (restored by recoverStorage's caller below), loaded like a stored one.
		r.disk.restoreStateCopy(ctx)
		r.loadStored(ctx)
	}
	r.disk.stampStorageFile()
	return nil
}

// loadStored loads the checkpoint, the remembered rows and the rows waiting for details from
// the storage client.
func (r *messageTraceReceiver) loadStored(ctx context.Context) {
	fresh := r.state.load(ctx, r.disk.client, r.now(), r.settled.planner.oldest(r.now()))
	r.details = r.openDetails(ctx, fresh)
}

// openDetails loads the pending set into the state and returns the details' queue (noDetails
// while details are off). A fresh checkpoint (reset, other tenant) starts with an empty set,
// since the rows will be read and queued again.
func (r *messageTraceReceiver) openDetails(ctx context.Context, fresh bool) detailsQueue {
	if !r.cfg.Details.Enabled {
		return noDetails{}
	}
	d := r.cfg.Details
	pending, dropped, err := loadPendingDetails(ctx, r.disk.client, d.MaxPending, d.MaxPendingBytes)
	if err != nil {
		r.set.Logger.Warn("ignoring the stored rows waiting for details; their details will not be fetched", zap.Error(err))
	}
	w := &detailsWiring{
		share:  newRequestBudget(d.MaxRequestsPerWindow, r.cfg.RequestBudget.Interval, r.now),
		client: r.client, builder: r.builder, tag: d.Tag, consume: r.consume, now: func() time.Time { return r.now() },
	}
	w.run = details.New(details.Settings{
		Config:  details.Config{Wants: d.wants, MaxPerPoll: d.MaxPerPoll, MaxAttempts: d.MaxAttempts, MaxWait: d.MaxWait},
		Pending: pending, Client: w, Sink: w, Save: r.disk.save, Now: w.now, Logger: r.set.Logger, Telemetry: r.telemetry,
	})
	if len(dropped) > 0 {
		w.run.NotFetched(ctx, details.ReasonInvalid, dropped, "stored rows waiting for details failed their checks or exceed the bounds")
	}
	if fresh {
		pending.Clear()
	}
	r.state.pending = pending
	// Opt-in and costly (one request of the tenant's shared quota per row), so said at start.
	r.set.Logger.Warn("details enrichment is on: every row of the chosen statuses costs one request of the tenant's quota, "+
		"shared with the list, other tools and people",
		zap.Strings("statuses", d.Statuses), zap.Int("max_requests_per_window", d.MaxRequestsPerWindow),
		zap.Duration("window", r.cfg.RequestBudget.Interval), zap.Int("pending", len(pending.Entries())))
	return w
}
