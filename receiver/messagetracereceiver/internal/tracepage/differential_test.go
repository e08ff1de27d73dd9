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

// The decoder against encoding/json (the reference) and against the JSON libraries that could
// replace it.

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
	bodies := [][]byte{graph, verbose, light, tracepage.ReadPage(t, "graph.json"), tracepage.ReadPage(t, "legacy_verbose.json"),
		tracepage.ReadPage(t, "legacy_light.json"), tracepage.ReadPage(t, "truncated.json"), tracepage.ReadPage(t, "html_signin.html")}
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

// TestPageLibrariesMatchTodaysDecoder requires every library to decode the real full pages and
// the receiver's page fixtures (each by its own API's decoder) exactly as today's decoder does.
func TestPageLibrariesMatchTodaysDecoder(t *testing.T) {
	graph, verbose, light := pages.For(t)
	truncated, html := tracepage.ReadPage(t, "truncated.json"), tracepage.ReadPage(t, "html_signin.html")
	graphBodies := map[string][]byte{"graph_5000": graph, "graph.json": tracepage.ReadPage(t, "graph.json"),
		"truncated.json": truncated, "html_signin.html": html}
	legacyBodies := map[string][]byte{"legacy_verbose_2000": verbose, "legacy_light_2000": light,
		"legacy_verbose.json": tracepage.ReadPage(t, "legacy_verbose.json"), "legacy_light.json": tracepage.ReadPage(t, "legacy_light.json"),
		"truncated.json": truncated, "html_signin.html": html}
	for _, lib := range tracepagetest.Libraries() {
		t.Run(lib.Name, func(t *testing.T) {
			for name, body := range graphBodies {
				assert.Empty(t, tracepagetest.Diff(body, lib.Graph, tracepage.DecodeGraphAll), "graph decoding of %s", name)
			}
			for name, body := range legacyBodies {
				assert.Empty(t, tracepagetest.Diff(body, lib.Legacy, tracepage.DecodeLegacyAll), "legacy decoding of %s", name)
			}
			// The full pages must decode to rows, so the comparison is not between two empty pages.
			for _, c := range []struct {
				decode func([]byte) (*tracepage.Page, error)
				body   []byte
				rows   int
			}{{lib.Graph, graph, 5000}, {lib.Legacy, verbose, 2000}, {lib.Legacy, light, 2000}} {
				p, err := c.decode(c.body)
				require.NoError(t, err)
				assert.Len(t, p.Rows, c.rows)
			}
		})
	}
}

// TestPageLibrariesOnEdgeBodies records which of the differential fuzzing seeds (edges of
// encoding/json's semantics: invalid UTF-8, lone surrogates, case-folded and duplicate keys,
// bad rows among good ones) each library decodes differently from today's decoder, so the
// cost of adopting one is known; a change in either direction fails here.
func TestPageLibrariesOnEdgeBodies(t *testing.T) {
	// Read the indices against tracepagetest.EdgeBodies(); today's decoder matches encoding/json on all.
	want := map[string][]int{
		// segmentio: a row of the wrong type loses its readable time (placed by its neighbour)
		"segmentio": {63},
		// sonic: non-ASCII case folding of keys, invalid UTF-8 not replaced the same way
		"sonic_std": {14, 20, 61},
		// jsoniter: lone surrogates, null over a set field, case-folded keys, duplicate "value"
		"jsoniter_std": {2, 13, 14, 17, 18, 19, 20, 37, 58, 63},
		// fastjson: no raw bytes of a row (re-serialised), leading zeros and control characters
		// accepted, unpaired surrogates kept as text, "d" duplicates not merged
		"fastjson": {12, 13, 14, 15, 19, 21, 37, 38, 48},
	}
	for _, lib := range tracepagetest.Libraries() {
		var diverging []int
		for i, s := range tracepagetest.EdgeBodies() {
			g := tracepagetest.Diff([]byte(s), lib.Graph, tracepage.DecodeGraphAll)
			l := tracepagetest.Diff([]byte(s), lib.Legacy, tracepage.DecodeLegacyAll)
			if g != "" || l != "" {
				diverging = append(diverging, i)
				t.Logf("%s differs on seed %d: %s%s", lib.Name, i, g, l)
			}
		}
		assert.Equal(t, want[lib.Name], diverging, "%s: seeds decoded differently from today's decoder", lib.Name)
	}
}
