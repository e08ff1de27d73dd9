package messagetracereceiver

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
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
	legacyRows := append(legacy.Rows, verbose.Rows...)

	b := &recordBuilder{tenant: "contoso.onmicrosoft.com", includeSubject: true, version: "test"}
	checkGolden(t, "graph.yaml", b.build(graph.Rows, pollStart))
	checkGolden(t, "legacy_api_graph_names.yaml", b.build(legacyRows, pollStart))

	b.legacyNames = true
	checkGolden(t, "graph_api_legacy_names.yaml", b.build(graph.Rows, pollStart))
	checkGolden(t, "legacy.yaml", b.build(legacyRows, pollStart))
}

func TestRecordsWithoutSubject(t *testing.T) {
	graph, err := tracepage.DecodeGraph(readPage(t, "graph.json"), 0)
	require.NoError(t, err)
	for _, legacyNames := range []bool{false, true} {
		b := &recordBuilder{tenant: "t", legacyNames: legacyNames}
		ld := b.build(graph.Rows, pollStart)
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
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
