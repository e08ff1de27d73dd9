package tracepage_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

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

// deepPage is a Graph or light legacy page of n rows whose row number deep holds an unknown
// member nested levels deep, and the same page without that row.
func deepPage(n, deep, levels int, legacy bool) (body, without []byte) {
	row := func(i int) string {
		if legacy {
			return fmt.Sprintf(`{"MessageTraceId":"id-%d","RecipientAddress":"r%d@example.com","Received":"/Date(%d)/","Status":"Delivered","Size":%d}`,
				i, i, 1772359262117+int64(i)*1000, i)
		}
		return fmt.Sprintf(`{"id":"id-%d","recipientAddress":"r%d@example.com","receivedDateTime":"2026-11-21T08:%02d:%02dZ","status":"delivered","size":%d}`,
			i, i, i/60%60, i%60, i)
	}
	var all, rest []string
	for i := range n {
		r := row(i)
		if i == deep {
			r = r[:len(r)-1] + `,"x":` + strings.Repeat("[", levels) + strings.Repeat("]", levels) + `}`
			all = append(all, r)
			continue
		}
		all, rest = append(all, r), append(rest, r)
	}
	wrap := func(rows []string) []byte {
		return []byte(`{"@odata.nextLink":"https://example.com/next","value":[` + strings.Join(rows, ",") + `]}`)
	}
	return wrap(all), wrap(rest)
}

// Issue 20 item 3: a row nested deeper than the limit (10,001 levels in an unknown member) is
// delivered raw and every other row of its page decoded exactly as encoding/json decodes the
// page without it; encoding/json itself refuses the whole page.
func TestRowNestedTooDeepIsDeliveredRaw(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		decode, reference := tracepage.DecodeGraphAll, tracepagetest.ReferenceGraph
		if legacy {
			decode, reference = tracepage.DecodeLegacyAll, tracepagetest.ReferenceLegacy
		}
		body, without := deepPage(300, 123, 10_001, legacy)
		_, refErr := reference(body)
		require.ErrorContains(t, refErr, "exceeded max depth", "the reference refuses the page")
		got, err := decode(body)
		require.NoError(t, err, "legacy %v", legacy)
		want, err := reference(without)
		require.NoError(t, err)
		require.Len(t, got.Rows, 300)
		assert.Equal(t, want.Next, got.Next)
		bad := got.Rows[123]
		assert.Equal(t, tracepagetest.TooDeepReason, bad.ParseError)
		assert.True(t, strings.HasPrefix(bad.ID, tracepage.UnparsedIDPrefix))
		assert.LessOrEqual(t, len(bad.Raw), tracepage.MaxRawRowBytes+32, "the raw row is cut")
		assert.True(t, strings.HasPrefix(bad.Raw, `{"`), bad.Raw[:20])
		assert.Equal(t, want.Rows[122].Received.Add(time.Second), bad.Received, "its own time, read before the deep member")
		assert.False(t, bad.TimeUnknown)
		rest := append(append([]tracepage.Row{}, got.Rows[:123]...), got.Rows[124:]...)
		assert.Equal(t, want.Rows, rest, "legacy %v: the other 299 rows", legacy)
		assert.Equal(t, "", tracepagetest.Diff(body, decode, reference))
	}
	// At the limit the row is an ordinary row, as for encoding/json; far past it (a million
	// levels) the scan stays flat.
	body, _ := deepPage(3, 1, tracepage.MaxNestingDepth-3, false)
	sameDecoding(t, "at the limit", body, tracepage.DecodeGraphAll, tracepagetest.ReferenceGraph)
	body, _ = deepPage(3, 1, 1_000_000, false)
	p, err := tracepage.DecodeGraphAll(body)
	require.NoError(t, err)
	assert.Equal(t, tracepagetest.TooDeepReason, p.Rows[1].ParseError)
	// Not valid JSON past the limit: the page still fails, as encoding/json's does.
	for _, broken := range []string{"[}", "[1,]", `{"a"}`, `[{"a":1,}]`} {
		b := []byte(`{"value":[{"id":"a","x":` + strings.Repeat("[", 10_001) + broken + strings.Repeat("]", 10_001) + `}]}`)
		_, err := tracepage.DecodeGraphAll(b)
		assert.Error(t, err, broken)
	}
}
