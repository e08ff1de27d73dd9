package details // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"

import (
	"regexp"
	"strings"
	"time"
)

const (
	// pendingOverhead bounds what one entry costs in storage beyond its strings (JSON keys,
	// two RFC 3339 times with nanoseconds, attempts).
	pendingOverhead = 160
	maxRecipientLen = 320 // RFC 5321 bound on a mailbox
	// MaxFieldBytes bounds a message id, here and in a decoded details answer.
	MaxFieldBytes = 1024
)

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Row is a row waiting for its details. Its stored form is the receiver's (persisted.go).
type Row struct {
	TraceID   string
	Recipient string
	MessageID string
	Status    string
	Received  time.Time
	Added     time.Time
	Attempts  int
}

func (p *Row) Key() string { return p.TraceID + "|" + strings.ToLower(p.Recipient) }

// is compares with a key() without building one.
func (p *Row) is(key string) bool {
	return len(key) > len(p.TraceID) && key[:len(p.TraceID)] == p.TraceID &&
		key[len(p.TraceID)] == '|' && strings.ToLower(p.Recipient) == key[len(p.TraceID)+1:]
}

func (p *Row) bytes() int {
	return pendingOverhead + len(p.TraceID) + len(p.Recipient) + len(p.MessageID) + len(p.Status)
}

// check says why a (stored or received) entry cannot be asked about, or "".
func (p *Row) check() string {
	switch {
	case !guidPattern.MatchString(p.TraceID):
		return "trace id is not a GUID"
	case p.Recipient == "" || len(p.Recipient) > maxRecipientLen || strings.ContainsFunc(p.Recipient, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "recipient is empty, longer than 320 bytes or holds control characters"
	case len(p.MessageID) > MaxFieldBytes || len(p.Status) > 64:
		return "message id or status too long"
	}
	return ""
}

// Set is the FIFO of rows waiting for details, bounded in count and bytes, written
// to storage with the checkpoint.
type Set struct {
	maxCount, maxBytes int
	entries            []Row
	index              map[string]bool
	bytes              int
	dirty              bool
}

// NewSet is an empty set of at most maxCount rows and maxBytes of storage.
func NewSet(maxCount, maxBytes int) *Set {
	return &Set{maxCount: maxCount, maxBytes: maxBytes, index: map[string]bool{}}
}

// add queues a row; it reports false when the set is full. A row already waiting is not
// queued twice (the early and settled passes can both emit it).
func (s *Set) add(p Row) (added, full bool) {
	if s.index[p.Key()] {
		return false, false
	}
	if len(s.entries) >= s.maxCount || s.bytes+p.bytes() > s.maxBytes {
		return false, true
	}
	s.entries = append(s.entries, p)
	s.index[p.Key()] = true
	s.bytes += p.bytes()
	s.dirty = true
	return true, false
}

// remove drops the entry with the key.
func (s *Set) remove(key string) {
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

// Clear empties the set.
func (s *Set) Clear() {
	s.entries, s.index, s.bytes, s.dirty = nil, map[string]bool{}, 0, true
}

// Entries are the rows waiting, oldest first.
func (s *Set) Entries() []Row { return s.entries }

// Dirty says whether the set changed since it was last stored.
func (s *Set) Dirty() bool { return s.dirty }

// Saved marks the set as stored.
func (s *Set) Saved() { s.dirty = false }

// MarkAllUnsaved makes the next store write the set (to a new storage file).
func (s *Set) MarkAllUnsaved() { s.dirty = true }

// Restore fills the set with stored rows; rows that fail the checks (a corrupt or edited file)
// or exceed the bounds are returned apart so the caller can count them.
func (s *Set) Restore(rows []Row) (dropped []Row) {
	for _, p := range rows {
		if p.check() != "" {
			dropped = append(dropped, p)
			continue
		}
		if _, full := s.add(p); full {
			dropped = append(dropped, p)
		}
	}
	s.dirty = len(dropped) > 0
	return dropped
}
