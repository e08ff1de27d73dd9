package jsonlibs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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
func decodeGraphAll(body []byte) (*tracepage.Page, error) { return tracepage.DecodeGraph(body, 0) }

func decodeLegacyAll(body []byte) (*tracepage.Page, error) { return tracepage.DecodeLegacy(body, 0) }

// TestPageLibrariesMatchTodaysDecoder requires every library to decode the real full pages and
// the receiver's page fixtures (each by its own API's decoder) exactly as today's decoder does.
func TestPageLibrariesMatchTodaysDecoder(t *testing.T) {
	graph, verbose, light := pages.For(t)
	truncated, html := readPage(t, "truncated.json"), readPage(t, "html_signin.html")
	graphBodies := map[string][]byte{
		"graph_5000": graph, "graph.json": readPage(t, "graph.json"),
		"truncated.json": truncated, "html_signin.html": html,
	}
	legacyBodies := map[string][]byte{
		"legacy_verbose_2000": verbose, "legacy_light_2000": light,
		"legacy_verbose.json": readPage(t, "legacy_verbose.json"), "legacy_light.json": readPage(t, "legacy_light.json"),
		"truncated.json": truncated, "html_signin.html": html,
	}
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
// cost of adopting one is known; a change in either direction fails here. Seeds are named by
// edgeBodyKey, not by position, so a seed added to tracepagetest.EdgeBodies (anywhere in the
// list) is only logged until it is recorded here, while every recorded seed stays pinned.
func TestPageLibrariesOnEdgeBodies(t *testing.T) {
	// The seeds whose outcome is recorded below: tracepagetest.EdgeBodies() when it was written.
	recorded := []string{
		"99bcfca61a86", "1c197daef20d", "05e03ac64646", "790180fd24ef", "3b88b650d4fb", "74d0a8cc77de", "1ef6f41e2189", "e9990c138132",
		"021f0271d7fb", "3dafada278f6", "3e12c7657f9a", "3382e09c221e", "cfaec19e9304", "14f8477de819", "de8b38bf2c34", "f3b15015c2e5",
		"84e39f8666f2", "631b1708e10a", "5fba8205614a", "abdb0d976719", "067fcc208d73", "d097a80fbca8", "33b30a003367", "30f14d9f4b76",
		"151b1a915d45", "2c7270cee1b2", "982de74f31ac", "cb9b5d381a9d", "9ff5615dfbbf", "87f35b589fca", "eca06d2bb0cc", "01f82d196845",
		"177a7dded16f", "1a65a2ce0ab1", "e51f6892eadb", "da1fa454c2b3", "38b07359822d", "1c76019f435a", "53876e91be8c", "b7e22db7bd1d",
		"0e06e0292414", "e5f55415b308", "b31b35a13f59", "c365bd025982", "078036e54472", "780e1b18e090", "3b00cec27361", "088214f816e9",
		"4d1d35556e0d", "a62365125eba", "c0e24c10220b", "c33dde15913d", "334478fb12be", "7764a9ee681a", "7f0383e7bd56", "3666efc97b95",
		"3359cfe0458a", "c2109c5bfbca", "e4224e050111", "f1894db1815c", "b87edb34c1dd", "111dc106b743", "329d91f2e0f8", "65edb54e22a0",
	}
	// The recorded seeds each library decodes differently; today's decoder matches encoding/json
	// on all of them.
	want := map[string][]string{
		// segmentio: a row of the wrong type loses its readable time (placed by its neighbour)
		"segmentio": {"65edb54e22a0"},
		// sonic: non-ASCII case folding of keys, invalid UTF-8 not replaced the same way
		"sonic_std": {"de8b38bf2c34", "067fcc208d73", "111dc106b743"},
		// jsoniter: lone surrogates, null over a set field, case-folded keys, duplicate "value"
		"jsoniter_std": {"05e03ac64646", "14f8477de819", "de8b38bf2c34", "631b1708e10a", "5fba8205614a", "abdb0d976719", "067fcc208d73", "1c76019f435a", "e4224e050111", "65edb54e22a0"},
		// fastjson: no raw bytes of a row (re-serialised), leading zeros and control characters
		// accepted, unpaired surrogates kept as text, "d" duplicates not merged
		"fastjson": {"cfaec19e9304", "14f8477de819", "de8b38bf2c34", "f3b15015c2e5", "abdb0d976719", "d097a80fbca8", "1c76019f435a", "53876e91be8c", "4d1d35556e0d"},
	}
	bodies := map[string]string{}
	for _, s := range tracepagetest.EdgeBodies() {
		bodies[edgeBodyKey(s)] = s
	}
	for _, k := range recorded {
		require.Contains(t, bodies, k, "recorded seed %s is no longer in tracepagetest.EdgeBodies", k)
	}
	for _, lib := range Libraries() {
		diverging := []string{}
		for _, k := range recorded {
			if d := edgeDiff(lib, bodies[k]); d != "" {
				diverging = append(diverging, k)
				t.Logf("%s differs on seed %s: %s", lib.Name, k, d)
			}
		}
		assert.ElementsMatch(t, want[lib.Name], diverging, "%s: seeds decoded differently from today's decoder", lib.Name)
		for k, s := range bodies {
			if !slices.Contains(recorded, k) {
				t.Logf("%s: seed %s is not recorded yet (differs: %t): %q", lib.Name, k, edgeDiff(lib, s) != "", s)
			}
		}
	}
}

// edgeBodyKey names an edge body by its content: the first 12 hex digits of its SHA-256.
func edgeBodyKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// edgeDiff is how lib decodes body differently from today's decoder, by either API ("" if not).
func edgeDiff(lib Library, body string) string {
	return tracepagetest.Diff([]byte(body), lib.Graph, decodeGraphAll) + tracepagetest.Diff([]byte(body), lib.Legacy, decodeLegacyAll)
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
