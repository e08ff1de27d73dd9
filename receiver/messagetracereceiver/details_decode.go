package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// Bounds on what a details answer may hold; anything longer is cut (values) or refused (the
// answer), never believed whole.
const (
	maxDetailBodyBytes   = 1 << 20
	maxDetailEvents      = 500
	maxDetailFieldBytes  = details.MaxFieldBytes
	maxDetailDataBytes   = 16 << 10
	maxDetailDataEntries = 100
)

// detailEvent is one event of a (message, recipient) as both APIs describe it.
type detailEvent struct {
	ID          string
	MessageID   string
	DateTime    time.Time
	Event       string
	Action      string
	Description string
	Data        string
	// ParseError says why DateTime could not be read; the event is still delivered.
	ParseError string
}

var errTooManyEvents = fmt.Errorf("more than %d detail events in one answer", maxDetailEvents)

// decodeGraphDetails reads a getDetailsByRecipient answer: {"value":[exchangeMessageTraceDetail]}.
func decodeGraphDetails(body []byte) ([]detailEvent, error) {
	var env struct {
		Value *json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("details answer is not JSON: %w", err)
	}
	if env.Value == nil {
		return nil, errors.New("details answer has no value array")
	}
	return decodeDetailArray(*env.Value, func(m map[string]json.RawMessage) detailEvent {
		ev := detailEvent{
			ID:          jsonStr(m, "id", maxDetailFieldBytes),
			MessageID:   jsonStr(m, "messageId", maxDetailFieldBytes),
			Event:       jsonStr(m, "event", maxDetailFieldBytes),
			Action:      jsonStr(m, "action", maxDetailFieldBytes),
			Description: jsonStr(m, "description", maxDetailFieldBytes),
			Data:        jsonStr(m, "data", maxDetailDataBytes),
		}
		raw := jsonStr(m, "dateTime", 64)
		if t, err := tracepage.ParseGraphDate(raw); err == nil {
			ev.DateTime = t
		} else {
			ev.ParseError = "dateTime " + strconv.Quote(quote.Value(raw)) + " is not a date"
		}
		return ev
	})
}

