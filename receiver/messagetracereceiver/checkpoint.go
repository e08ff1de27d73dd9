package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

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

// save stores the checkpoint and the rest of the state in one batch. A storage file that faults
// or panics is replaced and the whole state, held in memory, written to the new one
// (storagefile.go); the state copy beside it follows (statecopy.go).
func (r *messageTraceReceiver) save(ctx context.Context) {
	r.checkBeforeSave(ctx)
	if r.state.store.client == nil && !r.recoverStorage(ctx, errStorageFault) {
		r.set.Logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next page", zap.Error(errStorageFault))
		return
	}
	err := r.state.write(ctx)
	if errors.Is(err, errStorageFault) {
		if r.recoverStorage(ctx, err) {
			err = r.state.write(ctx)
		} else {
			r.state.store.client = nil
		}
	}
	if err != nil {
		r.set.Logger.Warn("could not store the checkpoint; it is kept in memory and stored with the next page", zap.Error(err))
		return
	}
	r.stampStorageFile()
	r.state.saved(r.now())
	r.state.seen.observe(ctx, r.telemetry)
	r.writeStateCopy(false)
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
