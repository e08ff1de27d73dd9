package tracepage // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

// Row is one message trace row (one message, one recipient) in API-neutral form.
type Row struct {
	ID           string
	MessageID    string
	Sender       string
	Recipient    string
	Subject      string
	Status       string // as the API sent it; normalised when records are built
	FromIP       string
	ToIP         string
	Organization string // legacy API only
	Received     time.Time
	Size         int64

	// ParseError says why the row could not be parsed ("" = it could); such a row carries its
	// raw JSON (Raw, bounded) and a synthetic ID (UnparsedID) instead of its fields.
	ParseError string
	Raw        string
	// TimeUnknown marks an unparsed row whose receivedDateTime could not be read: Received is
	// then borrowed from its nearest parsed neighbour on the page (see placeUnparsed).
	TimeUnknown bool
}

// Key identifies a row: a trace id covers every recipient of a message, so the recipient
// (case-insensitive, as Exchange treats addresses) is part of the identity.
func (r *Row) Key() string {
	return r.ID + "|" + strings.ToLower(r.Recipient)
}

// Page is one decoded response: its rows and the link to the next page ("" = last page).
type Page struct {
	Rows []Row
	Next string
}

// ErrNotJSON marks a 200 whose body is not JSON, e.g. the "Sign in to Outlook" HTML page
// Microsoft sporadically returns; it is transient.
var ErrNotJSON = errors.New("response body is not JSON (Microsoft sometimes answers 200 with an HTML sign-in page)")

// ErrTooManyRows marks a page with more rows than the $top asked for: a server bug, and a
// hostile server's way to make the receiver build unbounded records, so the page is refused.
var ErrTooManyRows = errors.New("response refused")

// DecodeGraph decodes a Graph messageTraces response; it refuses more than maxRows rows (0 =
// any) with ErrTooManyRows.
func DecodeGraph(body []byte, maxRows int) (*Page, error) {
	if !LooksLikeJSONObject(body) {
		return nil, ErrNotJSON
	}
	d := &pageDecoder{b: body, table: graphRows, strs: make([]byte, 0, len(body)/2), maxRows: maxRows}
	var value rowArray
	var next strRef
	err := d.object(func(key []byte) error {
		var err error
		switch {
		case nameIs(key, "value"):
			err = d.rows(&value)
		case nameIs(key, "@odata.nextLink"):
			next, err = d.optString(next)
		default:
			err = d.skip()
		}
		return err
	})
	if err = d.finish(err, "Graph"); err != nil {
		return nil, err
	}
	return d.page(&value, next, graphRowsAre), nil
}

// DecodeLegacy decodes a Reporting Web Service MessageTrace response, in either JSON
// envelope it is seen to send: verbose OData v2 (d.results + d.__next) and light (value +
// odata.nextLink, often relative).
// It refuses more than maxRows rows (0 = any) with ErrTooManyRows.
func DecodeLegacy(body []byte, maxRows int) (*Page, error) {
	if !LooksLikeJSONObject(body) {
		return nil, ErrNotJSON
	}
	d := &pageDecoder{b: body, table: legacyRows, strs: make([]byte, 0, len(body)/2), maxRows: maxRows}
	var (
		value, results rowArray
		nextLink, next strRef
		hasD           bool
	)
	err := d.object(func(key []byte) error {
		switch {
		case nameIs(key, "d"):
			null, err := d.isNull()
			if err != nil || null {
				hasD, results, next = false, rowArray{}, strRef{}
				return err
			}
			if d.peek() != '{' {
				if err := d.skip(); err != nil {
					return err
				}
				return d.typeError("a non-object value into d")
			}
			hasD = true
			return d.object(func(key []byte) error {
				var err error
				switch {
				case nameIs(key, "results"):
					err = d.rows(&results)
				case nameIs(key, "__next"):
					next, err = d.optString(next)
				default:
					err = d.skip()
				}
				return err
			})
		case nameIs(key, "value"):
			return d.rows(&value)
		case nameIs(key, "odata.nextLink"):
			var err error
			nextLink, err = d.optString(nextLink)
			return err
		}
		return d.skip()
	})
	if err = d.finish(err, "Reporting Web Service"); err != nil {
		return nil, err
	}
	rows, nextRef := value, nextLink
	if hasD {
		rows, nextRef = results, next
	} else if !value.set {
		return nil, errors.New("malformed Reporting Web Service response: neither d.results nor value")
	}
	return d.page(&rows, nextRef, legacyRowsAre), nil
}

