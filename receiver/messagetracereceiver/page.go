package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// traceRow is one message trace row (one message, one recipient) in API-neutral form.
type traceRow struct {
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
}

// key identifies a row: a trace id covers every recipient of a message, so the recipient
// (case-insensitive, as Exchange treats addresses) is part of the identity.
func (r *traceRow) key() string {
	return r.ID + "|" + strings.ToLower(r.Recipient)
}

// tracePage is one decoded response: its rows and the link to the next page ("" = last page).
type tracePage struct {
	rows []traceRow
	next string
}

// errNotJSON marks a 200 whose body is not JSON, e.g. the "Sign in to Outlook" HTML page
// Microsoft sporadically returns; it is transient.
var errNotJSON = errors.New("response body is not JSON (Microsoft sometimes answers 200 with an HTML sign-in page)")

type graphPage struct {
	NextLink string     `json:"@odata.nextLink"`
	Value    []graphRow `json:"value"`
}

type graphRow struct {
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

// decodeGraphPage decodes a Graph messageTraces response.
func decodeGraphPage(body []byte) (*tracePage, error) {
	if !looksLikeJSONObject(body) {
		return nil, errNotJSON
	}
	var p graphPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("malformed Graph response: %w", err)
	}
	out := &tracePage{next: p.NextLink, rows: make([]traceRow, 0, len(p.Value))}
	for i := range p.Value {
		g := &p.Value[i]
		received, err := time.Parse(time.RFC3339Nano, g.ReceivedDateTime)
		if err != nil {
			return nil, fmt.Errorf("malformed Graph row %d: receivedDateTime %q: %w", i, g.ReceivedDateTime, err)
		}
		if g.ID == "" {
			return nil, fmt.Errorf("malformed Graph row %d: no id", i)
		}
		out.rows = append(out.rows, traceRow{
			ID:        g.ID,
			MessageID: deref(g.MessageID),
			Sender:    deref(g.SenderAddress),
			Recipient: deref(g.RecipientAddress),
			Subject:   deref(g.Subject),
			Status:    deref(g.Status),
			FromIP:    deref(g.FromIP),
			ToIP:      deref(g.ToIP),
			Received:  received.UTC(),
			Size:      derefInt(g.Size),
		})
	}
	return out, nil
}

// legacyPage accepts both JSON envelopes the Reporting Web Service is seen to send: verbose
// OData v2 (d.results + d.__next) and light (value + odata.nextLink, often relative).
type legacyPage struct {
	D *struct {
		Results []legacyRow `json:"results"`
		Next    string      `json:"__next"`
	} `json:"d"`
	Value    []legacyRow `json:"value"`
	NextLink string      `json:"odata.nextLink"`
}

type legacyRow struct {
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

// decodeLegacyPage decodes a Reporting Web Service MessageTrace response.
func decodeLegacyPage(body []byte) (*tracePage, error) {
	if !looksLikeJSONObject(body) {
		return nil, errNotJSON
	}
	var p legacyPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("malformed Reporting Web Service response: %w", err)
	}
	rows, next := p.Value, p.NextLink
	if p.D != nil {
		rows, next = p.D.Results, p.D.Next
	} else if p.Value == nil {
		return nil, errors.New("malformed Reporting Web Service response: neither d.results nor value")
	}
	out := &tracePage{next: next, rows: make([]traceRow, 0, len(rows))}
	for i := range rows {
		l := &rows[i]
		received, err := parseLegacyDate(deref(l.Received))
		if err != nil {
			return nil, fmt.Errorf("malformed Reporting Web Service row %d: Received: %w", i, err)
		}
		id := deref(l.MessageTraceID)
		if id == "" {
			return nil, fmt.Errorf("malformed Reporting Web Service row %d: no MessageTraceId", i)
		}
		out.rows = append(out.rows, traceRow{
			ID:           id,
			MessageID:    deref(l.MessageID),
			Sender:       deref(l.SenderAddress),
			Recipient:    deref(l.RecipientAddress),
			Subject:      deref(l.Subject),
			Status:       deref(l.Status),
			FromIP:       deref(l.FromIP),
			ToIP:         deref(l.ToIP),
			Organization: deref(l.Organization),
			Received:     received,
			Size:         derefInt(l.Size),
		})
	}
	return out, nil
}

// parseLegacyDate reads "/Date(1772359262117)/" (optionally with an offset suffix, which does
// not change the instant) or ISO 8601 with or without an offset; no offset means UTC.
func parseLegacyDate(s string) (time.Time, error) {
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		inner := s[len("/Date(") : len(s)-len(")/")]
		if i := strings.IndexAny(inner[min(1, len(inner)):], "+-"); i >= 0 {
			inner = inner[:i+min(1, len(inner))]
		}
		ms, err := strconv.ParseInt(inner, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a /Date(ms)/ value", s)
		}
		return time.UnixMilli(ms).UTC(), nil
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

func looksLikeJSONObject(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n\xef\xbb\xbf")
	return len(b) > 0 && b[0] == '{'
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(i *int64) int64 {
	if i == nil {
		return 0
	}
	return *i
}
