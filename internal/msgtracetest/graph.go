package msgtracetest

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	graphMaxTop        = 5000
	graphDefaultTop    = 1000
	graphMaxSpan       = 10 * 24 * time.Hour
	graphMaxAge        = 90 * 24 * time.Hour
	graphDefaultWindow = 48 * time.Hour
)

// poisonedMessage is the 400 message of a skiptoken that went bad (Elastic #18985).
const poisonedMessage = "|System.ArgumentException|Invalid starting recipient address"

// rowPred filters rows; status is the effective status.
type rowPred func(r *Row, status string) bool

// graphQuery is a validated Graph list request.
type graphQuery struct {
	start, end time.Time
	preds      []rowPred
	top        int
	cur        *cursor
}

type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return badRequest{fmt.Sprintf(format, args...)} }

// graphStringProps maps lower-case property names to accessors for eq filters.
var graphStringProps = map[string]func(r *Row, status string) string{
	"id":               func(r *Row, _ string) string { return r.ID },
	"messageid":        func(r *Row, _ string) string { return r.MessageID },
	"senderaddress":    func(r *Row, _ string) string { return r.Sender },
	"recipientaddress": func(r *Row, _ string) string { return r.Recipient },
	"status":           func(_ *Row, st string) string { return st },
	"fromip":           func(r *Row, _ string) string { return r.FromIP },
	"toip":             func(r *Row, _ string) string { return r.ToIP },
	"subject":          func(r *Row, _ string) string { return r.Subject },
}

func singleParam(q url.Values, name string) (string, bool, error) {
	vs, ok := q[name]
	if !ok {
		return "", false, nil
	}
	if len(vs) > 1 {
		return "", true, badf("Query option '%s' was specified more than once, but it must be specified at most once.", name)
	}
	return vs[0], true, nil
}

