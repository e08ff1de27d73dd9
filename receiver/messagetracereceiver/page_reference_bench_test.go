package messagetracereceiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file keeps the encoding/json decoders the hand-written ones in page.go replaced, as the
// reference they are held to: the differential fuzz targets and tests below require both to
// accept the same bodies and to produce the same rows and next-link. Each row is decoded on
// its own, so a row of the wrong types is an unparsed row, not a failed page.

type refGraphPage struct {
	NextLink string            `json:"@odata.nextLink"`
	Value    []json.RawMessage `json:"value"`
}

type refGraphRow struct {
	ID               string  `json:"id"`
	MessageID        *string `json:"messageId"`
	SenderAddress    *string `json:"senderAddress"`
	RecipientAddress *string `json:"recipientAddress"`
	Subject          *string `json:"subject"`
	ReceivedDateTime string  `json:"receivedDateTime"`
	Status           *string `json:"status"`
	Size             *int64  `json:"size"`
	FromIP           *string `json:"fromIP"`
	ToIP             *string `json:"toIP"`
}

var refDecodeGraphPage = graphPageVia(json.Unmarshal)

// graphPageVia is the reference Graph decoder over any encoding/json-compatible Unmarshal, so
// the library comparison (page_library_bench_test.go) runs the same code with other libraries.
func graphPageVia(unmarshal func([]byte, any) error) func([]byte) (*tracePage, error) {
	return func(body []byte) (*tracePage, error) { return decodeGraphPageVia(unmarshal, body) }
}

func decodeGraphPageVia(unmarshal func([]byte, any) error, body []byte) (*tracePage, error) {
	if !looksLikeJSONObject(body) {
		return nil, errNotJSON
	}
	var p refGraphPage
	if err := unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("malformed Graph response: %w", err)
	}
	out := &tracePage{next: p.NextLink, rows: make([]traceRow, 0, len(p.Value))}
	for _, raw := range p.Value {
		var g refGraphRow
		typeErr := unmarshal(raw, &g)
		received, err := time.Parse(time.RFC3339Nano, g.ReceivedDateTime)
		switch {
		case typeErr != nil:
			out.rows = append(out.rows, unparsedRow(raw, typeErr.Error(), received.UTC(), err == nil))
			continue
		case err != nil:
			out.rows = append(out.rows, unparsedRow(raw, err.Error(), time.Time{}, false))
			continue
		case g.ID == "":
			out.rows = append(out.rows, unparsedRow(raw, "no id", received.UTC(), true))
			continue
		}
		out.rows = append(out.rows, traceRow{
			ID: g.ID, MessageID: refDeref(g.MessageID), Sender: refDeref(g.SenderAddress),
			Recipient: refDeref(g.RecipientAddress), Subject: refDeref(g.Subject), Status: refDeref(g.Status),
			FromIP: refDeref(g.FromIP), ToIP: refDeref(g.ToIP), Received: received.UTC(), Size: refDerefInt(g.Size),
		})
	}
	placeUnparsed(out.rows)
	return out, nil
}

