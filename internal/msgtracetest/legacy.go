package msgtracetest

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	legacyMaxTop         = 2000
	legacyMaxAge         = 10 * 24 * time.Hour
	legacyDefaultWindow  = 48 * time.Hour
	legacySkiptokenLimit = 999999
	legacyServiceRoot    = "/ecp/ReportingWebService/Reporting.svc"
)

// legacyStatus maps Graph lower camel statuses to the legacy PascalCase values.
func legacyStatus(s string) string {
	switch s {
	case StatusDelivered:
		return "Delivered"
	case StatusPending:
		return "Pending"
	case StatusGettingStatus:
		return "GettingStatus"
	case StatusFailed:
		return "Failed"
	case StatusExpanded:
		return "Expanded"
	case StatusQuarantined:
		return "Quarantined"
	case StatusFilteredAsSpam:
		return "FilteredAsSpam"
	case "":
		return "None"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var legacyStringProps = map[string]func(r *Row, status string) string{
	"senderaddress":    func(r *Row, _ string) string { return r.Sender },
	"recipientaddress": func(r *Row, _ string) string { return r.Recipient },
	"messageid":        func(r *Row, _ string) string { return r.MessageID },
	"messagetraceid":   func(r *Row, _ string) string { return r.ID },
	"fromip":           func(r *Row, _ string) string { return r.FromIP },
	"toip":             func(r *Row, _ string) string { return r.ToIP },
	"status":           func(_ *Row, st string) string { return legacyStatus(st) },
}

// parseLegacyTime accepts ISO timestamps with or without offset (no offset = UTC).
func parseLegacyTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

type legacyQuery struct {
	start, end time.Time
	preds      []rowPred
	top        int
	skip       int // index of the last row already returned; -1 = none
}

func parseLegacyQuery(r *http.Request, now time.Time) (*legacyQuery, *response) {
	q := r.URL.Query()
	lq := &legacyQuery{top: legacyMaxTop, skip: -1}
	if v, ok := q["$top"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 {
			return nil, odataError(http.StatusBadRequest, "", "en-US", "Incorrect format for $top argument '"+v[0]+"'.")
		}
		if n > legacyMaxTop {
			return nil, odataError(http.StatusBadRequest, "", "en-US", "The value of $top must not exceed "+strconv.Itoa(legacyMaxTop)+".")
		}
		lq.top = n
	}
	if v, ok := q["$skiptoken"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return nil, odataError(http.StatusBadRequest, "", "en-US", "Incorrect format for $skiptoken argument '"+v[0]+"'.")
		}
		if n >= legacySkiptokenLimit {
			return nil, odataError(http.StatusInternalServerError, "UnknownError", "", "An error has occurred on the server.")
		}
		lq.skip = n
	}
	var hasStart, hasEnd bool
	if f, ok := q["$filter"]; ok {
		clauses, err := parseFilter(f[0])
		if err != nil {
			return nil, odataError(http.StatusBadRequest, "", "en-US", "Syntax error in $filter: "+err.Error()+".")
		}
		for _, c := range clauses {
			lp := strings.ToLower(c.prop)
			if lp == "startdate" || lp == "enddate" {
				if c.op != "eq" || c.val.kind != tokTyped || !strings.EqualFold(c.val.typ, "datetime") {
					return nil, odataError(http.StatusBadRequest, "", "en-US", "Operator or literal not supported for "+c.prop+": use "+c.prop+" eq datetime'yyyy-mm-ddThh:mm:ssZ'.")
				}
				t, ok := parseLegacyTime(c.val.text)
				if !ok {
					return nil, odataError(http.StatusBadRequest, "", "en-US", "Unrecognized 'Edm.DateTime' literal 'datetime'"+c.val.text+"''.")
				}
				if lp == "startdate" {
					lq.start, hasStart = t, true
				} else {
					lq.end, hasEnd = t, true
				}
				continue
			}
			get, ok := legacyStringProps[lp]
			if !ok {
				return nil, odataError(http.StatusBadRequest, "", "en-US", "No property '"+c.prop+"' exists in type 'TenantReporting.MessageTrace'.")
			}
			if c.op != "eq" || c.val.kind != tokString {
				return nil, odataError(http.StatusBadRequest, "", "en-US", "Only 'eq' with a string literal is supported for "+c.prop+".")
			}
			want := strings.ToLower(c.val.text)
			lq.preds = append(lq.preds, func(r *Row, st string) bool { return strings.ToLower(get(r, st)) == want })
		}
	}
	switch {
	case hasStart && hasEnd:
	case hasStart || hasEnd:
		return nil, odataError(http.StatusBadRequest, "", "en-US", "StartDate and EndDate must be specified together.")
	default:
		lq.start, lq.end = now.Add(-legacyDefaultWindow).UTC(), now.UTC()
	}
	if lq.end.Before(lq.start) {
		return nil, odataError(http.StatusBadRequest, "", "en-US", "The StartDate must be earlier than the EndDate.")
	}
	if lq.start.Before(now.Add(-legacyMaxAge)) {
		return nil, odataError(http.StatusBadRequest, "", "en-US", "Invalid StartDate value. The StartDate can't be older than 10 days from today.")
	}
	return lq, nil
}

// serveLegacy answers GET /ecp/reportingwebservice/reporting.svc/MessageTrace.
// Rows are in ascending order (Received asc, id, recipient); Index is the zero-based
// position in the whole result set and $skiptoken is the Index of the last row seen.
func (s *Server) serveLegacy(r *http.Request, poison bool) *response {
	now := s.now()
	if r.Method != http.MethodGet {
		return odataError(http.StatusMethodNotAllowed, "", "en-US", "Method not allowed.")
	}
	q := r.URL.Query()
	poisonKey := q.Get("$filter") + "\x00" + q.Get("$skiptoken")
	s.mu.Lock()
	bad := q.Get("$skiptoken") != "" && s.poisoned[poisonKey]
	s.mu.Unlock()
	if bad {
		return odataError(http.StatusBadRequest, "", "en-US", poisonedMessage)
	}
	lq, errResp := parseLegacyQuery(r, now)
	if errResp != nil {
		return errResp
	}

	// Two passes over the (newest-first) store: count the matches, then pick the
	// ascending positions [skip+1, skip+top] — memory stays O(top).
	s.mu.Lock()
	st := &s.store
	i0 := st.firstAtOrBefore(lq.end)
	match := func(e *rowEntry) (string, bool) {
		if e.Received.Before(lq.start) || !e.visible(now) {
			return "", false
		}
		status := e.effectiveStatus(now)
		for _, p := range lq.preds {
			if !p(&e.Row, status) {
				return "", false
			}
		}
		return status, true
	}
	total := 0
	for i := i0; i < len(st.rows) && !st.rows[i].Received.Before(lq.start); i++ {
		if _, ok := match(st.rows[i]); ok {
			total++
		}
	}
	first := lq.skip + 1
	last := min(first+lq.top, total) // exclusive, ascending positions
	var page []Row
	if first < last {
		page = make([]Row, last-first)
		desc := 0 // position in descending order; ascending position = total-1-desc
		for i := i0; i < len(st.rows) && !st.rows[i].Received.Before(lq.start); i++ {
			status, ok := match(st.rows[i])
			if !ok {
				continue
			}
			asc := total - 1 - desc
			desc++
			if asc >= first && asc < last {
				row := st.rows[i].Row
				row.Status = status
				page[asc-first] = row
			}
			if asc < first {
				break
			}
		}
	}
	envelope := s.opts.LegacyEnvelope
	if envelope == EnvelopeAlternate {
		if s.legacyCount%2 == 0 {
			envelope = EnvelopeLight
		} else {
			envelope = EnvelopeVerbose
		}
		s.legacyCount++
	}
	s.mu.Unlock()

	nextSkip := -1
	if last < total {
		nextSkip = last - 1
		if skip, err := strconv.Atoi(q.Get("$skiptoken")); err == nil && s.repeatingNextLinks() != RepeatNone {
			nextSkip = skip // RepeatNextLinks: the link to this very page
		}
		if poison {
			s.mu.Lock()
			s.poisoned[q.Get("$filter")+"\x00"+strconv.Itoa(nextSkip)] = true
			s.mu.Unlock()
		}
	}
	wantJSON := strings.EqualFold(q.Get("$format"), "json") ||
		(q.Get("$format") == "" && strings.Contains(strings.ToLower(r.Header.Get("Accept")), "json"))
	var resp *response
	switch {
	case !wantJSON:
		resp = s.legacyAtom(page, first, lq)
	case envelope == EnvelopeVerbose:
		resp = s.legacyVerbose(r, page, first, lq, nextSkip)
	default:
		resp = s.legacyLight(r, page, first, lq, nextSkip)
	}
	resp.rows = len(page)
	resp.header.Set("request-id", newUUID())
	resp.header.Set("X-Powered-By", "ASP.NET")
	return resp
}

func legacyNextQuery(rawQuery string, skip int) string {
	return withSkiptoken(rawQuery, strconv.Itoa(skip))
}

// appendLegacyReceived writes the Received member: value, or Row.Corrupt["Received"] as raw
// JSON when the row has one (the legacy API's only corruptible member).
func appendLegacyReceived(b []byte, row *Row, value string, st jsonStyle) []byte {
	if c, ok := row.Corrupt["Received"]; ok {
		b = appendKey(b, "Received", false)
		return append(b, c...)
	}
	return appendStrField(b, "Received", value, false, st)
}

func msDate(t time.Time) string {
	return "/Date(" + strconv.FormatInt(t.UnixMilli(), 10) + ")/"
}

func (s *Server) legacyVerbose(r *http.Request, page []Row, first int, lq *legacyQuery, nextSkip int) *response {
	st := jsonStyle{escapeNonASCII: true, escapeSlash: true}
	b := make([]byte, 0, 256+len(page)*700)
	b = append(b, `{"d":{"results":[`...)
	for i := range page {
		row := &page[i]
		idx := first + i
		if i > 0 {
			b = append(b, ',')
		}
		uri := s.url + legacyServiceRoot + "/MessageTrace(" + strconv.Itoa(idx) + ")"
		b = append(b, `{"__metadata":{`...)
		b = appendStrField(b, "id", uri, true, st)
		b = appendStrField(b, "uri", uri, false, st)
		b = appendStrField(b, "type", "TenantReporting.MessageTrace", false, st)
		b = append(b, '}')
		b = appendStrField(b, "Organization", s.opts.Organization, false, st)
		b = appendNullableStrField(b, "MessageId", row.MessageID, false, st)
		b = appendLegacyReceived(b, row, msDate(row.Received), st)
		b = appendStrField(b, "SenderAddress", row.Sender, false, st)
		b = appendStrField(b, "RecipientAddress", row.Recipient, false, st)
		b = appendStrField(b, "Subject", row.Subject, false, st)
		b = appendStrField(b, "Status", legacyStatus(row.Status), false, st)
		b = appendNullableStrField(b, "ToIP", row.ToIP, false, st)
		b = appendNullableStrField(b, "FromIP", row.FromIP, false, st)
		b = appendIntField(b, "Size", int64(row.Size), false)
		b = appendStrField(b, "MessageTraceId", row.ID, false, st)
		b = appendStrField(b, "StartDate", msDate(lq.start), false, st)
		b = appendStrField(b, "EndDate", msDate(lq.end), false, st)
		b = appendIntField(b, "Index", int64(idx), false)
		b = append(b, '}')
	}
	b = append(b, ']')
	if nextSkip >= 0 {
		b = appendStrField(b, "__next", s.url+legacyServiceRoot+"/MessageTrace?"+legacyNextQuery(r.URL.RawQuery, nextSkip), false, st)
	}
	b = append(b, "}}"...)
	return newResponse(http.StatusOK, "application/json;charset=utf-8", b)
}

func (s *Server) legacyLight(r *http.Request, page []Row, first int, lq *legacyQuery, nextSkip int) *response {
	st := jsonStyle{}
	b := make([]byte, 0, 256+len(page)*450)
	b = append(b, '{')
	b = appendStrField(b, "odata.metadata", s.url+legacyServiceRoot+"/$metadata#MessageTrace", true, st)
	b = append(b, `,"value":[`...)
	for i := range page {
		row := &page[i]
		idx := first + i
		if i > 0 {
			b = append(b, ',')
		}
		recv := row.Received.UTC().Format("2006-01-02T15:04:05.0000000")
		if idx%10 == 9 { // some rows do carry a Z
			recv += "Z"
		}
		b = append(b, '{')
		b = appendStrField(b, "Organization", s.opts.Organization, true, st)
		b = appendNullableStrField(b, "MessageId", row.MessageID, false, st)
		b = appendLegacyReceived(b, row, recv, st)
		b = appendStrField(b, "SenderAddress", row.Sender, false, st)
		b = appendStrField(b, "RecipientAddress", row.Recipient, false, st)
		b = appendStrField(b, "Subject", row.Subject, false, st)
		b = appendStrField(b, "Status", legacyStatus(row.Status), false, st)
		b = appendNullableStrField(b, "ToIP", row.ToIP, false, st)
		b = appendNullableStrField(b, "FromIP", row.FromIP, false, st)
		b = appendIntField(b, "Size", int64(row.Size), false)
		b = appendStrField(b, "MessageTraceId", row.ID, false, st)
		b = appendStrField(b, "StartDate", lq.start.UTC().Format(time.RFC3339Nano), false, st)
		b = appendStrField(b, "EndDate", lq.end.UTC().Format(time.RFC3339Nano), false, st)
		b = appendIntField(b, "Index", int64(idx), false)
		b = append(b, '}')
	}
	b = append(b, ']')
	if nextSkip >= 0 {
		b = appendStrField(b, "odata.nextLink", "../../reportingwebservice/reporting.svc/MessageTrace?"+legacyNextQuery(r.URL.RawQuery, nextSkip), false, st)
	}
	b = append(b, '}')
	return newResponse(http.StatusOK, "application/json;odata=minimalmetadata;streaming=true;charset=utf-8", b)
}

// legacyAtom is the default (non-JSON) answer: an Atom feed, which a JSON client
// must not mistake for data.
func (s *Server) legacyAtom(page []Row, first int, lq *legacyQuery) *response {
	var sb strings.Builder
	esc := func(v string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(v))
		return b.String()
	}
	root := s.url + legacyServiceRoot
	sb.WriteString(`<?xml version="1.0" encoding="utf-8"?><feed xml:base="` + esc(root) + `/" xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><id>` + esc(root) + `/MessageTrace</id><title type="text">MessageTrace</title>`)
	prop := func(name, v string, nullable bool) {
		if nullable && v == "" {
			sb.WriteString(`<d:` + name + ` m:null="true" />`)
			return
		}
		sb.WriteString(`<d:` + name + `>` + esc(v) + `</d:` + name + `>`)
	}
	for i := range page {
		row := &page[i]
		idx := strconv.Itoa(first + i)
		sb.WriteString(`<entry><id>` + esc(root) + `/MessageTrace(` + idx + `)</id><category term="TenantReporting.MessageTrace" scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme" /><content type="application/xml"><m:properties>`)
		prop("Organization", s.opts.Organization, false)
		prop("MessageId", row.MessageID, true)
		prop("Received", row.Received.UTC().Format("2006-01-02T15:04:05.0000000"), false)
		prop("SenderAddress", row.Sender, false)
		prop("RecipientAddress", row.Recipient, false)
		prop("Subject", row.Subject, false)
		prop("Status", legacyStatus(row.Status), false)
		prop("ToIP", row.ToIP, true)
		prop("FromIP", row.FromIP, true)
		prop("Size", strconv.Itoa(row.Size), false)
		prop("MessageTraceId", row.ID, false)
		prop("StartDate", lq.start.UTC().Format("2006-01-02T15:04:05Z"), false)
		prop("EndDate", lq.end.UTC().Format("2006-01-02T15:04:05Z"), false)
		prop("Index", idx, false)
		sb.WriteString(`</m:properties></content></entry>`)
	}
	sb.WriteString(`</feed>`)
	return newResponse(http.StatusOK, "application/atom+xml;type=feed;charset=utf-8", []byte(sb.String()))
}
