package messagetracereceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
	jsoniter "github.com/json-iterator/go"
	segjson "github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"
)

// Issue 13 asks whether a maintained JSON library can replace the hand-written decoder in
// page.go. Each candidate below decodes a page the way the encoding/json reference does (the
// page into per-row RawMessages, then each row on its own, so a bad row is delivered raw and
// does not fail the page); fastjson has no struct decoding and walks the parsed tree instead.
// The test requires every candidate to produce today's rows on the real pages before the
// benchmark's figures mean anything.

type pageLibrary struct {
	name           string
	graph, legacy  func([]byte) (*tracePage, error)
	seedDivergence []int // differentialSeeds indices where the library differs from encoding/json
}

func pageLibraries() []pageLibrary {
	return []pageLibrary{
		{name: "encoding_json", graph: refDecodeGraphPage, legacy: refDecodeLegacyPage},
		{name: "goccy_go_json", graph: graphPageVia(gojson.Unmarshal), legacy: legacyPageVia(gojson.Unmarshal)},
		{name: "segmentio", graph: graphPageVia(segjson.Unmarshal), legacy: legacyPageVia(segjson.Unmarshal)},
		{name: "sonic_std", graph: graphPageVia(sonic.ConfigStd.Unmarshal), legacy: legacyPageVia(sonic.ConfigStd.Unmarshal)},
		{name: "jsoniter_std", graph: graphPageVia(jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal),
			legacy: legacyPageVia(jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal)},
		{name: "fastjson", graph: fastjsonGraphPage, legacy: fastjsonLegacyPage},
	}
}

var fastjsonParsers fastjson.ParserPool

func fastjsonGraphPage(body []byte) (*tracePage, error) {
	if !looksLikeJSONObject(body) {
		return nil, errNotJSON
	}
	p := fastjsonParsers.Get()
	defer fastjsonParsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("malformed Graph response: %w", err)
	}
	out := &tracePage{}
	if n := fjField(v, "@odata.nextLink"); n != nil && n.Type() == fastjson.TypeString {
		out.next = fjString(n)
	}
	rows, err := fjRows(fjField(v, "value"))
	if err != nil {
		return nil, fmt.Errorf("malformed Graph response: %w", err)
	}
	out.rows = make([]traceRow, 0, len(rows))
	for _, row := range rows {
		f, size, typeErr := fjRowFields(row, graphFieldNames)
		received, err := time.Parse(time.RFC3339Nano, f[5])
		switch {
		case typeErr != nil:
			out.rows = append(out.rows, unparsedRow(row.MarshalTo(nil), typeErr.Error(), received.UTC(), err == nil))
			continue
		case err != nil:
			out.rows = append(out.rows, unparsedRow(row.MarshalTo(nil), err.Error(), time.Time{}, false))
			continue
		case f[0] == "":
			out.rows = append(out.rows, unparsedRow(row.MarshalTo(nil), "no id", received.UTC(), true))
			continue
		}
		out.rows = append(out.rows, traceRow{
			ID: f[0], MessageID: f[1], Sender: f[2], Recipient: f[3], Subject: f[4], Status: f[6],
			FromIP: f[7], ToIP: f[8], Received: received.UTC(), Size: size,
		})
	}
	placeUnparsed(out.rows)
	return out, nil
}

