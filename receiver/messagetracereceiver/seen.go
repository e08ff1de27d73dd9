package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// rowHash is the 64-bit FNV-1a hash of a row's identity (trace id, "|", lower-cased
// recipient), computed without allocating. With a million rows remembered, the chance that two
// share a hash is about 3e-8.
func rowHash(r *tracepage.Row) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range len(r.ID) {
		h = (h ^ uint64(r.ID[i])) * prime
	}
	h = (h ^ '|') * prime
	recipient := r.Recipient
	for i := 0; i < len(recipient); i++ {
		if recipient[i] >= 0x80 { // non-ASCII: Unicode lower-casing, rare
			recipient = strings.ToLower(recipient)
			break
		}
	}
	for i := range len(recipient) {
		c := recipient[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * prime
	}
	return h
}

// seenBucket holds the rows received in one bucketSpan, sorted by hash: 9 bytes a row.
type seenBucket struct {
	hashes   []uint64
	statuses []uint8
	dirty    bool
	unsorted bool
}

func (b *seenBucket) Len() int           { return len(b.hashes) }
func (b *seenBucket) Less(i, j int) bool { return b.hashes[i] < b.hashes[j] }
func (b *seenBucket) Swap(i, j int) {
	b.hashes[i], b.hashes[j] = b.hashes[j], b.hashes[i]
	b.statuses[i], b.statuses[j] = b.statuses[j], b.statuses[i]
}

func (b *seenBucket) sortIfNeeded() {
	if b.unsorted {
		sort.Sort(b)
		b.unsorted = false
	}
}

func (b *seenBucket) find(h uint64) (int, bool) {
	b.sortIfNeeded()
	i := sort.Search(len(b.hashes), func(i int) bool { return b.hashes[i] >= h })
	return i, i < len(b.hashes) && b.hashes[i] == h
}

// seenState remembers what was emitted for each row (its hash and status) until the settled
// pass is past it. It lives in memory and is written to storage with the checkpoints.
type seenState struct {
	buckets map[int64]*seenBucket // by bucket start, unix seconds
	removed []int64               // buckets forgotten since the last save
}

func newSeenState() *seenState { return &seenState{buckets: map[int64]*seenBucket{}} }

func bucketOf(t time.Time) int64 {
	return t.UTC().Truncate(bucketSpan).Unix()
}

// lookup returns the status last emitted for the row, or statusUnknown.
func (s *seenState) lookup(r *tracepage.Row) uint8 {
	b := s.buckets[bucketOf(r.Received)]
	if b == nil {
		return statusUnknown
	}
	if i, ok := b.find(rowHash(r)); ok {
		return b.statuses[i]
	}
	return statusUnknown
}

// rememberAll records the statuses emitted for a page's records. Rows emitted before (found
// by lookup) are updated in place while the buckets are still sorted, new ones appended and
// each bucket sorted once, at its next lookup: one sort per page, not per row.
func (s *seenState) rememberAll(recs []traceRecord) {
	for i := range recs {
		if recs[i].before == statusUnknown {
			continue
		}
		if b := s.buckets[bucketOf(recs[i].row.Received)]; b != nil {
			if j, ok := b.find(rowHash(recs[i].row)); ok {
				b.statuses[j] = statusCode(recs[i].status)
				b.dirty = true
			}
		}
	}
	for i := range recs {
		if recs[i].before != statusUnknown {
			continue
		}
		key := bucketOf(recs[i].row.Received)
		b := s.buckets[key]
		if b == nil {
			b = &seenBucket{}
			s.buckets[key] = b
		}
		b.hashes = append(b.hashes, rowHash(recs[i].row))
		b.statuses = append(b.statuses, statusCode(recs[i].status))
		b.unsorted, b.dirty = true, true
	}
}

// forgetBefore drops every bucket that ends at or before t.
func (s *seenState) forgetBefore(t time.Time) {
	for k := range s.buckets {
		if time.Unix(k, 0).Add(bucketSpan).After(t) {
			continue
		}
		delete(s.buckets, k)
		s.removed = append(s.removed, k)
	}
}

// size is the number of rows remembered and the bytes they take in storage.
func (s *seenState) size() (rows, bytes int) {
	for _, b := range s.buckets {
		rows += len(b.hashes)
	}
	return rows, rows * entryBytes
}

// observe records how many rows are remembered and the bytes they take in storage.
func (s *seenState) observe(ctx context.Context, tb *metadata.TelemetryBuilder) {
	rows, bytes := s.size()
	tb.ReceiverMessageTraceRememberedRows.Record(ctx, int64(rows))
	tb.ReceiverMessageTraceStateBytes.Record(ctx, int64(bytes))
}

// saveOps are the storage operations that persist what changed since the last save.
func (s *seenState) saveOps() []*storage.Operation { return s.ops(false) }

// allOps are the operations that write every bucket (the state copy).
func (s *seenState) allOps() []*storage.Operation { return s.ops(true) }

func (s *seenState) ops(all bool) []*storage.Operation {
	var ops []*storage.Operation
	changed := all || len(s.removed) > 0
	for k, b := range s.buckets {
		if !b.dirty && !all {
			continue
		}
		changed = true
		b.sortIfNeeded()
		ops = append(ops, storage.SetOperation(seenBucketKey(k), encodeSeenBucket(b.hashes, b.statuses)))
	}
	for _, k := range s.removed {
		if !all {
			ops = append(ops, storage.DeleteOperation(seenBucketKey(k)))
		}
	}
	if changed {
		keys := make([]int64, 0, len(s.buckets))
		for k := range s.buckets {
			keys = append(keys, k)
		}
		ops = append(ops, storage.SetOperation(seenIndexKey, encodeSeenIndex(keys)))
	}
	return ops
}

// markAllUnsaved makes the next saveOps write every bucket (to a new storage file).
func (s *seenState) markAllUnsaved() {
	for _, b := range s.buckets {
		b.dirty = true
	}
}

// saved marks everything as stored.
func (s *seenState) saved() {
	for _, b := range s.buckets {
		b.dirty = false
	}
	s.removed = s.removed[:0]
}

// loadSeenState reads the remembered rows back from storage.
func loadSeenState(ctx context.Context, client storage.Client) (*seenState, error) {
	s := newSeenState()
	raw, err := client.Get(ctx, seenIndexKey)
	if err != nil || raw == nil {
		return s, err
	}
	keys, err := decodeSeenIndex(raw)
	if err != nil {
		return newSeenState(), err
	}
	for _, k := range keys {
		buf, err := client.Get(ctx, seenBucketKey(k))
		if err != nil {
			return newSeenState(), err
		}
		hashes, statuses, ok := decodeSeenBucket(buf)
		if !ok {
			return newSeenState(), fmt.Errorf("remembered rows bucket %d is corrupt", k)
		}
		s.buckets[k] = &seenBucket{hashes: hashes, statuses: statuses}
	}
	return s, nil
}
