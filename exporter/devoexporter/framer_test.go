package devoexporter

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

// Golden vectors: bytes captured from Devo's Python SDK (shared/reference/devo-ingestion.md §1-2).
const (
	goldenPlain  = "<14>Jan  1 00:00:00 host1 cloud.office365.messagetracing: {\"a\":1}\n"
	goldenPRI131 = "<131>Jan  1 00:00:00 host1 cloud.office365.messagetracing: {\"a\":1}\n"
	goldenOctet  = "74 <14>Jan  1 00:00:00 host1 cloud.office365.messagetracing: {\"a\":1,\n \"b\":2}\n"
	goldenDated  = "<14>2024-05-01 12:34:56.789 host1 cloud.office365.messagetracing: {\"a\":1}\n"
	// first 10 bytes of the SDK's gzip member: magic, deflate, no flags, mtime 0, xfl 0, OS Unix
	goldenGzipHeader = "1f8b0800000000000003"
)

// goldenPlainDump is the hex dump published with the capture; it guards goldenPlain itself.
const goldenPlainDump = "3c31343e4a616e2020312030303a30303a303020686f73743120636c6f" +
	"75642e6f66666963653336352e6d65737361676574726163696e673a20" +
	"7b2261223a317d0a"

func sdkFramer(mut func(*Config)) *framer {
	cfg := createDefaultConfig().(*Config)
	cfg.DateFormat = DateFormatSDK
	cfg.PullingID = false
	if mut != nil {
		mut(cfg)
	}
	return newFramer(cfg, "host1")
}

func frame(f *framer, tag string, rec plog.LogRecord) string {
	b, _ := f.appendFrame(nil, tag, rec, time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC))
	return string(b)
}

func TestFrameGoldenVectors(t *testing.T) {
	lrs := plog.NewLogRecordSlice()
	strRec := lrs.AppendEmpty()
	strRec.Body().SetStr(`{"a":1}`)
	mapRec := mapRecord(lrs, map[string]any{"a": 1})
	errRec := lrs.AppendEmpty()
	errRec.Body().SetStr(`{"a":1}`)
	errRec.SetSeverityNumber(plog.SeverityNumberError)
	multiRec := lrs.AppendEmpty()
	multiRec.Body().SetStr("{\"a\":1,\n \"b\":2}")
	datedRec := lrs.AppendEmpty()
	datedRec.Body().SetStr(`{"a":1}`)
	datedRec.SetTimestamp(ts("2024-05-01T12:34:56.789999Z"))

	tests := []struct {
		name string
		f    *framer
		rec  plog.LogRecord
		want string
	}{
		{"string body", sdkFramer(nil), strRec, goldenPlain},
		{"map body as compact JSON", sdkFramer(nil), mapRec, goldenPlain},
		{"facility 16 severity error", sdkFramer(func(c *Config) { c.Facility = 16 }), errRec, goldenPRI131},
		{"octet counting keeps the line break", sdkFramer(func(c *Config) { c.Framing = FramingOctetCounting }), multiRec, goldenOctet},
		{"collector date, milliseconds truncated", sdkFramer(func(c *Config) { c.DateFormat = DateFormatCollector }), datedRec, goldenDated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, frame(tt.f, goldenTag, tt.rec))
		})
	}
	// The constants above must be the captured bytes, not a retyping mistake.
	dump, err := hex.DecodeString(goldenPlainDump)
	require.NoError(t, err)
	assert.Equal(t, goldenPlain, string(dump))
	assert.Len(t, goldenPlain, 66)
	assert.Len(t, goldenOctet, 77)
	assert.Len(t, goldenDated, 74)
}

func TestSeverityToPRI(t *testing.T) {
	tests := []struct {
		sev  plog.SeverityNumber
		want int // syslog severity
	}{
		{plog.SeverityNumberUnspecified, 6},
		{plog.SeverityNumberTrace, 7},
		{plog.SeverityNumberDebug4, 7},
		{plog.SeverityNumberInfo, 6},
		{plog.SeverityNumberInfo4, 6},
		{plog.SeverityNumberWarn, 4},
		{plog.SeverityNumberWarn4, 4},
		{plog.SeverityNumberError, 3},
		{plog.SeverityNumberError4, 3},
		{plog.SeverityNumberFatal, 2},
		{plog.SeverityNumberFatal4, 2},
		{plog.SeverityNumber(25), 6}, // out of range: treated as unset
	}
	for _, facility := range []int{0, 1, 16, 23} {
		f := sdkFramer(func(c *Config) { c.Facility = facility })
		for _, tt := range tests {
			t.Run(fmt.Sprintf("facility %d %s", facility, tt.sev), func(t *testing.T) {
				rec := plog.NewLogRecord()
				rec.SetSeverityNumber(tt.sev)
				ev, err := devotest.ParseEvent(devotest.Frame{Data: []byte(strings.TrimSuffix(frame(f, "a.b", rec), "\n"))})
				require.NoError(t, err)
				assert.Equal(t, facility*8+tt.want, ev.PRI)
			})
		}
	}
}

