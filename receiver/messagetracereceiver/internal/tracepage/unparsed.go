package tracepage // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// UnparsedIDPrefix starts the identity of a row that could not be parsed.
const UnparsedIDPrefix = "unparsed:"

// MaxRawRowBytes bounds the body of a row that could not be parsed: it is delivered raw, and a
// hostile 60 MB value must not become a 60 MB log record.
const MaxRawRowBytes = 8 << 10

// Unparsed is a row that is valid JSON but not a usable message trace row (a malformed
// receivedDateTime, no id, a member of the wrong type). It is delivered anyway, raw, so that one
// bad row neither blocks the rest of the page nor disappears.
//
// Its identity, for the two-pass de-duplication and for exact resume, is UnparsedID: a hash of
// its raw bytes, with no recipient. The settled pass finds the same bytes the early pass found
// and so does not emit the row again; if Microsoft changes the row in between (a new status),
// the bytes differ and the row is emitted again, as a changed good row is.
func Unparsed(raw []byte, reason string, received time.Time, timeKnown bool) Row {
	row := Row{ID: UnparsedID(raw), ParseError: reason, Raw: rawBody(raw), TimeUnknown: !timeKnown}
	if timeKnown {
		row.Received = received
	}
	return row
}

// UnparsedID is "unparsed:" and the 64-bit FNV-1a hash of the row's raw JSON, in hex.
func UnparsedID(raw []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return UnparsedIDPrefix + strconv.FormatUint(h.Sum64(), 16)
}

// rawBody is the row's JSON as a log body: valid UTF-8 (log records must be) and at most
// maxRawRowBytes, followed by its full length when cut.
func rawBody(raw []byte) string {
	s := strings.ToValidUTF8(string(raw[:min(len(raw), MaxRawRowBytes+utf8.UTFMax)]), "\uFFFD")
	if len(raw) <= MaxRawRowBytes && len(s) <= MaxRawRowBytes {
		return s
	}
	n := min(MaxRawRowBytes, len(s))
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(raw)) + " bytes)"
}

// PlaceUnparsed gives an unparsed row whose time could not be read the time of its nearest
// parsed neighbour on the page (the one before it, else the one after it). Rows come in time
// order, so that is where the row lies; both passes see the same neighbours, so the row falls
// into the same range and the same remembered-rows bucket each time. A page without any parsed
// row leaves the time zero, and the range being walked places the row (walk).
func PlaceUnparsed(rows []Row) {
	var last time.Time
	pending := -1 // first unplaced row with no parsed row before it
	for i := range rows {
		r := &rows[i]
		switch {
		case !r.TimeUnknown:
			if pending >= 0 {
				for j := pending; j < i; j++ {
					rows[j].Received = r.Received
				}
				pending = -1
			}
			last = r.Received
		case !last.IsZero():
			r.Received = last
		case pending < 0:
			pending = i
		}
	}
}
