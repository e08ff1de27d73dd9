package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

const (
	detailEventName     = "exchange.message_trace.detail"
	detailAttrPrefix    = "exchange.message_trace.detail."
	detailDataAttribute = "exchange.message_trace.detail.data"
	// devoTagAttribute is what the Devo exporter reads (its tag_attribute default) to route a
	// record to another table.
	devoTagAttribute = "devo.tag"
)

// buildDetails returns one log record per detail event, linked to its row by the row's trace
// id, recipient and message id attributes.
func (b *recordBuilder) buildDetails(p *pendingDetail, events []detailEvent, observed time.Time, tag string) plog.Logs {
	ld, records := b.newLogs()
	obs := pcommon.NewTimestampFromTime(observed)
	for i := range events {
		b.fillDetail(records.AppendEmpty(), p, &events[i], obs, tag)
	}
	return ld
}

func (b *recordBuilder) fillDetail(lr plog.LogRecord, p *pendingDetail, ev *detailEvent, observed pcommon.Timestamp, tag string) {
	if !ev.DateTime.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ev.DateTime))
	}
	lr.SetObservedTimestamp(observed)
	lr.SetEventName(detailEventName)
	if severe(ev.Event) || severe(ev.Action) {
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
	}
	messageID := p.MessageID
	if messageID == "" {
		messageID = ev.MessageID
	}
	data := parseDetailData(ev.Data)
	attrs := lr.Attributes()
	attrs.PutStr("email.local_id", p.TraceID)
	attrs.PutStr("email.to.address", p.Recipient)
	attrs.PutStr("email.message_id", messageID)
	attrs.PutStr("exchange.message_trace.status", p.Status)
	attrs.PutStr(detailAttrPrefix+"event", ev.Event)
	attrs.PutStr(detailAttrPrefix+"action", ev.Action)
	for _, prop := range data.Known {
		if prop.IsInt {
			attrs.PutInt(detailDataAttribute+"."+prop.Key, prop.Int)
		} else {
			attrs.PutStr(detailDataAttribute+"."+prop.Key, prop.Str)
		}
	}
	if data.Raw != "" {
		attrs.PutStr(detailDataAttribute, data.Raw)
	}
	if ev.ParseError != "" {
		attrs.PutStr(parseErrorAttribute, ev.ParseError)
	}
	if tag != "" {
		attrs.PutStr(devoTagAttribute, tag)
	}

	// Syslog destinations such as Devo only see the body, so it carries everything.
	date := ""
	if !ev.DateTime.IsZero() {
		layout := time.RFC3339Nano
		if b.legacyNames {
			layout = legacyDateLayout
		}
		date = ev.DateTime.UTC().Format(layout)
	}
	body := lr.Body().SetEmptyMap()
	names := [...]string{"messageTraceId", "recipientAddress", "messageId", "status", "dateTime", "event", "action", "description", "data"}
	status := p.Status
	if b.legacyNames {
		names = [...]string{"MessageTraceId", "RecipientAddress", "MessageId", "Status", "Date", "Event", "Action", "Detail", "Data"}
		status = legacyStatus(status)
	}
	for i, v := range [...]string{p.TraceID, p.Recipient, messageID, status, date, ev.Event, ev.Action, ev.Description, ev.Data} {
		body.PutStr(names[i], v)
	}
}

// severe says whether an event or action is worth a warning: the ones that explain a failure.
func severe(event string) bool {
	e := strings.ToLower(event)
	for _, w := range []string{"fail", "drop", "spam", "quarantine", "malware", "reject"} {
		if strings.Contains(e, w) {
			return true
		}
	}
	return false
}