func TestDateFormats(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	withTS := plog.NewLogRecord()
	withTS.SetTimestamp(ts("2024-05-01T14:34:56.7+02:00")) // rendered in UTC
	withTS.SetObservedTimestamp(ts("2025-01-01T00:00:00Z"))
	observedOnly := plog.NewLogRecord()
	observedOnly.SetObservedTimestamp(ts("2025-01-01T00:00:00.001Z"))
	neither := plog.NewLogRecord()

	tests := []struct {
		name   string
		format string
		rec    plog.LogRecord
		want   string
	}{
		{"collector uses Timestamp in UTC", DateFormatCollector, withTS, "2024-05-01 12:34:56.700"},
		{"collector falls back to ObservedTimestamp", DateFormatCollector, observedOnly, "2025-01-01 00:00:00.001"},
		{"collector falls back to the push time", DateFormatCollector, neither, "2030-01-02 03:04:05.006"},
		{"sdk is constant", DateFormatSDK, withTS, "Jan  1 00:00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := sdkFramer(func(c *Config) { c.DateFormat = tt.format })
			b, _ := f.appendFrame(nil, "a.b", tt.rec, now)
			ev, err := devotest.ParseEvent(devotest.Frame{Data: bytes.TrimSuffix(b, []byte("\n"))})
			require.NoError(t, err)
			assert.Equal(t, tt.want, ev.Date)
		})
	}
}

func TestLineBreaks(t *testing.T) {
	body := "line1\nline2\r\nline3\\n"
	rec := plog.NewLogRecord()
	rec.Body().SetStr(body)

	lf := frame(sdkFramer(nil), "a.b", rec)
	assert.Equal(t, 1, strings.Count(lf, "\n"), "LF framing: exactly one LF, the terminator")
	assert.True(t, strings.HasSuffix(lf, `a.b: line1\nline2\r\nline3\n`+"\n"), lf)

	oc := frame(sdkFramer(func(c *Config) { c.Framing = FramingOctetCounting }), "a.b", rec)
	ev := decodeOne(t, oc)
	assert.Equal(t, body, ev.Message, "octet counting carries line breaks verbatim")
	assert.Equal(t, devotest.FramingOctetCounting, ev.Framing)

	// JSON bodies never need the escape: the encoder already escapes control characters.
	mrec := plog.NewLogRecord()
	mrec.Body().SetEmptyMap().PutStr("k", body)
	assert.Equal(t, `{"k":"line1\nline2\r\nline3\\n"}`, decodeOne(t, frame(sdkFramer(nil), "a.b", mrec)).Message)
}

func decodeOne(t testing.TB, stream string) devotest.Event {
	t.Helper()
	d := devotest.NewDecoder(strings.NewReader(stream), 0)
	f, err := d.Next()
	require.NoError(t, err)
	ev, err := devotest.ParseEvent(f)
	require.NoError(t, err)
	_, err = d.Next()
	require.ErrorIs(t, err, io.EOF, "exactly one frame")
	return ev
}

func TestTruncation(t *testing.T) {
	const maxSize = minEventSize
	header := len("<14>Jan  1 00:00:00 host1 a.b: ")
	tests := []struct {
		name      string
		msg       string
		octet     bool
		truncated bool
	}{
		{"exactly at the limit", strings.Repeat("x", maxSize-header-1), false, false},
		{"one byte over", strings.Repeat("x", maxSize-header), false, true},
		{"far over, octet counting", strings.Repeat("y", 10*maxSize), true, true},
		{"multi-byte runes are not split", strings.Repeat("é", maxSize), false, true},
		{"escapes count towards the limit", strings.Repeat("\n", maxSize/2), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := sdkFramer(func(c *Config) {
				c.MaxEventSize = maxSize
				if tt.octet {
					c.Framing = FramingOctetCounting
				}
			})
			rec := plog.NewLogRecord()
			rec.Body().SetStr(tt.msg)
			b, truncated := f.appendFrame(nil, "a.b", rec, time.Now())
			assert.Equal(t, tt.truncated, truncated)
			ev := decodeOne(t, string(b))
			frameLen := header + len(ev.Message) + 1
			assert.LessOrEqual(t, frameLen, maxSize)
			if tt.truncated {
				assert.True(t, strings.HasSuffix(ev.Message, truncationMarker))
				assert.Greater(t, frameLen, maxSize-utf8.UTFMax, "truncation keeps as much as fits")
				assert.True(t, utf8.ValidString(ev.Message))
			} else {
				assert.Equal(t, tt.msg, ev.Message)
			}
		})
	}
}

