package messagetracereceiver

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

var update = flag.Bool("update", false, "rewrite golden files")

func checkGolden(t *testing.T, name string, actual plog.Logs) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, golden.WriteLogs(t, path, actual))
	}
	expected, err := golden.ReadLogs(path)
	require.NoError(t, err)
	require.NoError(t, plogtest.CompareLogs(expected, actual))
}

var pollStart = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func TestRecordsGolden(t *testing.T) {
	graph, err := tracepage.DecodeGraph(readPage(t, "graph.json"), 0)
	require.NoError(t, err)
	legacy, err := tracepage.DecodeLegacy(readPage(t, "legacy_light.json"), 0)
	require.NoError(t, err)
	verbose, err := tracepage.DecodeLegacy(readPage(t, "legacy_verbose.json"), 0)
	require.NoError(t, err)
	legacyRows := slices.Concat(legacy.Rows, verbose.Rows)

	b := &recordBuilder{tenant: "contoso.onmicrosoft.com", includeSubject: true, version: "test"}
	checkGolden(t, "graph.yaml", b.build(newRecords(graph.Rows), pollStart))
	checkGolden(t, "legacy_api_graph_names.yaml", b.build(newRecords(legacyRows), pollStart))

	b.legacyNames = true
	checkGolden(t, "graph_api_legacy_names.yaml", b.build(newRecords(graph.Rows), pollStart))
	checkGolden(t, "legacy.yaml", b.build(newRecords(legacyRows), pollStart))
}

func TestRecordsWithoutSubject(t *testing.T) {
	graph, err := tracepage.DecodeGraph(readPage(t, "graph.json"), 0)
	require.NoError(t, err)
	for _, legacyNames := range []bool{false, true} {
		b := &recordBuilder{tenant: "t", legacyNames: legacyNames}
		ld := b.build(newRecords(graph.Rows), pollStart)
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := range lrs.Len() {
			lr := lrs.At(i)
			_, inAttrs := lr.Attributes().Get("email.subject")
			assert.False(t, inAttrs)
			body := lr.Body().Map()
			_, a := body.Get("subject")
			_, b := body.Get("Subject")
			assert.False(t, a || b, "subject must be dropped everywhere")
		}
	}
}

func TestStatusNormalisation(t *testing.T) {
	for in, want := range map[string]string{
		"Delivered": "delivered", "delivered": "delivered", "FilteredAsSpam": "filteredAsSpam",
		"filteredAsSpam": "filteredAsSpam", "GettingStatus": "gettingStatus", "PENDING": "pending",
		"Recalled": "recalled", "SomethingNew": "somethingNew", "": "",
	} {
		assert.Equal(t, want, normaliseStatus(in), in)
	}
	assert.Equal(t, "FilteredAsSpam", legacyStatus("filteredAsSpam"))
}

// readPage reads a page fixture of the decoder's tests.
func readPage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("internal", "tracepage", "testdata", "pages", name))
	require.NoError(t, err)
	return b
}

// newRecords are the rows of a page as new records, as a pass without remembered rows makes them.
func newRecords(rows []tracepage.Row) []traceRecord {
	out := make([]traceRecord, len(rows))
	for i := range rows {
		out[i] = traceRecord{row: &rows[i], status: normaliseStatus(rows[i].Status)}
	}
	return out
}

// TestStatusCodesArePinned: remembered rows store these bytes; renumbering one would make
// stored state read as another status after an upgrade.
func TestStatusCodesArePinned(t *testing.T) {
	want := map[string]uint8{
		"gettingStatus": 1, "pending": 2, "failed": 3, "delivered": 4, "expanded": 5,
		"quarantined": 6, "filteredAsSpam": 7, "recalled": 8, "none": 9, "unknownFutureValue": 10,
	}
	require.Len(t, deliveryStatuses, len(want))
	for i, s := range deliveryStatuses {
		assert.Equal(t, uint8(i+1), s.code, "%s: codes are the table's positions from 1", s.name)
	}
	for name, code := range want {
		assert.Equal(t, code, statusCode(name), name)
		assert.Equal(t, name, statusName(code))
		assert.Equal(t, name, normaliseStatus(legacyStatus(name)), "legacy form of %s reads back", name)
	}
	assert.Equal(t, uint8(statusOther), statusCode("someFutureStatus"))
	assert.Empty(t, statusName(statusOther))
	assert.Empty(t, statusName(statusUnknown))
	for name, warn := range map[string]bool{"failed": true, "quarantined": true, "filteredAsSpam": true, "delivered": false, "pending": false, "someFutureStatus": false} {
		assert.Equal(t, warn, isWarning(name), name)
	}
}

// TestPreviousStatusIsPartOfTheRecord: a row emitted again because its status changed says
// what it was, as an attribute and in the body under either API's names; a new row does not.
func TestPreviousStatusIsPartOfTheRecord(t *testing.T) {
	row := tracepage.Row{ID: "t1", Recipient: "a@contoso.com", Status: "Delivered", Received: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)}
	recs := []traceRecord{
		{row: &row, status: "delivered", before: statusCode("pending")},
		{row: &row, status: "delivered"},
	}
	for _, legacy := range []bool{false, true} {
		b := &recordBuilder{tenant: "t", legacyNames: legacy}
		lrs := b.build(recs, time.Now()).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		prev, ok := lrs.At(0).Attributes().Get("exchange.message_trace.previous_status")
		require.True(t, ok)
		assert.Equal(t, "pending", prev.Str())
		body := lrs.At(0).Body().Map()
		if legacy {
			v, ok := body.Get("PreviousStatus")
			require.True(t, ok)
			assert.Equal(t, "Pending", v.Str())
			assert.Equal(t, "Delivered", mustGet(t, body, "Status"))
		} else {
			v, ok := body.Get("previousStatus")
			require.True(t, ok)
			assert.Equal(t, "pending", v.Str())
			assert.Equal(t, "delivered", mustGet(t, body, "status"))
		}
		_, ok = lrs.At(1).Attributes().Get("exchange.message_trace.previous_status")
		assert.False(t, ok, "a new row has no previous status")
		assert.Equal(t, body.Len()-1, lrs.At(1).Body().Map().Len(), "body of a new row: no previous status key")
	}
}

func mustGet(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	require.True(t, ok, k)
	return v.Str()
}
