package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
)

// messageTraceTable is Devo's table for Office 365 message trace. Its parser knows only the
// Reporting Web Service's field names (MessageId, SenderAddress, ...); rows in Graph's names
// land there with empty columns.
const messageTraceTable = "cloud.office365.messagetracing"

// graphNamesCheck warns once when message trace rows in Graph's field names are sent to
// messageTraceTable: the receiver's legacy_field_names is off. Until it has warned it looks at
// one record per push (the first sent to that table), after that at none, so its cost on the
// hot path is one atomic load per push.
type graphNamesCheck struct {
	warned atomic.Bool
	logger *zap.Logger
}

// inspect looks at the push's first record for messageTraceTable, if any.
func (g *graphNamesCheck) inspect(p *plan) {
	if g.warned.Load() {
		return
	}
	for i, tag := range p.tags {
		if !isMessageTraceTag(tag) {
			continue
		}
		if hasGraphNames(p.recs[i].Body()) && g.warned.CompareAndSwap(false, true) {
			g.logger.Warn("message trace rows with Graph field names are sent to Devo's cloud.office365.messagetracing table, whose parser reads only the Reporting Web Service names: its columns stay empty; set legacy_field_names: true on the office365_message_trace receiver",
				zap.String("tag", tag))
		}
		return
	}
}

// isMessageTraceTag says whether tag writes to messageTraceTable (or a sub-tag of it such as
// cloud.office365.messagetracing.contoso); the details table (.detail) has its own shape.
func isMessageTraceTag(tag string) bool {
	rest, ok := strings.CutPrefix(tag, messageTraceTable)
	return ok && (rest == "" || (rest[0] == '.' && rest != ".detail" && !strings.HasPrefix(rest, ".detail.")))
}

// hasGraphNames says whether a body is a message trace row in Graph's names: a map with Graph's
// senderAddress and recipientAddress and without the legacy SenderAddress.
func hasGraphNames(body pcommon.Value) bool {
	if body.Type() != pcommon.ValueTypeMap {
		return false
	}
	m := body.Map()
	_, sender := m.Get("senderAddress")
	_, recipient := m.Get("recipientAddress")
	_, legacy := m.Get("SenderAddress")
	return sender && recipient && !legacy
}
