package msgtracetest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Message trace details: Graph getDetailsByRecipient and the legacy MessageTraceDetail
// report. They go through the same pipeline as the list (token, the tenant's quota with 429s,
// injected faults), so a client that fetches details shares the quota as with Microsoft.

const graphDetailsFunc = "/getdetailsbyrecipient(recipientaddress='"

var (
	legacyDetailTraceID   = regexp.MustCompile(`MessageTraceId eq guid'([^']*)'`)
	legacyDetailRecipient = regexp.MustCompile(`RecipientAddress eq '((?:[^']|'')*)'`)
)

// isDetailsPath matches both details endpoints (lower-cased path).
func isDetailsPath(lp string) bool {
	return lp == "/ecp/reportingwebservice/reporting.svc/messagetracedetail" ||
		(strings.HasPrefix(lp, "/v1.0/admin/exchange/tracing/messagetraces/") || strings.HasPrefix(lp, "/beta/admin/exchange/tracing/messagetraces/")) &&
			strings.Contains(lp, graphDetailsFunc) && strings.HasSuffix(lp, "')")
}

// IsDetailsRequest says whether a recorded request asked for details.
func IsDetailsRequest(r Request) bool { return isDetailsPath(strings.ToLower(r.Path)) }

// DetailRequests lists the recorded details requests.
func (s *Server) DetailRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if IsDetailsRequest(r) {
			out = append(out, r)
		}
	}
	return out
}

// DetailEvent is one event of a (message, recipient) in neutral form.
type DetailEvent struct {
	Time        time.Time
	Event       string
	Action      string
	Description string
	Data        string // XML, <root><MEP .../></root>
}

