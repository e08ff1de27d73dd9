package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

const (
	eventName = "exchange.message_trace"
	// tenantAttribute is the resource attribute holding tenant_id; OTel semantic conventions
	// have no key for an Entra tenant, and azure.* is where Azure identifiers live.
	tenantAttribute = "azure.tenant.id"
	// legacyDateLayout is how the Reporting Web Service writes Received (seven fractional digits).
	legacyDateLayout = "2006-01-02T15:04:05.0000000Z"
)

// traceRecord is a row on its way to becoming a log record: the row, its status in Graph's
// form (normalised once, when the pass reads the row), and the status it was emitted with
// before (statusUnknown when it is new).
type traceRecord struct {
	row    *tracepage.Row
	status string
	before uint8
}

// recordBuilder owns the shape of a log record: one record per row, one resource per tenant,
// attributes, the body in Graph's or the Reporting Web Service's names, and the previous
// status of a row emitted again because its status changed.
type recordBuilder struct {
	tenant         string
	legacyNames    bool
	includeSubject bool
	version        string
	local          *localDomains // nil: no direction
}

// build returns the records as plog.Logs. observed is the start of the poll that fetched them.
func (b *recordBuilder) build(rows []traceRecord, observed time.Time) plog.Logs {
	ld, records := b.newLogs()
	records.EnsureCapacity(len(rows))
	obs := pcommon.NewTimestampFromTime(observed)
	dates := b.bodyDates(rows)
	for i := range rows {
		b.fill(records.AppendEmpty(), &rows[i], obs, dates[i])
	}
	return ld
}

// newLogs is an empty plog.Logs with this tenant's resource and the receiver's scope, and the
// slice its records go into.
func (b *recordBuilder) newLogs() (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr("cloud.provider", "azure")
	res.PutStr(tenantAttribute, b.tenant)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(b.version)
	return ld, sl.LogRecords()
}

// bodyDates formats every row's received time as the body writes it. The texts share one
// string, and rows of one message (adjacent, same time) share their text: a page costs two
// allocations instead of one per row.
func (b *recordBuilder) bodyDates(rows []traceRecord) []string {
	layout := time.RFC3339Nano
	if b.legacyNames {
		layout = legacyDateLayout
	}
	ends := make([]int, len(rows))
	buf := make([]byte, 0, len(rows)*len(legacyDateLayout))
	for i := range rows {
		if i > 0 && rows[i].row.Received.Equal(rows[i-1].row.Received) {
			ends[i] = -1 // same as the previous row
			continue
		}
		buf = rows[i].row.Received.UTC().AppendFormat(buf, layout)
		ends[i] = len(buf)
	}
	all := string(buf)
	dates := make([]string, len(rows))
	start := 0
	for i, end := range ends {
		if end < 0 {
			dates[i] = dates[i-1]
			continue
		}
		dates[i] = all[start:end]
		start = end
	}
	return dates
}

