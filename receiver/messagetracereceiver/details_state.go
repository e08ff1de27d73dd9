package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
)

// pendingDetail is a row waiting for its details (internal/details); its stored form is
// storedPending (persisted.go).
type pendingDetail = details.Row

// pendingPart is the details' pending set as a part of the state (state.go).
type pendingPart struct{ set *details.Set }

// saveOps is the operation that stores the set, or nothing when it did not change.
func (p pendingPart) saveOps() []*storage.Operation {
	if !p.set.Dirty() {
		return nil
	}
	return p.allOps()
}

// allOps is the operation that stores the whole set (the state copy).
func (p pendingPart) allOps() []*storage.Operation {
	return []*storage.Operation{storage.SetOperation(detailsPendingKey, encodePendingFile(p.set.Entries()))}
}

func (p pendingPart) saved()          { p.set.Saved() }
func (p pendingPart) markAllUnsaved() { p.set.MarkAllUnsaved() }

// loadPendingDetails reads the set back; entries that fail the checks (a corrupt or edited
// file) are returned apart so the caller can count them, and the bounds hold whatever was stored.
func loadPendingDetails(ctx context.Context, client storage.Client, maxCount, maxBytes int) (*details.Set, []pendingDetail, error) {
	s := details.NewSet(maxCount, maxBytes)
	raw, err := client.Get(ctx, detailsPendingKey)
	if err != nil || raw == nil {
		return s, nil, err
	}
	rows, err := decodePendingFile(raw, maxBytes)
	if err != nil {
		return s, nil, err
	}
	return s, s.Restore(rows), nil
}
