package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"encoding/json"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// receiverState is what survives a restart, held in memory: the checkpoint, the rows
// remembered between the passes and the rows waiting for details, and when they were last
// stored. Its stored layout is in persisted.go; where it is stored, and what happens when that
// file is damaged, in storagefile.go and statecopy.go.
type receiverState struct {
	cfg    *Config
	logger *zap.Logger

	store *checkpointStore // nil until load
	cp    *checkpoint
	// seen is what was emitted per row; noRows without an early pass, where no range is read
	// twice.
	seen rowMemory
	// pending are the rows waiting for details; nil unless details.enabled (details.go).
	pending *pendingDetails

	savedAt time.Time // last stored (save, holdEmpty)
	unsaved bool      // progress over empty ranges not stored yet
}

// rowMemory is what was emitted for each row, remembered until the settled pass is past it
// (seen.go).
type rowMemory interface {
	// lookup returns the status last emitted for the row, or statusUnknown.
	lookup(r *tracepage.Row) uint8
	rememberAll(recs []traceRecord)
	forgetBefore(t time.Time)
	// observe records how many rows are remembered and the bytes they take in storage.
	observe(ctx context.Context, tb *metadata.TelemetryBuilder)
	statePart
}

// statePart is a part of the state stored in the checkpoint's batch.
type statePart interface {
	saveOps() []*storage.Operation // what changed since the last save
	allOps() []*storage.Operation  // everything (the state copy)
	saved()
	markAllUnsaved() // the next saveOps writes everything (to a new storage file)
}

// noRows is the memory of a receiver without an early pass: no row is read twice, so none is
// remembered.
type noRows struct{}

func (noRows) lookup(*tracepage.Row) uint8                         { return statusUnknown }
func (noRows) rememberAll([]traceRecord)                           {}
func (noRows) forgetBefore(time.Time)                              {}
func (noRows) observe(context.Context, *metadata.TelemetryBuilder) {}
func (noRows) saveOps() []*storage.Operation                       { return nil }
func (noRows) allOps() []*storage.Operation                        { return nil }
func (noRows) saved()                                              {}
func (noRows) markAllUnsaved()                                     {}

func newReceiverState(cfg *Config, logger *zap.Logger) *receiverState {
	return &receiverState{cfg: cfg, logger: logger, seen: noRows{}}
}

// load reads the checkpoint and the remembered rows from client; it reports a fresh checkpoint
// (none stored, or one of another configuration), which starts initial_lookback ago. oldest
// is the oldest start the API accepts now.
func (s *receiverState) load(ctx context.Context, client storage.Client, now, oldest time.Time) (fresh bool) {
	s.store = &checkpointStore{client: client}
	s.cp, fresh = s.loadCheckpoint(ctx, now, oldest)
	if s.cfg.EarlyDelay > 0 {
		seen, err := loadSeenState(ctx, client)
		if err != nil {
			s.logger.Warn("ignoring the stored remembered rows; rows seen before may be emitted again", zap.Error(err))
		}
		s.seen = seen
		if fresh {
			// A new start (reset_checkpoint, another tenant) re-reads everything: rows remembered
			// from before must not suppress them.
			s.seen.forgetBefore(time.Unix(1<<40, 0))
		}
	}
	return fresh
}

// parts are the parts stored with the checkpoint.
func (s *receiverState) parts() []statePart {
	parts := []statePart{s.seen}
	if s.pending != nil {
		parts = append(parts, s.pending)
	}
	return parts
}

// write stores the checkpoint and what changed of the other parts in one batch, which storage
// extensions such as file_storage apply in one transaction.
func (s *receiverState) write(ctx context.Context) error {
	var ops []*storage.Operation
	for _, p := range s.parts() {
		ops = append(ops, p.saveOps()...)
	}
	return s.store.save(ctx, s.cp, ops...)
}

// saved marks what write wrote as stored, at now.
func (s *receiverState) saved(now time.Time) {
	s.savedAt, s.unsaved = now, false
	for _, p := range s.parts() {
		p.saved()
	}
}

// markAllUnsaved makes the next write store the whole state, not only what changed.
func (s *receiverState) markAllUnsaved() {
	for _, p := range s.parts() {
		p.markAllUnsaved()
	}
}

// holdEmpty says whether the progress over a range without rows waits for a later save: it is
// stored at most every emptyRangeSaveEvery. An idle tenant otherwise writes its storage file
// twice a minute (one write per pass), and those commits were 40 % of what 1,000 idle tenants
// allocated (BENCHMARKS.md, issue 15). Losing the rest in a crash only means querying those
// empty ranges again: nothing was emitted from them, so nothing can be emitted twice, and a
// row that reached one late is new.
func (s *receiverState) holdEmpty(now time.Time) bool {
	if now.Sub(s.savedAt) < emptyRangeSaveEvery {
		s.unsaved = true
		return true
	}
	return false
}

// entries are the whole state as storage keys and values (the state copy).
func (s *receiverState) entries() ([]stateCopyKey, error) {
	cp, err := json.Marshal(s.cp)
	if err != nil {
		return nil, err
	}
	entries := []stateCopyKey{{Key: checkpointKey, Value: cp}}
	for _, p := range s.parts() {
		for _, op := range p.allOps() {
			if op.Type == storage.Set {
				entries = append(entries, stateCopyKey{Key: op.Key, Value: op.Value})
			}
		}
	}
	return entries, nil
}
