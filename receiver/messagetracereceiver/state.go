package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
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
	pending *details.Set

	savedAt time.Time // last stored (save, holdEmpty)
	unsaved bool      // progress over empty ranges not stored yet
}

// stateStorage is where the receiver's state is stored: the storage client and, for
// file_storage, its file, verified before it is opened and before a save, replaced when
// damaged, with the state copy beside it (statecopy.go).
type stateStorage struct {
	cfg       *Config
	id        component.ID
	logger    *zap.Logger
	now       func() time.Time
	health    *pollHealth
	telemetry *metadata.TelemetryBuilder
	state     *receiverState // written whole to a new file

	client storage.Client // set by loadState; nil after Shutdown
	// ext and path are where client comes from: the extension, and the file of file_storage
	// ("" for other extensions), verified before opening.
	ext  storage.Extension
	path string
	// stamp is the storage file's stamp after this receiver's last write.
	stamp    fileStamp
	copiedAt time.Time // last state copy written
}

// fileStamp is what changes when anything writes to a file: size and modification time.
type fileStamp struct {
	size int64
	mod  time.Time
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
		parts = append(parts, pendingPart{s.pending})
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

// checkpointStore persists the checkpoint after the pipeline accepted what it covers.
type checkpointStore struct {
	client storage.Client
}

func (s *checkpointStore) load(ctx context.Context) (*checkpoint, error) {
	raw, err := s.client.Get(ctx, checkpointKey)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	var cp checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, fmt.Errorf("stored checkpoint is corrupt: %w", err)
	}
	if cp.Version != checkpointVersion {
		return nil, fmt.Errorf("stored checkpoint has version %d, this build reads %d", cp.Version, checkpointVersion)
	}
	return &cp, nil
}

// save writes the checkpoint together with other operations (the remembered rows) in one
// batch, which storage extensions such as file_storage apply in one transaction.
func (s *checkpointStore) save(ctx context.Context, cp *checkpoint, ops ...*storage.Operation) error {
	raw, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	ops = append(ops, storage.SetOperation(checkpointKey, raw))
	if err := s.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint returns the stored checkpoint if it belongs to this configuration, else a new
// one starting initial_lookback ago.
func (s *receiverState) loadCheckpoint(ctx context.Context, now, oldest time.Time) (*checkpoint, bool) {
	fresh := &checkpoint{
		Version:        checkpointVersion,
		Tenant:         s.cfg.TenantID,
		API:            s.cfg.API,
		Reset:          s.cfg.ResetCheckpoint,
		passCheckpoint: passCheckpoint{Done: now.Add(-s.cfg.InitialLookback).UTC().Truncate(time.Second)},
	}
	// initial_lookback may equal the API's limit; start just inside it rather than warning
	// about a gap on every first run.
	if fresh.Done.Before(oldest) {
		fresh.Done = oldest
	}
	stored, err := s.store.load(ctx)
	switch {
	case err != nil:
		s.logger.Warn("ignoring the stored checkpoint; starting from initial_lookback", zap.Error(err), zap.Time("start", fresh.Done))
		return fresh, true
	case stored == nil:
		s.logger.Info("no stored checkpoint; starting from initial_lookback", zap.Time("start", fresh.Done))
		return fresh, true
	case stored.Reset != s.cfg.ResetCheckpoint:
		s.logger.Warn("reset_checkpoint changed: discarding the stored checkpoint and starting from initial_lookback",
			zap.String("previous", stored.Reset), zap.String("reset_checkpoint", s.cfg.ResetCheckpoint), zap.Time("start", fresh.Done))
		return fresh, true
	case stored.Tenant != s.cfg.TenantID || stored.API != s.cfg.API:
		s.logger.Warn("the stored checkpoint belongs to another tenant or api; starting from initial_lookback",
			zap.String("stored_tenant", stored.Tenant), zap.String("stored_api", stored.API), zap.Time("start", fresh.Done))
		return fresh, true
	}
	if found := futureCheckpoint(stored, now.Add(maxClockSkew)); found != "" {
		s.logger.Warn("the stored checkpoint lies in the future (corrupt, or this machine's clock jumped back): "+
			"discarding it and starting from initial_lookback; rows since then may be emitted again",
			zap.String("found", found), zap.Time("now", now.UTC()), zap.Time("start", fresh.Done))
		return fresh, true
	}
	for _, pc := range []*passCheckpoint{&stored.passCheckpoint, stored.Early} {
		if pc == nil || pc.Open == nil {
			continue
		}
		if o := pc.Open; !o.End.After(o.Start) || o.End.Sub(o.Start) > maxQuerySpan+time.Second {
			s.logger.Warn("the stored checkpoint's open range is empty or wider than the API allows (10 days): "+
				"discarding the range and reading on from its done time; rows of it already delivered may be emitted again",
				zap.Time("range_start", o.Start), zap.Time("range_end", o.End), zap.Time("done_until", pc.Done))
			pc.Open = nil
		}
	}
	s.logger.Info("resuming from the stored checkpoint", zap.Time("done_until", stored.Done), zap.Bool("inside_range", stored.Open != nil))
	return stored, false
}

// futureCheckpoint describes the first time of a stored checkpoint that lies after limit, or
// returns "". Such a checkpoint would make the receiver send nothing (done ahead) or queries
// the API refuses (an open range ahead) until the clock catches up, possibly for years.
func futureCheckpoint(cp *checkpoint, limit time.Time) string {
	check := func(name string, pc *passCheckpoint) string {
		switch {
		case pc == nil:
		case pc.Done.After(limit):
			return name + " done " + pc.Done.UTC().Format(time.RFC3339)
		case pc.Open != nil && (pc.Open.End.After(limit) || pc.Open.Start.After(limit)):
			return name + " open range " + pc.Open.Start.UTC().Format(time.RFC3339) + " to " + pc.Open.End.UTC().Format(time.RFC3339)
		}
		return ""
	}
	if s := check("settled pass", &cp.passCheckpoint); s != "" {
		return s
	}
	if s := check("early pass", cp.Early); s != "" {
		return s
	}
	if cp.EarlyFrom.After(limit) {
		return "early_from " + cp.EarlyFrom.UTC().Format(time.RFC3339)
	}
	return ""
}