func fastjsonLegacyPage(body []byte) (*tracePage, error) {
	if !looksLikeJSONObject(body) {
		return nil, errNotJSON
	}
	p := fastjsonParsers.Get()
	defer fastjsonParsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("malformed Reporting Web Service response: %w", err)
	}
	list, nextV := fjField(v, "value"), fjField(v, "odata.nextLink")
	if d := fjField(v, "d"); d != nil && d.Type() == fastjson.TypeObject {
		list, nextV = fjField(d, "results"), fjField(d, "__next")
	} else if list == nil || list.Type() == fastjson.TypeNull {
		return nil, errors.New("malformed Reporting Web Service response: neither d.results nor value")
	}
	out := &tracePage{}
	if nextV != nil && nextV.Type() == fastjson.TypeString {
		out.next = fjString(nextV)
	}
	rows, err := fjRows(list)
	if err != nil {
		return nil, fmt.Errorf("malformed Reporting Web Service response: %w", err)
	}
	out.rows = make([]traceRow, 0, len(rows))
	for _, row := range rows {
		f, size, typeErr := fjRowFields(row, legacyFieldNames)
		received, err := refParseLegacyDate(f[2])
		switch {
		case typeErr != nil:
			out.rows = append(out.rows, unparsedRow(row.MarshalTo(nil), typeErr.Error(), received, err == nil))
			continue
		case err != nil:
			out.rows = append(out.rows, unparsedRow(row.MarshalTo(nil), err.Error(), time.Time{}, false))
			continue
		case f[9] == "":
			out.rows = append(out.rows, unparsedRow(row.MarshalTo(nil), "no MessageTraceId", received, true))
			continue
		}
		out.rows = append(out.rows, traceRow{
			ID: f[9], MessageID: f[1], Sender: f[3], Recipient: f[4], Subject: f[5], Status: f[6],
			FromIP: f[8], ToIP: f[7], Organization: f[0], Received: received, Size: size,
		})
	}
	placeUnparsed(out.rows)
	return out, nil
}

// The string fields of a row in the order fjRowFields returns them; "size"/"Size" is apart.
var (
	graphFieldNames = [][]byte{[]byte("id"), []byte("messageId"), []byte("senderAddress"), []byte("recipientAddress"),
		[]byte("subject"), []byte("receivedDateTime"), []byte("status"), []byte("fromIP"), []byte("toIP")}
	legacyFieldNames = [][]byte{[]byte("Organization"), []byte("MessageId"), []byte("Received"), []byte("SenderAddress"),
		[]byte("RecipientAddress"), []byte("Subject"), []byte("Status"), []byte("ToIP"), []byte("FromIP"), []byte("MessageTraceId")}
	sizeFieldName = []byte("size")
)

// fjField finds key as encoding/json would: exact match first, else case-insensitive; the
// last duplicate wins.
func fjField(v *fastjson.Value, key string) *fastjson.Value {
	o, err := v.Object()
	if err != nil {
		return nil
	}
	var exact, folded *fastjson.Value
	o.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) == key {
			exact = v
		} else if bytes.EqualFold(k, []byte(key)) {
			folded = v
		}
	})
	if exact != nil {
		return exact
	}
	return folded
}

func fjRows(v *fastjson.Value) ([]*fastjson.Value, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	return v.Array()
}

// fjRowFields reads a row's string fields and size with encoding/json's typing: null leaves a
// field empty, any other type than string (or number for size) is a type error.
func fjRowFields(row *fastjson.Value, names [][]byte) (fields []string, size int64, err error) {
	fields = make([]string, len(names))
	o, err := row.Object()
	if err != nil {
		return fields, 0, err
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if bytes.EqualFold(k, sizeFieldName) {
			switch v.Type() {
			case fastjson.TypeNull:
			case fastjson.TypeNumber:
				n, e := v.Int64()
				if e != nil && err == nil {
					err = e
				}
				size = n
			default:
				if err == nil {
					err = fmt.Errorf("size: %s is not a number", v.Type())
				}
			}
			return
		}
		for i, name := range names {
			if !bytes.EqualFold(k, name) {
				continue
			}
			switch v.Type() {
			case fastjson.TypeNull:
				fields[i] = ""
			case fastjson.TypeString:
				fields[i] = fjString(v)
			default:
				if err == nil {
					err = fmt.Errorf("%s: %s is not a string", name, v.Type())
				}
			}
			return
		}
	})
	return fields, size, err
}

// fjString copies a string value out of the parser's buffer, replacing each invalid UTF-8
// byte by U+FFFD as encoding/json does (fastjson passes them through).
func fjString(v *fastjson.Value) string {
	b := v.GetStringBytes()
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = append(out, r)
		b = b[n:]
	}
	return string(out)
}

