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
func (sf *stateStorage) save(ctx context.Context) {
	sf.checkBeforeSave(ctx)
	if sf.state.store.client == nil && !sf.recoverStorage(ctx, errStorageFault) {
		sf.logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next page", zap.Error(errStorageFault))
		return
	}
	err := sf.state.write(ctx)
	if errors.Is(err, errStorageFault) {
		if sf.recoverStorage(ctx, err) {
			err = sf.state.write(ctx)
		} else {
			sf.state.store.client = nil
		}
	}
	if err != nil {
		sf.logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next page", zap.Error(err))
		return
	}
	sf.stampStorageFile()
	sf.state.saved(sf.now())
	sf.state.seen.observe(ctx, sf.telemetry)
	sf.writeStateCopy(false)
}

// saveEmpty stores the progress over a range without rows when its schedule says so
// (receiverState.holdEmpty).
func (sf *stateStorage) saveEmpty(ctx context.Context) {
	if sf.state.holdEmpty(sf.now()) {
		return
	}
	sf.save(ctx)
}

// saveUnsaved stores what saveEmpty held back, when the poll loop ends (Shutdown); the storage
// client is still open then.
func (sf *stateStorage) saveUnsaved() {
	if !sf.state.unsaved {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sf.save(ctx)
}