func TestBodies(t *testing.T) {
	mk := func(set func(v pcommon.Value)) plog.LogRecord {
		r := plog.NewLogRecord()
		set(r.Body())
		r.SetObservedTimestamp(ts("2024-05-01T12:34:56.789Z"))
		return r
	}
	ordered := mk(func(v pcommon.Value) {
		m := v.SetEmptyMap()
		m.PutStr("MessageId", "<a@b>")
		m.PutInt("Size", 1024)
		m.PutDouble("Score", 0.5)
		m.PutBool("Ok", true)
		m.PutEmptySlice("To").AppendEmpty().SetStr("x@y")
		m.PutEmpty("Nothing")
		m.PutEmptyBytes("Raw").FromRaw([]byte{1, 2})
	})
	tests := []struct {
		name      string
		pullingID bool
		rec       plog.LogRecord
		want      string
	}{
		{
			"map keeps insertion order, no HTML escaping", false, ordered,
			`{"MessageId":"<a@b>","Size":1024,"Score":0.5,"Ok":true,"To":["x@y"],"Nothing":null,"Raw":"AQI="}`,
		},
		{
			"pulling id appended to maps", true, mk(func(v pcommon.Value) { v.SetEmptyMap().PutStr("a", "b") }),
			`{"a":"b","@devo_pulling_id":"1714566896789"}`,
		},
		{
			"existing pulling id kept", true, mk(func(v pcommon.Value) { v.SetEmptyMap().PutStr(pullingIDKey, "1") }),
			`{"@devo_pulling_id":"1"}`,
		},
		{"pulling id only on maps", true, mk(func(v pcommon.Value) { v.SetStr("plain") }), "plain"},
		{"slice as JSON", false, mk(func(v pcommon.Value) { v.SetEmptySlice().AppendEmpty().SetInt(7) }), "[7]"},
		{"int as text", false, mk(func(v pcommon.Value) { v.SetInt(-42) }), "-42"},
		{"double as text", false, mk(func(v pcommon.Value) { v.SetDouble(1.5) }), "1.5"},
		{"bool as text", false, mk(func(v pcommon.Value) { v.SetBool(false) }), "false"},
		{"bytes as base64 text", false, mk(func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte("hi")) }), "aGk="},
		{"empty body", false, mk(func(pcommon.Value) {}), ""},
		{"non-finite doubles become strings", false, mk(func(v pcommon.Value) {
			s := v.SetEmptySlice()
			s.AppendEmpty().SetDouble(posInf())
			s.AppendEmpty().SetDouble(1e-7)
			s.AppendEmpty().SetDouble(1e21)
		}), `["+Inf",1e-7,1e+21]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := sdkFramer(func(c *Config) { c.PullingID = tt.pullingID })
			assert.Equal(t, tt.want, decodeOne(t, frame(f, "a.b", tt.rec)).Message)
		})
	}
}

func posInf() float64 { var zero float64; return 1 / zero }

// TestJSONMatchesEncodingJSON checks the hand-written encoder against encoding/json on values
// that both can express (key order aside, which encoding/json sorts).
func TestJSONMatchesEncodingJSON(t *testing.T) {
	raw := map[string]any{
		"s": "quote\" backslash\\ ctl\x01\x1f tab\t nl\n uni é 日本 <>&", "bad": "\xff\xfe",
		"i": int64(-9007199254740993), "f": 3.141592653589793, "tiny": 1e-300, "big": 1.5e300,
		"b": true, "n": nil, "arr": []any{"x", int64(1), []any{}, map[string]any{}}, "m": map[string]any{"k": "v"},
	}
	v := pcommon.NewValueMap()
	require.NoError(t, v.Map().FromRaw(raw))
	ours := appendJSON(nil, v)
	std, err := json.Marshal(v.Map().AsRaw())
	require.NoError(t, err)
	var a, b any
	require.NoError(t, json.Unmarshal(ours, &a), string(ours))
	require.NoError(t, json.Unmarshal(std, &b))
	assert.Equal(t, b, a)
}

// benchBody is a ~600-byte MessageTrace-like row, the exporter's main payload.
func benchBody(v pcommon.Value, i int) {
	m := v.SetEmptyMap()
	m.PutStr("MessageTraceId", fmt.Sprintf("9c4d2b1e-%04d-4f7a-9a6b-1d2c3e4f5a6b", i%10000))
	m.PutStr("MessageId", fmt.Sprintf("<CAF%08d.1234567890.ABCDEF@mail.example.com>", i))
	m.PutStr("Organization", "contoso.onmicrosoft.com")
	m.PutStr("Received", "2024-05-01T12:34:56.7891234Z")
	m.PutStr("SenderAddress", "alerts-noreply@notifications.example.com")
	m.PutStr("RecipientAddress", "first.last@contoso.com")
	m.PutStr("Subject", "Your weekly digest: 12 new items, 3 mentions and \"quoted\" text")
	m.PutStr("Status", "Delivered")
	m.PutStr("ToIP", "2603:10a6:20b:3c1::17")
	m.PutStr("FromIP", "40.107.22.58")
	m.PutInt("Size", 48213)
	m.PutStr("StartDate", "2024-05-01T12:00:00Z")
	m.PutStr("EndDate", "2024-05-01T12:15:00Z")
	m.PutInt("Index", int64(i))
	m.PutStr("Direction", "Inbound")
	m.PutStr("OriginalClientIP", "")
}

// BenchmarkFrame compares framing a record (header + JSON body) with encoding/json marshalling
// the same body alone, in the same run.
func BenchmarkFrame(b *testing.B) {
	const n = 1024
	lrs := plog.NewLogRecordSlice()
	for i := range n {
		r := lrs.AppendEmpty()
		benchBody(r.Body(), i)
		r.SetTimestamp(ts("2024-05-01T12:34:56.789Z"))
		r.SetObservedTimestamp(ts("2024-05-01T12:35:00Z"))
	}
	size := len(appendJSON(nil, lrs.At(0).Body()))
	b.Logf("body JSON size: %d bytes", size)
	now := time.Now()
	b.Run("framer", func(b *testing.B) {
		f := newFramer(createDefaultConfig().(*Config), "collector-host-01")
		var buf []byte
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for i := 0; b.Loop(); i++ {
			buf, _ = f.appendFrame(buf[:0], "cloud.office365.messagetracing", lrs.At(i%n), now)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for i := 0; b.Loop(); i++ {
			if _, err := json.Marshal(lrs.At(i % n).Body().Map().AsRaw()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzFrame round-trips framer output through the devotest decoder: one frame per record, the
// header fields as configured, the message intact (escaped with LF framing) or cleanly truncated.
func FuzzFrame(f *testing.F) {
	f.Add("{\"a\":1}", false, false, uint8(0), uint16(0))
	f.Add("{\"a\":1,\n \"b\":2}", true, false, uint8(17), uint16(0))
	f.Add("a\r\nb\\n", false, true, uint8(9), uint16(100))
	f.Fuzz(func(t *testing.T, body string, octet, asMap bool, sev uint8, extra uint16) {
		cfg := createDefaultConfig().(*Config)
		cfg.PullingID = false
		cfg.MaxEventSize = minEventSize + int(extra)
		if octet {
			cfg.Framing = FramingOctetCounting
		}
		fr := newFramer(cfg, "host1")
		rec := plog.NewLogRecord()
		rec.SetSeverityNumber(plog.SeverityNumber(sev % 30))
		rec.SetTimestamp(ts("2024-05-01T12:34:56.789Z"))
		if asMap {
			rec.Body().SetEmptyMap().PutStr("k", body)
		} else {
			rec.Body().SetStr(body)
		}
		out, truncated := fr.appendFrame(nil, "my.app.fuzz", rec, time.Now())

		d := devotest.NewDecoder(bytes.NewReader(out), 0)
		fm, err := d.Next()
		require.NoError(t, err)
		ev, err := devotest.ParseEvent(fm)
		require.NoError(t, err)
		_, err = d.Next()
		require.ErrorIs(t, err, io.EOF, "more than one frame: %v", err)

		assert.Equal(t, 8+syslogSeverity(rec.SeverityNumber()), ev.PRI)
		assert.Equal(t, "2024-05-01 12:34:56.789", ev.Date)
		assert.Equal(t, "host1", ev.Host)
		assert.Equal(t, "my.app.fuzz", ev.Tag)
		assert.LessOrEqual(t, len(fm.Data)+1, cfg.MaxEventSize)

		var want string
		switch {
		case asMap:
			want = string(appendJSONMap(nil, rec.Body().Map(), "", ""))
		case octet:
			want = body
		default:
			want = strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(body)
		}
		if truncated {
			require.True(t, strings.HasSuffix(ev.Message, truncationMarker))
			kept := strings.TrimSuffix(ev.Message, truncationMarker)
			assert.True(t, strings.HasPrefix(want, kept), "truncated message is a prefix of the full one")
			return
		}
		assert.Equal(t, want, ev.Message)
		if asMap {
			var got map[string]string
			require.NoError(t, json.Unmarshal([]byte(ev.Message), &got))
			if utf8.ValidString(body) {
				assert.Equal(t, body, got["k"])
			}
		}
	})
}

func TestAppendCollectorDateMatchesTheLayout(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2026, 11, 21, 8, 9, 41, 512_999_999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, 0).UTC(),
	} {
		assert.Equal(t, ts.Format(collectorDateLayout), string(appendCollectorDate(nil, ts)))
	}
}