func (s *Server) parseGraphQuery(q url.Values, now time.Time) (*graphQuery, error) {
	gq := &graphQuery{top: graphDefaultTop}
	filter, hasFilter, err := singleParam(q, "$filter")
	if err != nil {
		return nil, err
	}
	top, hasTop, err := singleParam(q, "$top")
	if err != nil {
		return nil, err
	}
	skip, hasSkip, err := singleParam(q, "$skiptoken")
	if err != nil {
		return nil, err
	}
	if hasTop {
		n, err := strconv.Atoi(strings.TrimSpace(top))
		switch {
		case err != nil:
			return nil, badf("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", top)
		case n > graphMaxTop:
			return nil, badf("The limit of '%d' for Top query has been exceeded. The value from the incoming request is '%d'.", graphMaxTop, n)
		case n < 1:
			return nil, badf("Invalid value '%s' for $top query option found. The $top value must be between 1 and %d.", top, graphMaxTop)
		}
		gq.top = n
	}
	if hasSkip {
		c, err := s.decodeSkiptoken(skip)
		if err != nil {
			return nil, badf("|System.ArgumentException|Invalid skip token '%s'.", skip)
		}
		gq.cur = &c
	}

	var hasGE, hasLE bool
	if hasFilter {
		clauses, err := parseFilter(filter)
		if err != nil {
			return nil, badf("Invalid filter clause: %v.", err)
		}
		last := map[string]clause{} // last value per property (and op for dates) wins
		var order []string
		for _, c := range clauses {
			lp := strings.ToLower(c.prop)
			k := lp
			if lp == "receiveddatetime" {
				k = lp + " " + c.op
			}
			if _, seen := last[k]; !seen {
				order = append(order, k)
			}
			last[k] = c
		}
		for _, k := range order {
			c := last[k]
			lp := strings.ToLower(c.prop)
			if lp == "receiveddatetime" {
				if c.val.kind != tokWord {
					return nil, badf("Invalid filter clause: The types 'Edm.DateTimeOffset' and 'Edm.String' are not compatible.")
				}
				t, err := time.Parse(time.RFC3339Nano, c.val.text)
				if err != nil {
					return nil, badf("Invalid filter clause: The DateTimeOffset text '%s' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range.", c.val.text)
				}
				switch c.op {
				case "ge":
					gq.start, hasGE = t.UTC(), true
				case "le":
					gq.end, hasLE = t.UTC(), true
				default:
					return nil, badf("Invalid filter clause: operator '%s' is not supported for receivedDateTime; use 'ge' and 'le'.", c.op)
				}
				continue
			}
			get, ok := graphStringProps[lp]
			if !ok {
				return nil, badf("Could not find a property named '%s' on type 'microsoft.graph.exchangeMessageTrace'.", c.prop)
			}
			if c.val.kind != tokString {
				return nil, badf("Invalid filter clause: a string literal is expected for '%s'.", c.prop)
			}
			want := strings.ToLower(c.val.text)
			switch {
			case c.op == "eq":
				gq.preds = append(gq.preds, func(r *Row, st string) bool { return strings.ToLower(get(r, st)) == want })
			case lp == "subject" && c.op == "contains":
				gq.preds = append(gq.preds, func(r *Row, st string) bool { return strings.Contains(strings.ToLower(get(r, st)), want) })
			case lp == "subject" && c.op == "startswith":
				gq.preds = append(gq.preds, func(r *Row, st string) bool { return strings.HasPrefix(strings.ToLower(get(r, st)), want) })
			case lp == "subject" && c.op == "endswith":
				gq.preds = append(gq.preds, func(r *Row, st string) bool { return strings.HasSuffix(strings.ToLower(get(r, st)), want) })
			default:
				return nil, badf("Invalid filter clause: operator '%s' is not supported for '%s'.", c.op, c.prop)
			}
		}
	}

	switch {
	case hasGE && hasLE:
	case hasGE || hasLE:
		return nil, badf("Invalid filter clause: both 'receivedDateTime ge' and 'receivedDateTime le' must be specified.")
	case gq.cur != nil:
		gq.start, gq.end = gq.cur.winStart, gq.cur.winEnd
	default:
		gq.start, gq.end = now.Add(-graphDefaultWindow).UTC(), now.UTC()
	}
	if hasGE {
		switch {
		case gq.end.Before(gq.start):
			return nil, badf("The start date must be earlier than or equal to the end date.")
		case gq.end.Sub(gq.start) > graphMaxSpan:
			return nil, badf("The time range between the start date and the end date must not exceed 10 days.")
		case gq.start.Before(now.Add(-graphMaxAge)):
			return nil, badf("The start date must be within the last 90 days.")
		case gq.end.After(now):
			return nil, badf("The end date cannot be later than the current time.")
		}
	}
	return gq, nil
}