// DetailsFor returns the events the services report for a row: realistic for its status and
// stable for the row, so that tests can compare what a client delivered.
func DetailsFor(r *Row) []DetailEvent {
	h := fnv.New32a()
	_, _ = h.Write([]byte(r.ID + "|" + strings.ToLower(r.Recipient)))
	v := h.Sum32()
	t := r.Received.UTC()
	at := func(ms int) time.Time { return t.Add(time.Duration(ms) * time.Millisecond) }
	host := fmt.Sprintf("AM%dPR0%dMB%04d.eurprd0%d.prod.outlook.com", v%9+1, v%7+1, v%9000, v%5+1)
	receive := DetailEvent{
		at(0), "Receive", "", "Message received by: " + host,
		mep("ServerHostName", "String", host) + mep("ClientIP", "String", r.FromIP) + mep("ReturnPath", "String", r.Sender) +
			mep("SourceContext", "String", "08DE57A1C2F3"+strconv.FormatUint(uint64(v%100), 10)) + mep("DeliveryPriority", "String", "Normal"),
	}
	var evs []DetailEvent
	switch r.Status {
	case StatusDelivered:
		evs = []DetailEvent{receive, {
			at(1200), "Deliver", "", "The message was successfully delivered.",
			mep("RecipientStatus", "String", "250 2.1.5 Recipient OK") + mep("MailboxDatabaseGuid", "String", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
		}}
	case StatusFailed:
		evs = []DetailEvent{receive}
		if v%2 == 0 {
			evs = append(evs, DetailEvent{
				at(800), "Defer", "", "The message was deferred: remote server did not respond.",
				mep("DeferReason", "String", "451 4.4.0 DNS query failed"),
			})
		}
		evs = append(evs, DetailEvent{
			at(60000), "Fail", "", "Reason: [{LED=550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup};{MSG=};{FQDN=};{IP=};{LRT=}]",
			mep("RecipientStatus", "String", "550 5.1.10 RESOLVER.ADR.RecipientNotFound"),
		})
	case StatusQuarantined:
		evs = []DetailEvent{receive}
		switch v % 3 {
		case 0:
			evs = append(evs, DetailEvent{
				at(400), "Spam", "Quarantine", "The message was marked as high confidence spam and quarantined.",
				mep("SCL", "Integer", "9") + mep("SFV", "String", "SPM") + mep("CAT", "String", "HSPM"),
			})
		case 1:
			evs = append(evs, DetailEvent{
				at(400), "Transport rule", "Quarantine", "Transport rule 'Quarantine executable attachments' was triggered.",
				mep("RuleId", "String", "6a3d2c10-4b9e-4f1e-9a2b-"+fmt.Sprintf("%012d", v%1000000)) + mep("RuleName", "String", "Quarantine executable attachments") +
					mep("ExecutedActions", "String", "Quarantine"),
			})
		default:
			evs = append(evs, DetailEvent{
				at(400), "DLP rule", "Quarantine", "Data loss prevention policy 'U.S. Financial Data' matched.",
				mep("PolicyId", "String", "b7e1c3a2-9d4f-4e6a-8c2b-"+fmt.Sprintf("%012d", v%1000000)) + mep("PolicyName", "String", "U.S. Financial Data") +
					mep("Sensitivity", "String", "Credit Card Number") + mep("ClassifierConfidence", "Integer", "85"),
			})
		}
	case StatusFilteredAsSpam:
		evs = []DetailEvent{
			receive,
			{
				at(300), "Spam", "Move to JMF", "The message was marked as spam and moved to the Junk Email folder.",
				mep("SCL", "Integer", "6") + mep("SFV", "String", "SPM") + mep("DI", "String", "SJ"),
			},
			{at(900), "Deliver", "", "The message was successfully delivered to the Junk Email folder.", mep("RecipientStatus", "String", "250 2.1.5 Recipient OK")},
		}
	case StatusExpanded:
		evs = []DetailEvent{receive, {at(200), "Expand", "", "The distribution group was expanded.", mep("ExpandedRecipientCount", "Integer", strconv.FormatUint(uint64(v%40+2), 10))}}
	case StatusPending:
		evs = []DetailEvent{receive, {at(800), "Defer", "", "The message was deferred and will be retried.", mep("DeferReason", "String", "451 4.7.500 Server busy")}}
	default:
		evs = []DetailEvent{receive}
	}
	for i := range evs {
		evs[i].Data = "<root>" + evs[i].Data + "</root>"
	}
	return evs
}

func mep(name, kind, value string) string {
	var b strings.Builder
	b.WriteString(`<MEP Name="`)
	_ = xmlEscape(&b, name)
	b.WriteString(`" ` + kind + `="`)
	_ = xmlEscape(&b, value)
	b.WriteString(`"/>`)
	return b.String()
}

func xmlEscape(b *strings.Builder, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	_, err := r.WriteString(b, s)
	return err
}

// serveDetails answers a details request that passed token and quota checks. Its events are
// not counted in Request.Rows, which stays the count of message trace rows. Every
// Options.DetailsFailEvery-th details request fails with a 500, as Microsoft's sometimes do.
func (s *Server) serveDetails(r *http.Request, legacy bool) *response {
	s.mu.Lock()
	s.detailsServed++
	fail := s.opts.DetailsFailEvery > 0 && s.detailsServed%s.opts.DetailsFailEvery == 0
	s.mu.Unlock()
	now := s.now()
	if fail {
		if legacy {
			return odataError(http.StatusInternalServerError, "UnknownError", "", "An error has occurred on the server.")
		}
		return graphError(now, r, http.StatusInternalServerError, "UnknownError", "An internal server error occurred.")
	}
	var id, recipient string
	if legacy {
		f := r.URL.Query().Get("$filter")
		m1, m2 := legacyDetailTraceID.FindStringSubmatch(f), legacyDetailRecipient.FindStringSubmatch(f)
		if m1 == nil || m2 == nil {
			return odataError(http.StatusBadRequest, "", "en-US", "MessageTraceId and RecipientAddress are required.")
		}
		id, recipient = m1[1], strings.ReplaceAll(m2[1], "''", "'")
	} else {
		p := r.URL.Path
		i := strings.Index(strings.ToLower(p), graphDetailsFunc)
		id = p[strings.LastIndexByte(p[:i], '/')+1 : i]
		recipient = strings.ReplaceAll(p[i+len(graphDetailsFunc):len(p)-2], "''", "'")
	}
	s.mu.Lock()
	var row *Row
	if e, ok := s.store.byKey[rowKey{id: id, recipient: strings.ToLower(recipient)}]; ok && e.visible(now) {
		cp := e.Row
		cp.Status = e.effectiveStatus(now)
		row = &cp
	}
	s.mu.Unlock()
	var evs []DetailEvent
	if row != nil {
		evs = DetailsFor(row)
	}
	if legacy {
		return s.legacyDetails(row, evs)
	}
	type graphDetail struct {
		ID          string `json:"id"`
		MessageID   string `json:"messageId"`
		DateTime    string `json:"dateTime"`
		Event       string `json:"event"`
		Action      string `json:"action"`
		Description string `json:"description"`
		Data        string `json:"data"`
	}
	out := struct {
		Context string        `json:"@odata.context"`
		Value   []graphDetail `json:"value"`
	}{Context: s.url + "/v1.0/$metadata#Collection(microsoft.graph.exchangeMessageTraceDetail)", Value: []graphDetail{}}
	for i, e := range evs {
		out.Value = append(out.Value, graphDetail{
			ID: fmt.Sprintf("%s-%d", id, i), MessageID: row.MessageID, DateTime: e.Time.Format(time.RFC3339Nano),
			Event: e.Event, Action: e.Action, Description: e.Description, Data: e.Data,
		})
	}
	b, _ := json.Marshal(out)
	resp := newResponse(http.StatusOK, graphJSON, b)
	return resp
}

func (s *Server) legacyDetails(row *Row, evs []DetailEvent) *response {
	type legacyDetail struct {
		Organization     string
		MessageId        string //nolint:revive // Microsoft's name
		MessageTraceId   string //nolint:revive // Microsoft's name
		RecipientAddress string
		SenderAddress    string
		Date             string
		Event            string
		Action           string
		Detail           string
		Data             string
		Index            int
	}
	rows := []legacyDetail{}
	for i, e := range evs {
		date := e.Time.Format("2006-01-02T15:04:05.0000000")
		if s.opts.LegacyEnvelope == EnvelopeVerbose {
			date = msDate(e.Time)
		}
		rows = append(rows, legacyDetail{s.opts.Organization, row.MessageID, row.ID, row.Recipient, row.Sender, date, e.Event, e.Action, e.Description, e.Data, i})
	}
	var v any = struct {
		Meta  string         `json:"odata.metadata"`
		Value []legacyDetail `json:"value"`
	}{s.url + legacyServiceRoot + "/$metadata#MessageTraceDetail", rows}
	if s.opts.LegacyEnvelope == EnvelopeVerbose {
		v = map[string]any{"d": map[string]any{"results": rows}}
	}
	b, _ := json.Marshal(v)
	resp := newResponse(http.StatusOK, "application/json;odata=minimalmetadata;streaming=true;charset=utf-8", b)
	return resp
}