type refLegacyPage struct {
	D *struct {
		Results []json.RawMessage `json:"results"`
		Next    string            `json:"__next"`
	} `json:"d"`
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"odata.nextLink"`
}

type refLegacyRow struct {
	Organization     *string `json:"Organization"`
	MessageID        *string `json:"MessageId"`
	Received         *string `json:"Received"`
	SenderAddress    *string `json:"SenderAddress"`
	RecipientAddress *string `json:"RecipientAddress"`
	Subject          *string `json:"Subject"`
	Status           *string `json:"Status"`
	ToIP             *string `json:"ToIP"`
	FromIP           *string `json:"FromIP"`
	Size             *int64  `json:"Size"`
	MessageTraceID   *string `json:"MessageTraceId"`
}

var refDecodeLegacyPage = legacyPageVia(json.Unmarshal)

// legacyPageVia is the reference legacy decoder over any encoding/json-compatible Unmarshal.
func legacyPageVia(unmarshal func([]byte, any) error) func([]byte) (*tracePage, error) {
	return func(body []byte) (*tracePage, error) { return decodeLegacyPageVia(unmarshal, body) }
}

func decodeLegacyPageVia(unmarshal func([]byte, any) error, body []byte) (*tracePage, error) {
	if !looksLikeJSONObject(body) {
		return nil, errNotJSON
	}
	var p refLegacyPage
	if err := unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("malformed Reporting Web Service response: %w", err)
	}
	rows, next := p.Value, p.NextLink
	if p.D != nil {
		rows, next = p.D.Results, p.D.Next
	} else if p.Value == nil {
		return nil, errors.New("malformed Reporting Web Service response: neither d.results nor value")
	}
	out := &tracePage{next: next, rows: make([]traceRow, 0, len(rows))}
	for _, raw := range rows {
		var l refLegacyRow
		typeErr := unmarshal(raw, &l)
		received, err := refParseLegacyDate(refDeref(l.Received))
		id := refDeref(l.MessageTraceID)
		switch {
		case typeErr != nil:
			out.rows = append(out.rows, unparsedRow(raw, typeErr.Error(), received, err == nil))
			continue
		case err != nil:
			out.rows = append(out.rows, unparsedRow(raw, err.Error(), time.Time{}, false))
			continue
		case id == "":
			out.rows = append(out.rows, unparsedRow(raw, "no MessageTraceId", received, true))
			continue
		}
		out.rows = append(out.rows, traceRow{
			ID: id, MessageID: refDeref(l.MessageID), Sender: refDeref(l.SenderAddress),
			Recipient: refDeref(l.RecipientAddress), Subject: refDeref(l.Subject), Status: refDeref(l.Status),
			FromIP: refDeref(l.FromIP), ToIP: refDeref(l.ToIP), Organization: refDeref(l.Organization),
			Received: received, Size: refDerefInt(l.Size),
		})
	}
	placeUnparsed(out.rows)
	return out, nil
}

// refParseLegacyDate is the original date parser, without the fast path.
func refParseLegacyDate(s string) (time.Time, error) {
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		return parseLegacyDate(s)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither /Date(ms)/ nor ISO 8601", s)
	}
	return t, nil
}

func refDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func refDerefInt(i *int64) int64 {
	if i == nil {
		return 0
	}
	return *i
}

// sameDecoding fails t when the decoder and the reference disagree on body.
func sameDecoding(t *testing.T, name string, body []byte, decode, reference func([]byte) (*tracePage, error)) {
	t.Helper()
	if diff := decodingDiff(body, decode, reference); diff != "" {
		t.Fatalf("%s: %s", name, diff)
	}
}

// decodingDiff says how decode and reference disagree on body ("" = they agree).
func decodingDiff(body []byte, decode, reference func([]byte) (*tracePage, error)) string {
	got, gotErr := decode(body)
	want, wantErr := reference(body)
	if (gotErr == nil) != (wantErr == nil) || errors.Is(gotErr, errNotJSON) != errors.Is(wantErr, errNotJSON) {
		return fmt.Sprintf("error %v, reference error %v, body %q", gotErr, wantErr, body)
	}
	if gotErr != nil {
		return ""
	}
	if got.next != want.next || len(got.rows) != len(want.rows) {
		return fmt.Sprintf("next %q with %d rows, reference next %q with %d rows, body %q", got.next, len(got.rows), want.next, len(want.rows), body)
	}
	for i := range got.rows {
		g, w := got.rows[i], want.rows[i]
		if !g.Received.Equal(w.Received) || g.Received.Location() != w.Received.Location() {
			return fmt.Sprintf("row %d received %v, reference %v, body %q", i, g.Received, w.Received, body)
		}
		g.Received, w.Received = time.Time{}, time.Time{}
		if (g.ParseError == "") != (w.ParseError == "") {
			return fmt.Sprintf("row %d parse error %q, reference %q, body %q", i, g.ParseError, w.ParseError, body)
		}
		g.ParseError, w.ParseError = "", ""
		if g != w {
			return fmt.Sprintf("row %d\n got %+v\nwant %+v\nbody %q", i, g, w, body)
		}
	}
	return ""
}

// differentialSeeds are bodies at the edges of encoding/json's semantics.
var differentialSeeds = []string{
	`{"value":[]}`,
	`{"value":null}`,
	`{"value":[null]}`,
	` {"value":[]} `,
	"\xef\xbb\xbf{\"value\":[]}",
	`{"value":[]} x`,
	`{"value":[]}{}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":-0}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":1.0}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":1e2}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":9223372036854775808}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":"1"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":01}]}`,
	`{"value":[{"id":"a","id":null,"receivedDateTime":"2026-11-21T08:00:00.123456789Z","subject":"s","subject":null}]}`,
	`{"value":[{"ID":"a","ReceivedDateTime":"2026-11-21T08:00:00+01:00","SUBJECT":"x","ſubject":"long s","toIP":"\u0031"}]}`,
	`{"vaLue":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","s\u0069ze":5}],"@odata.nextlin\u212a":"n"}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","subject":"x"},{"id":"b","receivedDateTime":"2026-11-21T08:00:00Z"}],"value":[{"id":"c"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z"},{"id":"b","receivedDateTime":"2026-11-21T08:00:00Z"}],"value":[{"id":"c"}],"value":[null,null]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z"}],"value":[],"value":[null]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","subject":"\ud83d\ude00 \ud83d \ude00 \ud83d\u0041 \udc00\ud800\udc00 \u00e9 \/ \b\f\n\r\t"}]}`,
	"{\"value\":[{\"id\":\"a\xff\",\"receivedDateTime\":\"2026-11-21T08:00:00Z\",\"subject\":\"\xed\xa0\x80 \xc3\"}]}",
	"{\"value\":[{\"id\":\"a\x01\",\"receivedDateTime\":\"2026-11-21T08:00:00Z\"}]}",
	`{"value":[{"id":"a","receivedDateTime":"2026-02-29T08:00:00Z"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2024-02-29T08:00:00.1234567890Z"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2024-02-29T24:00:00Z"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2024-02-29T08:00:00"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2024-02-29t08:00:00z"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2024-02-29T08:00:00,5Z"}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","x":{"y":[1,2,{"z":null}],"w":true,"v":false}}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","x":[1,2,}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","x":tru}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","subject":5}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","subject":{}}]}`,
	`{"value":[["a"]]}`,
	`{"value":{}}`,
	`{"value":"x"}`,
	`{"@odata.nextLink":null,"value":[]}`,
	`{"@odata.nextLink":"a","@odata.nextLink":null,"value":[]}`,
	`{"@odata.nextLink":5,"value":[]}`,
	`{"value":[],}`,
	`{,"value":[]}`,
	`{"value":[]`,
	`{"value" []}`,
	`{"d":{"results":[{"MessageTraceId":"x","Received":"\/Date(1)\/","__metadata":{"id":"u"},"Index":0}],"__next":"n"}}`,
	`{"d":null,"value":[]}`,
	`{"d":null}`,
	`{"d":{}}`,
	`{"d":[]}`,
	`{"d":{"results":[{"MessageTraceId":"x","Received":"/Date(1)/"}]},"d":{"__next":"n"}}`,
	`{"d":{"results":[{"MessageTraceId":"x","Received":"/Date(1)/"}]},"d":null,"d":{"__next":"n"}}`,
	`{"D":{"RESULTS":[{"messagetraceid":"x","received":"2026-03-01T10:02:00","size":null,"ToIP":null}]}}`,
	`{"odata.metadata":"m","value":[{"MessageTraceId":"x","Received":"2026-03-01T10:02:00.1170000Z","StartDate":"s","EndDate":"e"}],"odata.nextLink":"../x"}`,
	`{"value":[{"MessageTraceId":"x","Received":"/Date(1772359262117+0000)/"}]}`,
	`{"value":[{"MessageTraceId":"x","Received":"/Date(abc)/"}]}`,
	`{"value":[{"MessageTraceId":null,"Received":"/Date(1)/"}]}`,
	`{"value":[{"MessageTraceId":"x","Received":null}]}`,
	// Bad rows among good ones (issue 11): each is delivered raw, the others as usual.
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z"},{"id":"b","receivedDateTime":"2026-13-45T99:00:00Z"},{"id":"c","receivedDateTime":"2026-11-21T07:00:00Z"}]}`,
	`{"value":[{"id":"b","receivedDateTime":"nope"},{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z"}]}`,
	`{"value":[{"id":"b","receivedDateTime":"nope"},{"receivedDateTime":"2026-11-21T08:00:00Z"},7,"s",[1],null]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":"1","subject":5,"toIP":[]}]}`,
	`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":1},{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":1.5}],"value":[{"id":"c"}]}`,
	"{\"value\":[{\"id\":\"a\",\"receivedDateTime\":\"\xff\xfe\",\"x\":\"\xc3\"}]}",
	`{"d":{"results":[{"MessageTraceId":"x","Received":"/Date(1)/","Size":"big"},{"MessageTraceId":"y","Received":"later"}]}}`,
	`{"value":[{"MessageTraceId":5,"Received":"/Date(1)/"},{"MessageTraceId":"y","Received":"/Date(2)/"}]}`,
}

