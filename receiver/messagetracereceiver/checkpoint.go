package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// checkpointKey is the storage key; the storage client is already scoped to this receiver's
// component ID, so several receivers (one per tenant) never share a checkpoint.
const checkpointKey = "message_trace_checkpoint"

// checkpointVersion changes whenever the stored layout changes incompatibly.
const checkpointVersion = 1

// checkpoint is what survives a restart.
type checkpoint struct {
	Version int    `json:"v"`
	Tenant  string `json:"tenant"`
	API     string `json:"api"`
	// Reset is the reset_checkpoint value this checkpoint was started under.
	Reset string `json:"reset"`
	// passCheckpoint (promoted: Done, Open) is the settled pass, the one at `delay`.
	passCheckpoint
	// Early is the early pass at `early_delay`; nil while it is off or has not started.
	Early *passCheckpoint `json:"early,omitempty"`
	// EarlyFrom is where the early pass started covering time: rows the settled pass finds
	// after it that the early pass did not see are late rows.
	EarlyFrom time.Time `json:"early_from,omitzero"`
}

// passCheckpoint is one pass's position.
type passCheckpoint struct {
	// Done is the end of the newest fully delivered range: every row received at or before it
	// (as far as the API showed it) has been accepted by the pipeline.
	Done time.Time `json:"done"`
	// Open is the range being walked, with exact progress inside it; nil between ranges.
	Open *rangeProgress `json:"open,omitempty"`
}

// rangeProgress is a range (Start, End] and what of it was delivered. Rows arrive in time
// order, so "delivered" is every row on one side of Bound plus the rows exactly at Bound
// listed in Keys; a restart re-queries only the other side and emits nothing twice.
type rangeProgress struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Order is "desc" (newest first, Graph), "asc", "" (not known yet: only rows at Bound
	// delivered) or "none" (the API broke order: progress cannot be exact, re-read the range).
	Order string    `json:"order,omitempty"`
	Bound time.Time `json:"bound,omitzero"`
	Keys  []string  `json:"keys,omitempty"`
	// Rows is how many rows of the range were delivered (for the range summary).
	Rows int `json:"rows"`
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