// TestPageLibrariesMatchTodaysDecoder requires every library to decode the real full pages and
// the receiver's page fixtures (each by its own API's decoder) exactly as today's decoder does.
func TestPageLibrariesMatchTodaysDecoder(t *testing.T) {
	graph, verbose, light := realisticPages(t)
	truncated, html := readPage(t, "truncated.json"), readPage(t, "html_signin.html")
	graphBodies := map[string][]byte{"graph_5000": graph, "graph.json": readPage(t, "graph.json"),
		"truncated.json": truncated, "html_signin.html": html}
	legacyBodies := map[string][]byte{"legacy_verbose_2000": verbose, "legacy_light_2000": light,
		"legacy_verbose.json": readPage(t, "legacy_verbose.json"), "legacy_light.json": readPage(t, "legacy_light.json"),
		"truncated.json": truncated, "html_signin.html": html}
	for _, lib := range pageLibraries() {
		t.Run(lib.name, func(t *testing.T) {
			for name, body := range graphBodies {
				assert.Empty(t, decodingDiff(body, lib.graph, decodeGraphPage), "graph decoding of %s", name)
			}
			for name, body := range legacyBodies {
				assert.Empty(t, decodingDiff(body, lib.legacy, decodeLegacyPage), "legacy decoding of %s", name)
			}
			// The full pages must decode to rows, so the comparison is not between two empty pages.
			for _, c := range []struct {
				decode func([]byte) (*tracePage, error)
				body   []byte
				rows   int
			}{{lib.graph, graph, 5000}, {lib.legacy, verbose, 2000}, {lib.legacy, light, 2000}} {
				p, err := c.decode(c.body)
				require.NoError(t, err)
				assert.Len(t, p.rows, c.rows)
			}
		})
	}
}

// TestPageLibrariesOnEdgeBodies records which of the differential fuzzing seeds (edges of
// encoding/json's semantics: invalid UTF-8, lone surrogates, case-folded and duplicate keys,
// bad rows among good ones) each library decodes differently from today's decoder, so the
// cost of adopting one is known; a change in either direction fails here.
func TestPageLibrariesOnEdgeBodies(t *testing.T) {
	// Read the indices against differentialSeeds; today's decoder matches encoding/json on all.
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
	for _, lib := range pageLibraries() {
		var diverging []int
		for i, s := range differentialSeeds {
			g := decodingDiff([]byte(s), lib.graph, decodeGraphPage)
			l := decodingDiff([]byte(s), lib.legacy, decodeLegacyPage)
			if g != "" || l != "" {
				diverging = append(diverging, i)
				t.Logf("%s differs on seed %d: %s%s", lib.name, i, g, l)
			}
		}
		assert.Equal(t, want[lib.name], diverging, "%s: seeds decoded differently from today's decoder", lib.name)
	}
}

// BenchmarkPageLibraries is the issue 13 comparison: decode + convert to plog.Logs of the real
// full pages, today's decoder, encoding/json (into plain structs as BENCHMARKS.md figure 1's
// baseline, and through the reference decoder) and each candidate library, in one run.
func BenchmarkPageLibraries(b *testing.B) {
	graph, verbose, light := realisticPages(b)
	builder := &recordBuilder{tenant: "contoso.onmicrosoft.com", includeSubject: true, version: "bench"}
	observed := time.Now()
	pages := []struct {
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
	for _, pg := range pages {
		decoders := []struct {
			name   string
			decode func([]byte) (*tracePage, error)
		}{{"today", decodeGraphPage}}
		if pg.legacy {
			decoders[0].decode = decodeLegacyPage
		}
		for _, lib := range pageLibraries() {
			d := lib.graph
			if pg.legacy {
				d = lib.legacy
			}
			decoders = append(decoders, struct {
				name   string
				decode func([]byte) (*tracePage, error)
			}{lib.name, d})
		}
		first, err := decoders[0].decode(pg.body)
		if err != nil {
			b.Fatal(err)
		}
		rows := len(first.rows)
		b.Run(pg.name+"/encoding_json_plain_decode_only", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n, err := pg.plain(pg.body); err != nil || n != rows {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			reportPerRow(b, rows)
		})
		for _, d := range decoders {
			b.Run(pg.name+"/"+d.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p, err := d.decode(pg.body)
					if err != nil {
						b.Fatal(err)
					}
					if ld := builder.build(p.rows, observed); ld.LogRecordCount() != rows {
						b.Fatalf("%d records, want %d", ld.LogRecordCount(), rows)
					}
				}
				reportPerRow(b, rows)
			})
		}
	}
}
