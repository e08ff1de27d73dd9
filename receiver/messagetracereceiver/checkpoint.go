package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// save stores the checkpoint and the rest of the state in one batch. A storage file that faults
// or panics is replaced and the whole state, held in memory, written to the new one
// (storagefile.go); the state copy beside it follows (statecopy.go).
func (r *messageTraceReceiver) save(ctx context.Context) {
	r.disk.checkBeforeSave(ctx)
	if r.state.store.client == nil && !r.disk.recoverStorage(ctx, errStorageFault) {
		r.set.Logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next page", zap.Error(errStorageFault))
		return
	}
	err := r.state.write(ctx)
	if errors.Is(err, errStorageFault) {
		if r.disk.recoverStorage(ctx, err) {
			err = r.state.write(ctx)
		} else {
			r.state.store.client = nil
		}
	}
	if err != nil {
		r.set.Logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next page", zap.Error(err))
		return
	}
	r.disk.stampStorageFile()
	r.state.saved(r.now())
	r.state.seen.observe(ctx, r.telemetry)
	r.disk.writeStateCopy(false)
}

// saveEmpty stores the progress over a range without rows when its schedule says so
// (receiverState.holdEmpty).
func (r *messageTraceReceiver) saveEmpty(ctx context.Context) {
	if r.state.holdEmpty(r.now()) {
		return
	}
	r.save(ctx)
}

// saveUnsaved stores what saveEmpty held back, when the poll loop ends (Shutdown); the storage
// client is still open then.
func (r *messageTraceReceiver) saveUnsaved() {
	if !r.state.unsaved {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.save(ctx)
}
