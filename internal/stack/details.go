package stack

import (
	"encoding/json"
	"strings"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

// DetailsTag is the Devo tag the receiver gives message trace detail records by default.
const DetailsTag = "cloud.office365.messagetracing.detail"

// SplitDetails separates the rows from the detail events (by their Devo tag).
func SplitDetails(events []devotest.Event) (rows, details []devotest.Event) {
	for _, e := range events {
		if e.Tag == DetailsTag {
			details = append(details, e)
		} else {
			rows = append(rows, e)
		}
	}
	return rows, details
}

// DetailKey is the row a detail event belongs to (trace id | lower-cased recipient) and its
// event name, from the body in either naming.
func DetailKey(message string) (key, event string) {
	var body map[string]any
	if json.Unmarshal([]byte(message), &body) != nil {
		return "", ""
	}
	str := func(a, b string) string {
		if v, ok := body[a].(string); ok {
			return v
		}
		v, _ := body[b].(string)
		return v
	}
	id, to := str("MessageTraceId", "messageTraceId"), str("RecipientAddress", "recipientAddress")
	if id == "" {
		return "", ""
	}
	return id + "|" + strings.ToLower(to), str("Event", "event")
}