func TestDecodersMatchReference(t *testing.T) {
	graph, verbose, light := realisticPages(t)
	bodies := [][]byte{graph, verbose, light, readPage(t, "graph.json"), readPage(t, "legacy_verbose.json"),
		readPage(t, "legacy_light.json"), readPage(t, "truncated.json"), readPage(t, "html_signin.html")}
	for _, s := range differentialSeeds {
		bodies = append(bodies, []byte(s))
	}
	for i, body := range bodies {
		sameDecoding(t, fmt.Sprintf("graph %d", i), body, decodeGraphPage, refDecodeGraphPage)
		sameDecoding(t, fmt.Sprintf("legacy %d", i), body, decodeLegacyPage, refDecodeLegacyPage)
	}
}

func TestDecodeNestingLimit(t *testing.T) {
	nested := func(depth int) []byte {
		// The top-level object and the "x" array count as two levels.
		return []byte(`{"x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `,"value":[]}`)
	}
	for _, depth := range []int{maxNestingDepth, maxNestingDepth + 1} {
		body := nested(depth)
		_, refErr := refDecodeGraphPage(body)
		_, err := decodeGraphPage(body)
		assert.Equal(t, refErr == nil, err == nil, "depth %d: %v / reference %v", depth, err, refErr)
	}
	_, err := decodeGraphPage(nested(maxNestingDepth + 1))
	require.ErrorContains(t, err, "exceeded max depth")
}

func FuzzDecodeGraphPageDifferential(f *testing.F) {
	f.Add(readPage(f, "graph.json"))
	f.Add(readPage(f, "truncated.json"))
	for _, s := range differentialSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameDecoding(t, "graph", body, decodeGraphPage, refDecodeGraphPage)
	})
}

func FuzzDecodeLegacyPageDifferential(f *testing.F) {
	f.Add(readPage(f, "legacy_verbose.json"))
	f.Add(readPage(f, "legacy_light.json"))
	for _, s := range differentialSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameDecoding(t, "legacy", body, decodeLegacyPage, refDecodeLegacyPage)
	})
}
