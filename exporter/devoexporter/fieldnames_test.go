package devoexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

var (
	graphRow  = map[string]any{"id": "t1", "messageId": "<a@b>", "senderAddress": "a@contoso.com", "recipientAddress": "b@fabrikam.com", "status": "delivered"}
	legacyRow = map[string]any{"MessageTraceId": "t1", "MessageId": "<a@b>", "SenderAddress": "a@contoso.com", "RecipientAddress": "b@fabrikam.com", "Status": "Delivered"}
)

// rowLogs is one push of the given bodies, each with the devo.tag attribute when tag is set.
func rowLogs(tag string, rows ...map[string]any) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range rows {
		rec := mapRecord(lrs, r)
		if tag != "" {
			rec.Attributes().PutStr("devo.tag", tag)
		}
	}
	return ld
}

// The exporter warns once, naming legacy_field_names, when rows in Graph's names go to Devo's
// message trace table; never for legacy names, other tables or the details table.
func TestGraphNamesToMessageTraceTableWarnOnce(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	for _, tc := range []struct {
		name   string
		pushes []plog.Logs
		warns  int
	}{
		{"graph names to the table", []plog.Logs{rowLogs("", graphRow), rowLogs("", graphRow, graphRow), rowLogs("", graphRow)}, 1},
		{"graph names to a sub-tag of the table", []plog.Logs{rowLogs("cloud.office365.messagetracing.contoso", graphRow)}, 1},
		{"legacy names to the table", []plog.Logs{rowLogs("", legacyRow), rowLogs("", legacyRow)}, 0},
		{"graph names to another table", []plog.Logs{rowLogs("my.app.otel.logs", graphRow)}, 0},
		{"graph names to the details table", []plog.Logs{rowLogs("cloud.office365.messagetracing.detail", graphRow)}, 0},
		{"string bodies", []plog.Logs{strLogs("senderAddress recipientAddress")}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sinkConfig(t, s, files)
			cfg.Tag = messageTraceTable
			cfg.TagAttribute = "devo.tag"
			core, logs := observer.New(zapcore.InfoLevel)
			e, _ := startExporter(t, cfg)
			e.logger = zap.New(core)
			e.graphNames.logger = e.logger
			for _, ld := range tc.pushes {
				require.NoError(t, e.pushLogs(context.Background(), ld))
			}
			warned := logs.FilterMessageSnippet("set legacy_field_names: true").All()
			assert.Len(t, warned, tc.warns)
			for _, w := range warned {
				assert.Equal(t, zapcore.WarnLevel, w.Level)
			}
		})
	}
}

// Once it has warned the check costs nothing per push; before, one record per push.
func TestGraphNamesCheckLooksAtOneRecordPerPush(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	g := &graphNamesCheck{logger: zap.New(core)}
	ld := rowLogs("", legacyRow, graphRow) // the first row decides: legacy, so no warning
	p := plan{recs: []plog.LogRecord{}, tags: []string{messageTraceTable, messageTraceTable}}
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	p.recs = append(p.recs, lrs.At(0), lrs.At(1))
	g.inspect(&p)
	assert.Zero(t, logs.Len(), "only the first record for the table is looked at")
	p.recs[0], p.recs[1] = p.recs[1], p.recs[0]
	g.inspect(&p)
	g.inspect(&p)
	assert.Equal(t, 1, logs.Len())
}

// benchPlan is one push of n legacy-named rows to the message trace table.
func benchPlan(n int) plan {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	p := plan{}
	for range n {
		p.recs = append(p.recs, mapRecord(lrs, legacyRow))
		p.tags = append(p.tags, messageTraceTable)
	}
	return p
}

// The check's cost per push of 5,000 rows: before a warning it looks at one record, after it
// at none. route (the tag of every record) is the baseline the check adds to.
func BenchmarkGraphNamesCheck(b *testing.B) {
	ld := rowLogs("", legacyRow)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for range 4999 {
		mapRecord(lrs, legacyRow)
	}
	p := benchPlan(5000)
	b.Run("route_5000_baseline", func(b *testing.B) {
		e := &devoExporter{router: router{attr: "devo.tag", fallback: messageTraceTable}}
		for b.Loop() {
			_, _ = e.route(ld)
		}
	})
	b.Run("legacy_names_not_warned", func(b *testing.B) {
		g := &graphNamesCheck{logger: zap.NewNop()}
		for b.Loop() {
			g.inspect(&p)
		}
	})
	b.Run("after_warning", func(b *testing.B) {
		g := &graphNamesCheck{logger: zap.NewNop()}
		g.warned.Store(true)
		for b.Loop() {
			g.inspect(&p)
		}
	})
}