// serveGraph answers GET /{v1.0|beta}/admin/exchange/tracing/messageTraces.
func (s *Server) serveGraph(r *http.Request, poison bool) *response {
	now := s.now()
	if r.Method != http.MethodGet {
		return graphError(now, r, http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method '"+r.Method+"' is not allowed for this resource.")
	}
	q := r.URL.Query()
	if tok := q.Get("$skiptoken"); tok != "" {
		s.mu.Lock()
		bad := s.poisoned[tok]
		s.mu.Unlock()
		if bad {
			return graphError(now, r, http.StatusBadRequest, "BadRequest", poisonedMessage)
		}
	}
	gq, err := s.parseGraphQuery(q, now)
	if err != nil {
		return graphError(now, r, http.StatusBadRequest, "BadRequest", err.Error())
	}
	includeUnknown := strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Prefer"), ",")), "include-unknown-enum-members")

	// Collect top+1 rows to know whether a next page exists.
	page := make([]Row, 0, min(gq.top+1, 1024))
	s.mu.Lock()
	st := &s.store
	i := st.firstAtOrBefore(gq.end)
	if gq.cur != nil {
		i = max(i, st.firstAfterKey(gq.cur.recv, gq.cur.key))
	}
	for ; i < len(st.rows) && len(page) <= gq.top; i++ {
		e := st.rows[i]
		if e.Received.Before(gq.start) {
			break
		}
		if !e.visible(now) {
			continue
		}
		status := e.effectiveStatus(now)
		ok := true
		for _, p := range gq.preds {
			if !p(&e.Row, status) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		row := e.Row
		row.Status = status
		page = append(page, row)
	}
	s.mu.Unlock()

	next := ""
	if len(page) > gq.top {
		page = page[:gq.top]
		lr := page[len(page)-1]
		tok := s.encodeSkiptoken(cursor{
			recv:     lr.Received,
			key:      rowKey{id: lr.ID, recipient: strings.ToLower(lr.Recipient)},
			winStart: gq.start,
			winEnd:   gq.end,
		})
		next = s.url + r.URL.EscapedPath() + "?" + withSkiptoken(r.URL.RawQuery, tok)
		switch mode := s.repeatingNextLinks(); {
		case gq.cur == nil || mode == RepeatNone:
		case mode == RepeatSameLink:
			next = s.url + r.URL.EscapedPath() + "?" + r.URL.RawQuery
		case mode == RepeatFreshLink:
			next = s.url + r.URL.EscapedPath() + "?" + withSkiptoken(r.URL.RawQuery, s.encodeSkiptoken(*gq.cur))
		}
		if poison {
			s.mu.Lock()
			s.poisoned[tok] = true
			s.mu.Unlock()
		}
	}

	version := "v1.0"
	if strings.HasPrefix(strings.ToLower(r.URL.Path), "/beta/") {
		version = "beta"
	}
	b := make([]byte, 0, 256+len(page)*420)
	b = append(b, '{')
	b = appendStrField(b, "@odata.context", s.url+"/"+version+"/$metadata#admin/exchange/tracing/messageTraces", true, jsonStyle{})
	if next != "" {
		b = appendStrField(b, "@odata.nextLink", next, false, jsonStyle{})
	}
	b = append(b, `,"value":[`...)
	for i := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendGraphRow(b, &page[i], includeUnknown)
	}
	b = append(b, "]}"...)
	resp := newResponse(http.StatusOK, graphJSON, b)
	setGraphHeaders(resp, r)
	resp.rows = len(page)
	return resp
}

func appendGraphRow(b []byte, r *Row, includeUnknown bool) []byte {
	if len(r.Corrupt) > 0 {
		return appendCorruptGraphRow(b, r, includeUnknown)
	}
	st := jsonStyle{}
	status := r.Status
	if status == StatusRecalled && !includeUnknown {
		status = "unknownFutureValue"
	}
	b = append(b, '{')
	b = appendStrField(b, "id", r.ID, true, st)
	b = appendStrField(b, "senderAddress", r.Sender, false, st)
	b = appendStrField(b, "recipientAddress", r.Recipient, false, st)
	b = appendStrField(b, "messageId", r.MessageID, false, st)
	b = appendKey(b, "receivedDateTime", false)
	b = append(b, '"')
	b = r.Received.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendStrField(b, "subject", r.Subject, false, st)
	b = appendIntField(b, "size", int64(r.Size), false)
	b = appendStrField(b, "fromIP", r.FromIP, false, st)
	b = appendStrField(b, "toIP", r.ToIP, false, st)
	b = appendStrField(b, "status", status, false, st)
	return append(b, '}')
}

// withSkiptoken returns rawQuery without any $skiptoken parameter, plus $skiptoken=tok,
// preserving the original encoding and order of the other parameters.
func withSkiptoken(rawQuery, tok string) string {
	var parts []string
	for _, p := range strings.Split(rawQuery, "&") {
		if p == "" {
			continue
		}
		k := p
		if i := strings.IndexByte(p, '='); i >= 0 {
			k = p[:i]
		}
		if uk, err := url.QueryUnescape(k); err == nil && strings.EqualFold(uk, "$skiptoken") {
			continue
		}
		parts = append(parts, p)
	}
	parts = append(parts, "$skiptoken="+tok)
	return strings.Join(parts, "&")
}
