package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

func (p *pendingDetail) key() string { return p.TraceID + "|" + strings.ToLower(p.Recipient) }

// is compares with a key() without building one.
func (p *pendingDetail) is(key string) bool {
	return len(key) > len(p.TraceID) && key[:len(p.TraceID)] == p.TraceID &&
		key[len(p.TraceID)] == '|' && strings.ToLower(p.Recipient) == key[len(p.TraceID)+1:]
}

func (p *pendingDetail) bytes() int {
	return pendingOverhead + len(p.TraceID) + len(p.Recipient) + len(p.MessageID) + len(p.Status)
}

// check says why a (stored or received) entry cannot be asked about, or "".
func (p *pendingDetail) check() string {
	switch {
	case !guidPattern.MatchString(p.TraceID):
		return "trace id is not a GUID"
	case p.Recipient == "" || len(p.Recipient) > maxRecipientLen || strings.ContainsFunc(p.Recipient, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "recipient is empty, longer than 320 bytes or holds control characters"
	case len(p.MessageID) > maxDetailFieldBytes || len(p.Status) > 64:
		return "message id or status too long"
	}
	return ""
}

// pendingDetails is the FIFO of rows waiting for details, bounded in count and bytes, written
// to storage with the checkpoint.
type pendingDetails struct {
	maxCount, maxBytes int
	entries            []pendingDetail
	index              map[string]bool
	bytes              int
	dirty              bool
}

func newPendingDetails(maxCount, maxBytes int) *pendingDetails {
	return &pendingDetails{maxCount: maxCount, maxBytes: maxBytes, index: map[string]bool{}}
}

// add queues a row; it reports false when the set is full. A row already waiting is not
// queued twice (the early and settled passes can both emit it).
func (s *pendingDetails) add(p pendingDetail) (added, full bool) {
	if s.index[p.key()] {
		return false, false
	}
	if len(s.entries) >= s.maxCount || s.bytes+p.bytes() > s.maxBytes {
		return false, true
	}
	s.entries = append(s.entries, p)
	s.index[p.key()] = true
	s.bytes += p.bytes()
	s.dirty = true
	return true, false
}

// remove drops the entry with the key.
func (s *pendingDetails) remove(key string) {
	if !s.index[key] {
		return
	}
	for i := range s.entries {
		if s.entries[i].is(key) {
			s.bytes -= s.entries[i].bytes()
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
			break
		}
	}
	delete(s.index, key)
	s.dirty = true
}

func (s *pendingDetails) clear() {
	s.entries, s.index, s.bytes, s.dirty = nil, map[string]bool{}, 0, true
}

// saveOps is the operation that stores the set, or nothing when it did not change.
func (s *pendingDetails) saveOps() []*storage.Operation {
	if !s.dirty {
		return nil
	}
	raw, _ := json.Marshal(pendingFile{Version: detailsPendingVersion, Entries: s.entries})
	return []*storage.Operation{storage.SetOperation(detailsPendingKey, raw)}
}

func (s *pendingDetails) saved() { s.dirty = false }

// markAllUnsaved makes the next saveOps store the set (to a new storage file).
func (s *pendingDetails) markAllUnsaved() { s.dirty = true }

// allOps is the operation that stores the whole set (the state copy).
func (s *pendingDetails) allOps() []*storage.Operation {
	raw, _ := json.Marshal(pendingFile{Version: detailsPendingVersion, Entries: s.entries})
	return []*storage.Operation{storage.SetOperation(detailsPendingKey, raw)}
}

// loadPendingDetails reads the set back; entries that fail the checks (a corrupt or edited
// file) are returned apart so the caller can count them, and the bounds hold whatever was stored.
func loadPendingDetails(ctx context.Context, client storage.Client, maxCount, maxBytes int) (*pendingDetails, []pendingDetail, error) {
	s := newPendingDetails(maxCount, maxBytes)
	raw, err := client.Get(ctx, detailsPendingKey)
	if err != nil || raw == nil {
		return s, nil, err
	}
	if len(raw) > 2*maxBytes+1024 {
		return s, nil, fmt.Errorf("stored pending details are %d bytes, over twice max_pending_bytes", len(raw))
	}
	var f pendingFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return s, nil, fmt.Errorf("stored pending details are corrupt: %w", err)
	}
	if f.Version != detailsPendingVersion {
		return s, nil, fmt.Errorf("stored pending details have version %d, this build reads %d", f.Version, detailsPendingVersion)
	}
	var dropped []pendingDetail
	for _, p := range f.Entries {
		if p.check() != "" {
			dropped = append(dropped, p)
			continue
		}
		if _, full := s.add(p); full {
			dropped = append(dropped, p)
		}
	}
	s.dirty = len(dropped) > 0
	return s, dropped, nil
}
