package tracepage_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage/tracepagetest"
)

// The decoder against encoding/json (the reference). The JSON libraries that could replace it
// are compared in the jsonlibs module (issue 13, moved out by issue 21).

// pages are the full pages of a fake tenant, fetched once.
var pages msgtracetest.FullPages

// sameDecoding fails t when the decoder and the reference disagree on body.
func sameDecoding(t *testing.T, name string, body []byte, decode, reference func([]byte) (*tracepage.Page, error)) {
	t.Helper()
	if diff := tracepagetest.Diff(body, decode, reference); diff != "" {
		t.Fatalf("%s: %s", name, diff)
	}
}

func TestDecodersMatchReference(t *testing.T) {
	graph, verbose, light := pages.For(t)
	bodies := [][]byte{
		graph, verbose, light, tracepage.ReadPage(t, "graph.json"), tracepage.ReadPage(t, "legacy_verbose.json"),
		tracepage.ReadPage(t, "legacy_light.json"), tracepage.ReadPage(t, "truncated.json"), tracepage.ReadPage(t, "html_signin.html"),
	}
	for _, s := range tracepagetest.EdgeBodies() {
		bodies = append(bodies, []byte(s))
	}
	for i, body := range bodies {
		sameDecoding(t, fmt.Sprintf("graph %d", i), body, tracepage.DecodeGraphAll, tracepagetest.ReferenceGraph)
		sameDecoding(t, fmt.Sprintf("legacy %d", i), body, tracepage.DecodeLegacyAll, tracepagetest.ReferenceLegacy)
	}
}

func TestDecodeNestingLimit(t *testing.T) {
	nested := func(depth int) []byte {
		// The top-level object and the "x" array count as two levels.
		return []byte(`{"x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `,"value":[]}`)
	}
	for _, depth := range []int{tracepage.MaxNestingDepth, tracepage.MaxNestingDepth + 1} {
		body := nested(depth)
		_, refErr := tracepagetest.ReferenceGraph(body)
		_, err := tracepage.DecodeGraph(body, 0)
		assert.Equal(t, refErr == nil, err == nil, "depth %d: %v / reference %v", depth, err, refErr)
	}
	_, err := tracepage.DecodeGraph(nested(tracepage.MaxNestingDepth+1), 0)
	require.ErrorContains(t, err, "exceeded max depth")
}

func FuzzDecodeGraphPageDifferential(f *testing.F) {
	f.Add(tracepage.ReadPage(f, "graph.json"))
	f.Add(tracepage.ReadPage(f, "truncated.json"))
	for _, s := range tracepagetest.EdgeBodies() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameDecoding(t, "graph", body, tracepage.DecodeGraphAll, tracepagetest.ReferenceGraph)
	})
}

func FuzzDecodeLegacyPageDifferential(f *testing.F) {
	f.Add(tracepage.ReadPage(f, "legacy_verbose.json"))
	f.Add(tracepage.ReadPage(f, "legacy_light.json"))
	for _, s := range tracepagetest.EdgeBodies() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameDecoding(t, "legacy", body, tracepage.DecodeLegacyAll, tracepagetest.ReferenceLegacy)
	})
}
