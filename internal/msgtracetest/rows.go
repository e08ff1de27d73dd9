package msgtracetest

import (
	"slices"
	"strings"
	"time"
)

// Graph status values (lower camel, as Graph sends them).
const (
	StatusDelivered      = "delivered"
	StatusPending        = "pending"
	StatusGettingStatus  = "gettingStatus"
	StatusFailed         = "failed"
	StatusExpanded       = "expanded"
	StatusQuarantined    = "quarantined"
	StatusFilteredAsSpam = "filteredAsSpam"
	// StatusRecalled is an evolvable enum member: sent as "unknownFutureValue" unless
	// the request has Prefer: include-unknown-enum-members.
	StatusRecalled = "recalled"
)

// Row is one message trace row (one message, one recipient), in neutral form.
// (ID, lower(Recipient)) identifies a row.
type Row struct {
	ID        string // message trace id (GUID)
	MessageID string // Internet Message-ID incl. <>
	Sender    string
	Recipient string
	Subject   string
	// Received is when EOP received the message. Stored with 100 ns precision
	// (.NET ticks), like the real service.
	Received time.Time
	// Status is a Graph lower camel status: delivered, pending, gettingStatus, failed,
	// expanded, quarantined, filteredAsSpam (or recalled).
	Status string
	Size   int
	FromIP string // "" = empty/absent
	ToIP   string // "" = empty/absent
	// VisibleAt: zero = visible at once; late rows become visible to queries only
	// once Now() >= VisibleAt.
	VisibleAt time.Time
	// SettlesAt/FinalStatus: if both are set, the row reports FinalStatus once
	// Now() >= SettlesAt (e.g. pending -> delivered). Zero = never changes by itself.
	SettlesAt   time.Time
	FinalStatus string
	// Corrupt makes a bad row that stays in the tenant: Graph answers send these members as
	// the raw JSON given ("" drops the member), e.g. {"receivedDateTime": `"2026-13-45"`}; a
	// name Graph does not send adds that member after the others; legacy JSON answers only
	// "Received", e.g. {"Received": `"\/Date(-99999999999999)\/"`}. Queries still select the
	// row by Received.
	Corrupt map[string]string
}

// effectiveStatus is the status the services report at now.
func (r *Row) effectiveStatus(now time.Time) string {
	if r.FinalStatus != "" && !r.SettlesAt.IsZero() && !now.Before(r.SettlesAt) {
		return r.FinalStatus
	}
	return r.Status
}

func (r *Row) visible(now time.Time) bool {
	return r.VisibleAt.IsZero() || !now.Before(r.VisibleAt)
}

type rowKey struct {
	id, recipient string // recipient lower-cased
}

type rowEntry struct {
	Row
	key rowKey
}

// rowStore keeps rows sorted newest-first: Received desc, id asc, lower(recipient) asc.
type rowStore struct {
	rows  []*rowEntry
	byKey map[rowKey]*rowEntry
}

func newRowStore() rowStore {
	return rowStore{byKey: map[rowKey]*rowEntry{}}
}

// cmpEntry orders newest-first.
func cmpKeys(aRecv time.Time, a rowKey, bRecv time.Time, b rowKey) int {
	if c := bRecv.Compare(aRecv); c != 0 {
		return c
	}
	if c := strings.Compare(a.id, b.id); c != 0 {
		return c
	}
	return strings.Compare(a.recipient, b.recipient)
}

func cmpEntry(a, b *rowEntry) int { return cmpKeys(a.Received, a.key, b.Received, b.key) }

func (st *rowStore) add(rows []Row) {
	var fresh []*rowEntry
	resort := false
	for _, r := range rows {
		r.Received = r.Received.UTC().Truncate(100 * time.Nanosecond)
		k := rowKey{id: r.ID, recipient: strings.ToLower(r.Recipient)}
		if e, ok := st.byKey[k]; ok {
			resort = resort || !e.Received.Equal(r.Received)
			e.Row = r // replace in place
			continue
		}
		e := &rowEntry{Row: r, key: k}
		st.byKey[k] = e
		fresh = append(fresh, e)
	}
	if resort {
		st.rows = append(st.rows, fresh...)
		slices.SortFunc(st.rows, cmpEntry)
		return
	}
	// Merge the sorted new rows into the sorted store: O(n+m), so feeding rows in
	// small batches (a live demo) stays cheap.
	slices.SortFunc(fresh, cmpEntry)
	if len(st.rows) == 0 || len(fresh) == 0 {
		st.rows = append(st.rows, fresh...)
		return
	}
	merged := make([]*rowEntry, 0, len(st.rows)+len(fresh))
	i, j := 0, 0
	for i < len(st.rows) && j < len(fresh) {
		if cmpEntry(fresh[j], st.rows[i]) < 0 {
			merged = append(merged, fresh[j])
			j++
		} else {
			merged = append(merged, st.rows[i])
			i++
		}
	}
	merged = append(merged, st.rows[i:]...)
	merged = append(merged, fresh[j:]...)
	st.rows = merged
}

// AddRows adds rows to the truth. A row with the same (ID, lower(Recipient)) as an
// existing row replaces it.
func (s *Server) AddRows(rows ...Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store.add(rows)
}

// SetStatus changes the status of one row (recipient matched case-insensitively) and
// cancels any pending settlement. It reports whether the row exists.
func (s *Server) SetStatus(id, recipient, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.store.byKey[rowKey{id: id, recipient: strings.ToLower(recipient)}]
	if !ok {
		return false
	}
	e.Status = status
	e.SettlesAt = time.Time{}
	e.FinalStatus = ""
	return true
}

// Rows returns the current truth (a copy), newest-first, with Status as the services
// would report it now (settlements applied) and regardless of VisibleAt.
func (s *Server) Rows() []Row {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Row, len(s.store.rows))
	for i, e := range s.store.rows {
		out[i] = e.Row
		out[i].Status = e.effectiveStatus(now)
	}
	return out
}

// VisibleRows returns the rows a query at Now() could see with Received in [from, to]
// (inclusive), newest-first, with effective statuses.
func (s *Server) VisibleRows(from, to time.Time) []Row {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Row
	for _, e := range s.store.rows {
		if e.Received.Before(from) || e.Received.After(to) || !e.visible(now) {
			continue
		}
		r := e.Row
		r.Status = e.effectiveStatus(now)
		out = append(out, r)
	}
	return out
}

// firstAtOrBefore is the index of the first row (newest-first) with Received <= t.
func (st *rowStore) firstAtOrBefore(t time.Time) int {
	i, _ := slices.BinarySearchFunc(st.rows, t, func(e *rowEntry, t time.Time) int {
		if e.Received.After(t) {
			return -1
		}
		return 1
	})
	return i
}

// firstAfterKey is the index of the first row ordered strictly after the given key.
func (st *rowStore) firstAfterKey(recv time.Time, k rowKey) int {
	i, _ := slices.BinarySearchFunc(st.rows, struct{}{}, func(e *rowEntry, _ struct{}) int {
		if cmpKeys(e.Received, e.key, recv, k) <= 0 {
			return -1
		}
		return 1
	})
	return i
}