// rowRules are what the two APIs' rows differ in once decoded: how the time is written and
// what an unparsed row's reason says.
type rowRules struct {
	parseDate func(string) (time.Time, error)
	badDate   string // with %q for the value
	noID      string
}

var (
	graphRowsAre  = rowRules{parseDate: ParseGraphDate, badDate: "receivedDateTime %q is not an RFC 3339 time", noID: "no id"}
	legacyRowsAre = rowRules{parseDate: ParseLegacyDate, badDate: "Received %q is neither /Date(ms)/ nor ISO 8601", noID: "no MessageTraceId"}
)

// finish checks the end of the body and names the API in a syntax error; a refused page keeps
// its own error.
func (d *pageDecoder) finish(err error, api string) error {
	if err == nil {
		err = d.end()
	}
	if err == nil || errors.Is(err, ErrTooManyRows) {
		return err
	}
	return fmt.Errorf("malformed %s response: %w", api, err)
}

// page turns the decoded rows into the Page: a row that cannot be used (a member of the wrong
// type, an unreadable time, no id) becomes an unparsed row in its place.
func (d *pageDecoder) page(rows *rowArray, next strRef, rules rowRules) *Page {
	strs := d.strings()
	out := &Page{Next: ref(strs, next), Rows: make([]Row, 0, rows.n)}
	var dates dateCache
	for i := range rows.n {
		raw := &rows.backing[i]
		row := rowOf(strs, raw)
		received, err := dates.parse(strs, raw.str[fReceived], rules.parseDate)
		rawJSON := d.b[raw.rawStart:raw.rawEnd]
		switch {
		case raw.bad != "":
			row = Unparsed(rawJSON, raw.bad, received, err == nil)
		case err != nil:
			row = Unparsed(rawJSON, fmt.Sprintf(rules.badDate, quote.Value(ref(strs, raw.str[fReceived]))), received, false)
		case row.ID == "":
			row = Unparsed(rawJSON, rules.noID, received, true)
		default:
			row.Received = received
		}
		out.Rows = append(out.Rows, row)
	}
	PlaceUnparsed(out.Rows)
	return out
}

// strings returns the page's string values as one string without copying them, as
// strings.Builder does: the buffer is never written again once the page is decoded.
func (d *pageDecoder) strings() string {
	s := unsafe.String(unsafe.SliceData(d.strs), len(d.strs))
	d.strs = nil
	return s
}

func ref(strs string, r strRef) string { return strs[r.off : r.off+r.n] }

func rowOf(strs string, r *rawRow) Row {
	return Row{
		ID:           ref(strs, r.str[fID]),
		MessageID:    ref(strs, r.str[fMessageID]),
		Sender:       ref(strs, r.str[fSender]),
		Recipient:    ref(strs, r.str[fRecipient]),
		Subject:      ref(strs, r.str[fSubject]),
		Status:       ref(strs, r.str[fStatus]),
		FromIP:       ref(strs, r.str[fFromIP]),
		ToIP:         ref(strs, r.str[fToIP]),
		Organization: ref(strs, r.str[fOrganization]),
		Size:         r.size,
	}
}

// LooksLikeJSONObject reports whether a body starts like a JSON object (after whitespace and a
// byte order mark); anything else, such as an HTML sign-in page, is not worth decoding.
func LooksLikeJSONObject(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n\xef\xbb\xbf")
	return len(b) > 0 && b[0] == '{'
}
