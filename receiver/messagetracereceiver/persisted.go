package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
)

// Everything this receiver persists, in one place: the storage keys, their versions and the
// layout of each value. A release must read what the one before it wrote
// (state_compat_test.go loads testdata/state/release-1, bytes written by the release before
// issue 22); a change that cannot do so bumps the key's version.
//
// Keys of the storage client (already scoped to this receiver's component ID, so receivers
// of several tenants never share one):
//
//   - message_trace_checkpoint: the checkpoint, JSON (checkpoint, rangeProgress, boundRows);
//   - seen_index and seen/<bucket start, unix seconds>: the remembered rows, a JSON list of
//     bucket starts (encodeSeenIndex) and one binary bucket each (encodeSeenBucket);
//   - details_pending: the rows waiting for details, JSON (pendingFile, encodePendingFile).
//
// The state copy beside a file_storage file (statecopy.go) holds the same keys and values.

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

const (
	// bucketSpan groups remembered rows by received time, so that a page rewrites only the few
	// buckets its rows fall in and old buckets are forgotten whole.
	bucketSpan     = 10 * time.Minute
	seenIndexKey   = "seen_index"
	seenKeyPrefix  = "seen/"
	entryBytes     = 9 // 8-byte key hash + 1-byte status (statusCode)
	seenKeyVersion = 1
)

const (
	detailsPendingKey     = "details_pending"
	detailsPendingVersion = 1
)

func seenBucketKey(start int64) string { return seenKeyPrefix + strconv.FormatInt(start, 10) }

// encodeSeenIndex is the index's stored value: the buckets' starts as a JSON list.
func encodeSeenIndex(starts []int64) []byte {
	raw, _ := json.Marshal(starts)
	return raw
}

// decodeSeenIndex reads encodeSeenIndex's value.
func decodeSeenIndex(raw []byte) ([]int64, error) {
	var starts []int64
	if err := json.Unmarshal(raw, &starts); err != nil {
		return nil, fmt.Errorf("remembered rows index is corrupt: %w", err)
	}
	return starts, nil
}

// encodeSeenBucket is a bucket's stored value: the version byte, then per row its hash (8
// bytes, little-endian) and its status code (1 byte), sorted by hash.
func encodeSeenBucket(hashes []uint64, statuses []uint8) []byte {
	buf := make([]byte, 1+len(hashes)*entryBytes)
	buf[0] = seenKeyVersion
	for i, h := range hashes {
		binary.LittleEndian.PutUint64(buf[1+i*entryBytes:], h)
		buf[1+i*entryBytes+8] = statuses[i]
	}
	return buf
}

// decodeSeenBucket reads encodeSeenBucket's value; false when it is not one.
func decodeSeenBucket(buf []byte) (hashes []uint64, statuses []uint8, ok bool) {
	if len(buf) == 0 || buf[0] != seenKeyVersion || (len(buf)-1)%entryBytes != 0 {
		return nil, nil, false
	}
	n := (len(buf) - 1) / entryBytes
	hashes, statuses = make([]uint64, n), make([]uint8, n)
	for i := range n {
		hashes[i] = binary.LittleEndian.Uint64(buf[1+i*entryBytes:])
		statuses[i] = buf[1+i*entryBytes+8]
	}
	return hashes, statuses, true
}

// storedPending is a row waiting for its details (details.Row) as stored.
type storedPending struct {
	TraceID   string    `json:"id"`
	Recipient string    `json:"rcpt"`
	MessageID string    `json:"mid,omitempty"`
	Status    string    `json:"st"`
	Received  time.Time `json:"recv"`
	Added     time.Time `json:"added"`
	Attempts  int       `json:"tries,omitempty"`
}

type pendingFile struct {
	Version int             `json:"v"`
	Entries []storedPending `json:"pending"`
}

// encodePending keeps a nil set nil: the release before issue 22 stored a set never filled or
// cleared as "pending":null and one whose rows were all removed as [], and these bytes stay.
func encodePending(rows []details.Row) pendingFile {
	f := pendingFile{Version: detailsPendingVersion}
	if rows != nil {
		f.Entries = make([]storedPending, len(rows))
	}
	for i := range rows {
		f.Entries[i] = storedPending(rows[i])
	}
	return f
}

// encodePendingFile is the pending set's stored value.
func encodePendingFile(rows []details.Row) []byte {
	raw, _ := json.Marshal(encodePending(rows))
	return raw
}

// decodePendingFile reads encodePendingFile's value, refusing one over twice maxBytes (with
// room for the JSON around the rows) or of another version.
func decodePendingFile(raw []byte, maxBytes int) ([]details.Row, error) {
	if len(raw) > 2*maxBytes+1024 {
		return nil, fmt.Errorf("stored pending details are %d bytes, over twice max_pending_bytes", len(raw))
	}
	var f pendingFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("stored pending details are corrupt: %w", err)
	}
	if f.Version != detailsPendingVersion {
		return nil, fmt.Errorf("stored pending details have version %d, this build reads %d", f.Version, detailsPendingVersion)
	}
	return decodePending(f), nil
}

