package jsonlibs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage/tracepagetest"
)

// pages are the full pages of a fake tenant, fetched once.
var pages msgtracetest.FullPages

// readPage reads a page fixture of the decoder's own tests (../testdata/pages).
func readPage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "pages", name))
	require.NoError(t, err)
	return b
}

// decodeGraphAll and decodeLegacyAll are today's decoder without a row limit.
func decodeGraphAll(body []byte) (*tracepage.Page, error)  { return tracepage.DecodeGraph(body, 0) }
func decodeLegacyAll(body []byte) (*tracepage.Page, error) { return tracepage.DecodeLegacy(body, 0) }

// TestPageLibrariesMatchTodaysDecoder requires every library to decode the real full pages and
// the receiver's page fixtures (each by its own API's decoder) exactly as today's decoder does.
func TestPageLibrariesMatchTodaysDecoder(t *testing.T) {
	graph, verbose, light := pages.For(t)
	truncated, html := readPage(t, "truncated.json"), readPage(t, "html_signin.html")
	graphBodies := map[string][]byte{"graph_5000": graph, "graph.json": readPage(t, "graph.json"),
		"truncated.json": truncated, "html_signin.html": html}
	legacyBodies := map[string][]byte{"legacy_verbose_2000": verbose, "legacy_light_2000": light,
		"legacy_verbose.json": readPage(t, "legacy_verbose.json"), "legacy_light.json": readPage(t, "legacy_light.json"),
		"truncated.json": truncated, "html_signin.html": html}
	for _, lib := range Libraries() {
		t.Run(lib.Name, func(t *testing.T) {
			for name, body := range graphBodies {
				assert.Empty(t, tracepagetest.Diff(body, lib.Graph, decodeGraphAll), "graph decoding of %s", name)
			}
			for name, body := range legacyBodies {
				assert.Empty(t, tracepagetest.Diff(body, lib.Legacy, decodeLegacyAll), "legacy decoding of %s", name)
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
	for _, lib := range Libraries() {
		var diverging []int
		for i, s := range tracepagetest.EdgeBodies() {
			g := tracepagetest.Diff([]byte(s), lib.Graph, decodeGraphAll)
			l := tracepagetest.Diff([]byte(s), lib.Legacy, decodeLegacyAll)
			if g != "" || l != "" {
				diverging = append(diverging, i)
				t.Logf("%s differs on seed %d: %s%s", lib.Name, i, g, l)
			}
		}
		assert.Equal(t, want[lib.Name], diverging, "%s: seeds decoded differently from today's decoder", lib.Name)
	}
}

// plainGraphPage and plainLegacyPage are the baseline's target: the same fields as plain Go
// values, the cheapest thing encoding/json can decode these pages into.
type plainGraphPage struct {
	NextLink string `json:"@odata.nextLink"`
	Value    []struct {
		ID               string `json:"id"`
		MessageID        string `json:"messageId"`
		SenderAddress    string `json:"senderAddress"`
		RecipientAddress string `json:"recipientAddress"`
		Subject          string `json:"subject"`
		ReceivedDateTime string `json:"receivedDateTime"`
		Status           string `json:"status"`
		Size             int64  `json:"size"`
		FromIP           string `json:"fromIP"`
		ToIP             string `json:"toIP"`
	} `json:"value"`
}

type plainLegacyRow struct {
	Organization     string `json:"Organization"`
	MessageID        string `json:"MessageId"`
	Received         string `json:"Received"`
	SenderAddress    string `json:"SenderAddress"`
	RecipientAddress string `json:"RecipientAddress"`
	Subject          string `json:"Subject"`
	Status           string `json:"Status"`
	ToIP             string `json:"ToIP"`
	FromIP           string `json:"FromIP"`
	Size             int64  `json:"Size"`
	MessageTraceID   string `json:"MessageTraceId"`
}

type plainLegacyPage struct {
	D *struct {
		Results []plainLegacyRow `json:"results"`
		Next    string           `json:"__next"`
	} `json:"d"`
	Value    []plainLegacyRow `json:"value"`
	NextLink string           `json:"odata.nextLink"`
}

// BenchmarkPageLibraries is the issue 13 comparison on the real full pages: today's decoder,
// encoding/json (into plain structs, BENCHMARKS.md figure 1's baseline, and through the
// reference decoder) and each candidate library, in one run. Since the comparison left the
// receiver's module (issue 21) it measures decoding only: the conversion to plog.Logs that
// follows is the receiver's own code and the same for every decoder (the receiver's
// BenchmarkDecodeConvert measures decode + convert of today's decoder).
func BenchmarkPageLibraries(b *testing.B) {
	graph, verbose, light := pages.For(b)
	cases := []struct {
		name   string
		body   []byte
		legacy bool
		plain  func([]byte) (int, error)
	}{
		{"graph", graph, false, func(body []byte) (int, error) {
			var p plainGraphPage
			err := json.Unmarshal(body, &p)
			return len(p.Value), err
		}},
		{"legacy_verbose", verbose, true, func(body []byte) (int, error) {
			var p plainLegacyPage
			err := json.Unmarshal(body, &p)
			return len(p.D.Results), err
		}},
		{"legacy_light", light, true, func(body []byte) (int, error) {
			var p plainLegacyPage
			err := json.Unmarshal(body, &p)
			return len(p.Value), err
		}},
	}
	type decoder struct {
		name   string
		decode func([]byte) (*tracepage.Page, error)
	}
	for _, c := range cases {
		decoders := []decoder{{"today", decodeGraphAll}}
		if c.legacy {
			decoders[0].decode = decodeLegacyAll
		}
		for _, lib := range Libraries() {
			d := lib.Graph
			if c.legacy {
				d = lib.Legacy
			}
			decoders = append(decoders, decoder{lib.Name, d})
		}
		first, err := decoders[0].decode(c.body)
		if err != nil {
			b.Fatal(err)
		}
		rows := len(first.Rows)
		b.Run(c.name+"/encoding_json_plain_decode_only", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n, err := c.plain(c.body); err != nil || n != rows {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			reportPerRow(b, rows)
		})
		for _, d := range decoders {
			b.Run(c.name+"/"+d.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p, err := d.decode(c.body)
					if err != nil || len(p.Rows) != rows {
						b.Fatalf("%d rows, %v", len(p.Rows), err)
					}
				}
				reportPerRow(b, rows)
			})
		}
	}
}

// reportPerRow adds rows/s and rows/page to a benchmark whose op is one page.
func reportPerRow(b *testing.B, rows int) {
	b.Helper()
	n := float64(b.N) * float64(rows)
	b.ReportMetric(n/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows), "rows/page")
}
