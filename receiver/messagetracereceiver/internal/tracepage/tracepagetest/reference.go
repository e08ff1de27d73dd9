// Package tracepagetest holds what tests of the page decoder compare it with: the encoding/json
// decoders it replaced (the reference its differential fuzzing holds it to), the same decoders
// on other JSON libraries, and bodies at the edges of encoding/json's semantics.
package tracepagetest // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage/tracepagetest"

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// The encoding/json decoders the hand-written ones in tracepage replaced, kept as the
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

// ReferenceGraph is the Graph decoder on encoding/json.
func ReferenceGraph(body []byte) (*tracepage.Page, error) {
	return decodeGraphPageVia(json.Unmarshal, body)
}

// GraphVia is the reference Graph decoder over any encoding/json-compatible Unmarshal, so the
// library comparison runs the same code with other libraries.
func GraphVia(unmarshal func([]byte, any) error) func([]byte) (*tracepage.Page, error) {
	return func(body []byte) (*tracepage.Page, error) { return decodeGraphPageVia(unmarshal, body) }
}

func decodeGraphPageVia(unmarshal func([]byte, any) error, body []byte) (*tracepage.Page, error) {
	if !tracepage.LooksLikeJSONObject(body) {
		return nil, tracepage.ErrNotJSON
	}
	var p refGraphPage
	if err := unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("malformed Graph response: %w", err)
	}
	out := &tracepage.Page{Next: p.NextLink, Rows: make([]tracepage.Row, 0, len(p.Value))}
	for _, raw := range p.Value {
		var g refGraphRow
		typeErr := unmarshal(raw, &g)
		received, err := time.Parse(time.RFC3339Nano, g.ReceivedDateTime)
		switch {
		case typeErr != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(raw, typeErr.Error(), received.UTC(), err == nil))
			continue
		case err != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(raw, err.Error(), time.Time{}, false))
			continue
		case g.ID == "":
			out.Rows = append(out.Rows, tracepage.Unparsed(raw, "no id", received.UTC(), true))
			continue
		}
		out.Rows = append(out.Rows, tracepage.Row{
			ID: g.ID, MessageID: refDeref(g.MessageID), Sender: refDeref(g.SenderAddress),
			Recipient: refDeref(g.RecipientAddress), Subject: refDeref(g.Subject), Status: refDeref(g.Status),
			FromIP: refDeref(g.FromIP), ToIP: refDeref(g.ToIP), Received: received.UTC(), Size: refDerefInt(g.Size),
		})
	}
	tracepage.PlaceUnparsed(out.Rows)
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

// ReferenceLegacy is the legacy decoder on encoding/json.
func ReferenceLegacy(body []byte) (*tracepage.Page, error) {
	return decodeLegacyPageVia(json.Unmarshal, body)
}

// LegacyVia is the reference legacy decoder over any encoding/json-compatible Unmarshal.
func LegacyVia(unmarshal func([]byte, any) error) func([]byte) (*tracepage.Page, error) {
	return func(body []byte) (*tracepage.Page, error) { return decodeLegacyPageVia(unmarshal, body) }
}

func decodeLegacyPageVia(unmarshal func([]byte, any) error, body []byte) (*tracepage.Page, error) {
	if !tracepage.LooksLikeJSONObject(body) {
		return nil, tracepage.ErrNotJSON
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
	out := &tracepage.Page{Next: next, Rows: make([]tracepage.Row, 0, len(rows))}
	for _, raw := range rows {
		var l refLegacyRow
		typeErr := unmarshal(raw, &l)
		received, err := RefParseLegacyDate(refDeref(l.Received))
		id := refDeref(l.MessageTraceID)
		switch {
		case typeErr != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(raw, typeErr.Error(), received, err == nil))
			continue
		case err != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(raw, err.Error(), time.Time{}, false))
			continue
		case id == "":
			out.Rows = append(out.Rows, tracepage.Unparsed(raw, "no MessageTraceId", received, true))
			continue
		}
		out.Rows = append(out.Rows, tracepage.Row{
			ID: id, MessageID: refDeref(l.MessageID), Sender: refDeref(l.SenderAddress),
			Recipient: refDeref(l.RecipientAddress), Subject: refDeref(l.Subject), Status: refDeref(l.Status),
			FromIP: refDeref(l.FromIP), ToIP: refDeref(l.ToIP), Organization: refDeref(l.Organization),
			Received: received, Size: refDerefInt(l.Size),
		})
	}
	tracepage.PlaceUnparsed(out.Rows)
	return out, nil
}

// RefParseLegacyDate is the original date parser, without the fast path (exported for the
// jsonlibs module's fastjson path).
func RefParseLegacyDate(s string) (time.Time, error) {
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		return tracepage.ParseLegacyDate(s)
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

// TooDeepReason is the ParseError of a row nested deeper than the decoder's limit.
var TooDeepReason = fmt.Sprintf("nested deeper than %d levels", tracepage.MaxNestingDepth)

// Diff says how decode and reference disagree on body ("" = they agree).
func Diff(body []byte, decode, reference func([]byte) (*tracepage.Page, error)) string {
	got, gotErr := decode(body)
	want, wantErr := reference(body)
	if gotErr == nil && wantErr != nil && strings.Contains(wantErr.Error(), "exceeded max depth") {
		// Where the two part on purpose: encoding/json refuses a whole body nested deeper than
		// its limit, the decoder delivers a row nested that deep raw and the rest of its page
		// (issue 20). Such a page must hold a row unparsed for that reason.
		for _, r := range got.Rows {
			if r.ParseError == TooDeepReason {
				return ""
			}
		}
		return fmt.Sprintf("decoded a body the reference refuses for its nesting (%v) without a row nested too deep, body %q", wantErr, body)
	}
	if (gotErr == nil) != (wantErr == nil) || errors.Is(gotErr, tracepage.ErrNotJSON) != errors.Is(wantErr, tracepage.ErrNotJSON) {
		return fmt.Sprintf("error %v, reference error %v, body %q", gotErr, wantErr, body)
	}
	if gotErr != nil {
		return ""
	}
	if got.Next != want.Next || len(got.Rows) != len(want.Rows) {
		return fmt.Sprintf("next %q with %d rows, reference next %q with %d rows, body %q", got.Next, len(got.Rows), want.Next, len(want.Rows), body)
	}
	for i := range got.Rows {
		g, w := got.Rows[i], want.Rows[i]
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