// decodeLegacyDetails reads a MessageTraceDetail answer in the light ({"value":[...]}) or the
// verbose ({"d":{"results":[...]}}) JSON form.
func decodeLegacyDetails(body []byte) ([]detailEvent, error) {
	var env struct {
		Value *json.RawMessage `json:"value"`
		D     *struct {
			Results *json.RawMessage `json:"results"`
		} `json:"d"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("details answer is not JSON: %w", err)
	}
	arr := env.Value
	if arr == nil && env.D != nil {
		arr = env.D.Results
	}
	if arr == nil {
		return nil, errors.New("details answer has neither value nor d.results")
	}
	return decodeDetailArray(*arr, func(m map[string]json.RawMessage) detailEvent {
		ev := detailEvent{
			ID:          jsonStr(m, "MessageTraceId", maxDetailFieldBytes),
			MessageID:   jsonStr(m, "MessageId", maxDetailFieldBytes),
			Event:       jsonStr(m, "Event", maxDetailFieldBytes),
			Action:      jsonStr(m, "Action", maxDetailFieldBytes),
			Description: jsonStr(m, "Detail", maxDetailFieldBytes),
			Data:        jsonStr(m, "Data", maxDetailDataBytes),
		}
		raw := jsonStr(m, "Date", 64)
		if t, err := tracepage.ParseLegacyDate(raw); err == nil {
			ev.DateTime = t
		} else {
			ev.ParseError = "Date " + strconv.Quote(quote.Value(raw)) + " is not a date"
		}
		return ev
	})
}

// decodeDetailArray walks the array element by element, so that an answer with too many
// events is refused before they are all held.
func decodeDetailArray(raw json.RawMessage, event func(map[string]json.RawMessage) detailEvent) ([]detailEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("details array: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errors.New("details value is not an array")
	}
	var out []detailEvent
	for dec.More() {
		if len(out) == maxDetailEvents {
			return nil, errTooManyEvents
		}
		var m map[string]json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("detail event %d: %w", len(out), err)
		}
		out = append(out, event(m))
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, fmt.Errorf("details array: %w", err)
	}
	return out, nil
}

// jsonStr reads a string member (a number or bool is kept as its text, null as ""), cut to limit.
func jsonStr(m map[string]json.RawMessage, key string, limit int) string {
	raw, ok := m[key]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return ""
		}
		s = string(raw)
	}
	return quote.Cut(s, limit)
}

// detailData is the `data` XML of an event, <root><MEP Name="..." String="..."/>...</root>.
type detailData struct {
	// Known are the properties whose names are known, by attribute key.
	Known []detailProperty
	// Raw is the XML as received (bounded) when it holds unknown names or does not parse:
	// nothing of it is dropped.
	Raw string
}

type detailProperty struct {
	Key   string
	Str   string
	Int   int64
	IsInt bool
}

// knownDataKeys maps the MEP names Exchange writes to attribute keys.
var knownDataKeys = map[string]string{
	"ClientIP":               "client_ip",
	"ClientName":             "client_name",
	"ServerHostName":         "server_host_name",
	"ServerIP":               "server_ip",
	"ConnectorId":            "connector_id",
	"SourceContext":          "source_context",
	"ReturnPath":             "return_path",
	"RecipientReference":     "recipient_reference",
	"RecipientStatus":        "recipient_status",
	"DeliveryPriority":       "delivery_priority",
	"FirstForestHop":         "first_forest_hop",
	"ProxiedClientIPAddress": "proxied_client_ip",
	"OriginalFromAddress":    "original_from_address",
	"InternetMessageId":      "internet_message_id",
	"SCL":                    "scl",
	"SFV":                    "sfv",
	"DI":                     "di",
	"CAT":                    "cat",
	"RuleId":                 "rule_id",
	"RuleName":               "rule_name",
	"PolicyId":               "policy_id",
	"PolicyName":             "policy_name",
	"ExecutedActions":        "executed_actions",
	"Sensitivity":            "sensitivity",
	"QuarantineReason":       "quarantine_reason",
	"DeferReason":            "defer_reason",
	"ExpandedRecipientCount": "expanded_recipient_count",
	"MailboxDatabaseGuid":    "mailbox_database_guid",
}

// parseDetailData turns the XML into known properties. encoding/xml expands no external or
// custom entities; input is bounded by maxDetailDataBytes and the entries by maxDetailDataEntries.
func parseDetailData(data string) detailData {
	if strings.TrimSpace(data) == "" {
		return detailData{}
	}
	var out detailData
	dec := xml.NewDecoder(strings.NewReader(data))
	dec.Strict = true
	entries, depth, unknown := 0, 0, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return detailData{Raw: data}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 2 || (depth == 1 && t.Name.Local != "root") || (depth == 2 && t.Name.Local != "MEP") {
				unknown = true
				continue
			}
			if depth == 1 {
				continue
			}
			entries++
			if entries > maxDetailDataEntries {
				return detailData{Raw: data}
			}
			p, ok := mepProperty(t.Attr)
			if !ok {
				unknown = true
				continue
			}
			out.Known = append(out.Known, p)
		case xml.EndElement:
			depth--
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				unknown = true
			}
		}
	}
	if unknown {
		out.Raw = data
	}
	return out
}

// mepProperty reads <MEP Name="X" String|Integer|Long|...="v"/> for a known X.
func mepProperty(attrs []xml.Attr) (detailProperty, bool) {
	var name, kind, value string
	for _, a := range attrs {
		switch {
		case a.Name.Local == "Name":
			name = a.Value
		case kind == "":
			kind, value = a.Name.Local, a.Value
		default:
			return detailProperty{}, false // two values: not a shape we know
		}
	}
	key, ok := knownDataKeys[name]
	if !ok || kind == "" {
		return detailProperty{}, false
	}
	p := detailProperty{Key: key, Str: quote.Cut(value, maxDetailFieldBytes)}
	if kind == "Integer" || kind == "Long" {
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			p.Int, p.IsInt = n, true
		}
	}
	return p, true
}