func decodePending(f pendingFile) []details.Row {
	rows := make([]details.Row, len(f.Entries))
	for i := range f.Entries {
		rows[i] = details.Row(f.Entries[i])
	}
	return rows
}

// rangeProgress is a range (Start, End] and what of it was delivered. Rows arrive in time
// order, so "delivered" is every row on one side of Bound plus the rows exactly at Bound
// listed in AtBound; a restart re-queries only the other side and emits nothing twice.
type rangeProgress struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Order is "desc" (newest first, Graph), "asc", "" (not known yet: only rows at Bound
	// delivered) or "none" (the API broke order: progress cannot be exact, re-read the range).
	Order rangeOrder `json:"order,omitempty"`
	Bound time.Time  `json:"bound,omitzero"`
	// AtBound are the rows delivered at Bound. They are remembered by identity, not counted:
	// a re-query lists them again, and neither API documents an order among rows of one
	// instant (message-trace-api.md: Graph is newest-first and stable across the pages of one
	// query, nothing more), so "the first n" could skip a row never delivered. A checkpoint
	// written before issue 20 lists them as "keys" (id|recipient); they are read into this.
	AtBound boundRows `json:"at_bound,omitzero"`
	// Rows is how many rows of the range were delivered (for the range summary).
	Rows int `json:"rows"`
}

// rangeOrder is the order in which the API lists a range's rows, as learned from the rows
// delivered; stored as its string.
type rangeOrder string

const (
	orderUnknown rangeOrder = ""     // not known yet: only rows at Bound delivered
	orderDesc    rangeOrder = "desc" // newest first (Graph)
	orderAsc     rangeOrder = "asc"
	orderNone    rangeOrder = "none" // the API broke its order: progress cannot be exact
)

// boundRows is a set of rows as 64-bit hashes of their identity (rowHash), stored as one
// base64 string of 8 bytes a row: 30,000 rows at one instant take 320 KB in the checkpoint
// instead of the 8 MB their keys took. Two rows of one instant sharing a hash (about 1 in 4e10
// for 30,000 rows) would make a restart inside that instant skip one of them.
type boundRows struct {
	hashes []uint64
	sorted bool // hashes is sorted (contains searches it); appends clear it
}

// IsZero makes omitzero drop an empty set.
func (b boundRows) IsZero() bool { return len(b.hashes) == 0 }

func (b boundRows) MarshalJSON() ([]byte, error) {
	raw := make([]byte, 8*len(b.hashes))
	for i, h := range b.hashes {
		binary.LittleEndian.PutUint64(raw[8*i:], h)
	}
	return json.Marshal(raw) // []byte: a base64 string
}

func (b *boundRows) UnmarshalJSON(data []byte) error {
	var raw []byte
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if len(raw)%8 != 0 {
		return fmt.Errorf("at_bound holds %d bytes, not a multiple of 8", len(raw))
	}
	b.hashes, b.sorted = make([]uint64, len(raw)/8), false
	for i := range b.hashes {
		b.hashes[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	return nil
}

// UnmarshalJSON reads progress in this layout or in the one before issue 20, whose rows at
// Bound were a list of keys ("keys": ["id|recipient", ...]).
func (r *rangeProgress) UnmarshalJSON(data []byte) error {
	type plain rangeProgress // without this method
	var stored struct {
		plain
		Keys []string `json:"keys"`
	}
	if err := json.Unmarshal(data, &stored); err != nil {
		return err
	}
	*r = rangeProgress(stored.plain)
	for _, k := range stored.Keys {
		r.AtBound.hashes = append(r.AtBound.hashes, keyHash(k))
	}
	if len(stored.Keys) > 0 {
		r.AtBound.sorted = len(r.AtBound.hashes) == 1
	}
	return nil
}

// keyHash is rowHash of the row whose Key() is k: both hash id, "|" and the lower-cased
// recipient, byte by byte.
func keyHash(k string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range len(k) {
		h = (h ^ uint64(k[i])) * prime
	}
	return h
}

const (
	stateCopySuffix  = ".copy"
	stateCopyVersion = 1
	// stateCopyEvery bounds how stale the copy may be, hence the duplicates after a restore.
	stateCopyEvery = time.Minute
	// maxStateCopyBytes bounds what a copy may hold (a checkpoint deep inside a range of many
	// rows at one instant and the remembered rows of a busy tenant stay far below it).
	maxStateCopyBytes = 64 << 20
)

type stateCopy struct {
	Version  int            `json:"v"`
	Receiver string         `json:"receiver"`
	Saved    time.Time      `json:"saved"`
	Entries  []stateCopyKey `json:"entries"`
}

type stateCopyKey struct {
	Key   string `json:"k"`
	Value []byte `json:"v"`
}

// stateCopyKeyOK says whether key is one of the receiver's own storage keys.
func stateCopyKeyOK(key string) bool {
	return key == checkpointKey || key == seenIndexKey || key == detailsPendingKey || strings.HasPrefix(key, seenKeyPrefix)
}