func (b *recordBuilder) fill(lr plog.LogRecord, rec *traceRecord, observed pcommon.Timestamp, received string) {
	row, status := rec.row, rec.status
	if row.ParseError != "" {
		b.fillUnparsed(lr, row, observed)
		return
	}
	lr.SetTimestamp(pcommon.NewTimestampFromTime(row.Received))
	lr.SetObservedTimestamp(observed)
	lr.SetEventName(eventName)
	if isWarning(status) {
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
	}
	previous := statusName(rec.before)

	attrs := lr.Attributes()
	attrs.EnsureCapacity(6 + bool2int(b.includeSubject) + bool2int(row.FromIP != "") + bool2int(row.ToIP != "") + bool2int(previous != ""))
	attrs.PutStr("email.message_id", row.MessageID)
	attrs.PutStr("email.local_id", row.ID)
	attrs.PutStr("email.from.address", row.Sender)
	attrs.PutStr("email.to.address", row.Recipient)
	if b.includeSubject {
		attrs.PutStr("email.subject", row.Subject)
	}
	if row.FromIP != "" {
		attrs.PutStr("source.address", row.FromIP)
	}
	if row.ToIP != "" {
		attrs.PutStr("destination.address", row.ToIP)
	}
	attrs.PutStr("exchange.message_trace.status", status)
	attrs.PutInt("exchange.message_trace.size", row.Size)
	if previous != "" {
		attrs.PutStr("exchange.message_trace.previous_status", previous)
	}

	body := lr.Body().SetEmptyMap()
	if b.legacyNames {
		b.legacyBody(body, row, status, received)
	} else {
		b.graphBody(body, row, status, received)
	}
	if b.local != nil {
		d := b.local.direction(row.Sender, row.Recipient)
		attrs.PutStr(directionAttribute, d)
		if b.legacyNames {
			body.PutStr(directionLegacyKey, d)
		} else {
			body.PutStr(directionBodyKey, d)
		}
	}
	// Syslog destinations such as Devo only see the body: say it there too.
	if previous != "" && b.legacyNames {
		body.PutStr("PreviousStatus", legacyStatus(previous))
	} else if previous != "" {
		body.PutStr("previousStatus", previous)
	}
}

// parseErrorAttribute says why a row could not be parsed; its body is then the row's raw JSON.
const parseErrorAttribute = "exchange.message_trace.parse_error"

// fillUnparsed delivers a row that could not be parsed: its raw JSON (bounded) as the body, so
// a syslog destination sees it too, and the reason as an attribute. Its time is the row's own
// when that could be read; otherwise only the observed time is set.
func (b *recordBuilder) fillUnparsed(lr plog.LogRecord, row *tracepage.Row, observed pcommon.Timestamp) {
	if !row.TimeUnknown {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(row.Received))
	}
	lr.SetObservedTimestamp(observed)
	lr.SetEventName(eventName)
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	attrs := lr.Attributes()
	attrs.PutStr(parseErrorAttribute, row.ParseError)
	attrs.PutStr("email.local_id", row.ID)
	lr.Body().SetStr(row.Raw)
}

func (b *recordBuilder) graphBody(m pcommon.Map, row *tracepage.Row, status, received string) {
	m.EnsureCapacity(9 + bool2int(b.includeSubject))
	m.PutStr("id", row.ID)
	m.PutStr("messageId", row.MessageID)
	m.PutStr("senderAddress", row.Sender)
	m.PutStr("recipientAddress", row.Recipient)
	if b.includeSubject {
		m.PutStr("subject", row.Subject)
	}
	m.PutStr("receivedDateTime", received)
	m.PutStr("status", status)
	m.PutInt("size", row.Size)
	m.PutStr("fromIP", row.FromIP)
	m.PutStr("toIP", row.ToIP)
}

// legacyBody uses the Reporting Web Service names and value forms (PascalCase status, null for
// an absent IP) so parsers built for the old API, like Devo's table, keep working. The query
// echoes StartDate, EndDate and Index are not properties of a message and are left out.
func (b *recordBuilder) legacyBody(m pcommon.Map, row *tracepage.Row, status, received string) {
	m.EnsureCapacity(9 + bool2int(b.includeSubject) + bool2int(row.Organization != ""))
	if row.Organization != "" {
		m.PutStr("Organization", row.Organization)
	}
	m.PutStr("MessageId", row.MessageID)
	m.PutStr("Received", received)
	m.PutStr("SenderAddress", row.Sender)
	m.PutStr("RecipientAddress", row.Recipient)
	if b.includeSubject {
		m.PutStr("Subject", row.Subject)
	}
	m.PutStr("Status", legacyStatus(status))
	putNullableStr(m, "ToIP", row.ToIP)
	putNullableStr(m, "FromIP", row.FromIP)
	m.PutInt("Size", row.Size)
	m.PutStr("MessageTraceId", row.ID)
}

func putNullableStr(m pcommon.Map, k, v string) {
	if v == "" {
		m.PutEmpty(k)
		return
	}
	m.PutStr(k, v)
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}
