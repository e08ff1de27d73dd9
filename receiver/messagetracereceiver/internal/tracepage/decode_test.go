package tracepage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readPage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pages", name))
	require.NoError(t, err)
	return b
}

func TestDecodeGraphPage(t *testing.T) {
	p, err := DecodeGraph(readPage(t, "graph.json"), 0)
	require.NoError(t, err)
	assert.Contains(t, p.Next, "$skiptoken=RVhBTVBMRQ")
	require.Len(t, p.Rows, 4)
	assert.Equal(t, Row{
		ID: "9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4", MessageID: "<4be1d0@mx.northwind.example>",
		Sender: "billing@northwind.example", Recipient: "ana@contoso.com", Subject: "Invoice 4471",
		Status: "delivered", FromIP: "192.0.2.15", ToIP: "",
		Received: time.Date(2026, 11, 21, 8, 9, 41, 512_000_000, time.UTC), Size: 73214,
	}, p.Rows[0])
	assert.Equal(t, "Überweisung für Jürgen – 請求書 ✓ \"quoted\" \\ back", p.Rows[2].Subject)
	assert.Equal(t, `<q"uote\d@fabrikam.example>`, p.Rows[2].MessageID)
	assert.Equal(t, "2001:db8::7", p.Rows[2].FromIP)
	assert.Empty(t, p.Rows[3].MessageID, "null messageId")
	assert.Empty(t, p.Rows[3].FromIP, "null fromIP")
	assert.Equal(t, 123_456_700, p.Rows[3].Received.Nanosecond(), "seven fractional digits survive")
}

func TestDecodeLegacyEnvelopes(t *testing.T) {
	verbose, err := DecodeLegacy(readPage(t, "legacy_verbose.json"), 0)
	require.NoError(t, err)
	assert.Equal(t, "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/MessageTrace?$skiptoken=1999", verbose.Next)
	require.Len(t, verbose.Rows, 1)
	assert.Equal(t, Row{
		ID: "6b1e2a9c-3f44-4d0e-8c1b-08de57a1c2f3", MessageID: "<a1f0c2@mail.fabrikam.com>",
		Sender: "ops@fabrikam.com", Recipient: "kim@contoso.org", Subject: "Weekly status", Status: "Pending",
		FromIP: "198.51.100.7", Organization: "fabrikam.onmicrosoft.com",
		Received: time.UnixMilli(1772359262117).UTC(), Size: 48211,
	}, verbose.Rows[0])

	light, err := DecodeLegacy(readPage(t, "legacy_light.json"), 0)
	require.NoError(t, err)
	assert.Equal(t, "../../reportingwebservice/reporting.svc/MessageTrace?$filter=x&$skiptoken=1999", light.Next)
	require.Len(t, light.Rows, 2)
	assert.Equal(t, time.Date(2026, 3, 1, 10, 1, 2, 117_000_000, time.UTC), light.Rows[0].Received, "no offset means UTC")
	assert.Equal(t, time.Date(2026, 3, 1, 10, 2, 0, 0, time.UTC), light.Rows[1].Received)
	assert.Equal(t, "GettingStatus", light.Rows[1].Status)
}

func TestLegacyDates(t *testing.T) {
	tests := map[string]time.Time{
		"/Date(1772359262117)/":       time.UnixMilli(1772359262117).UTC(),
		"/Date(1772359262117+0000)/":  time.UnixMilli(1772359262117).UTC(),
		"/Date(-1000)/":               time.UnixMilli(-1000).UTC(),
		"2022-11-29T05:35:08.2652371": time.Date(2022, 11, 29, 5, 35, 8, 265_237_100, time.UTC),
		"2022-11-29T05:35:08Z":        time.Date(2022, 11, 29, 5, 35, 8, 0, time.UTC),
		"2022-11-29T06:35:08+01:00":   time.Date(2022, 11, 29, 5, 35, 8, 0, time.UTC),
	}
	for in, want := range tests {
		got, err := ParseLegacyDate(in)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(got), "%s: got %v want %v", in, got, want)
	}
	for _, bad := range []string{"", "/Date()/", "/Date(abc)/", "yesterday"} {
		_, err := ParseLegacyDate(bad)
		assert.Error(t, err, bad)
	}
}

func TestDecodeRejectsNonJSON(t *testing.T) {
	for _, decode := range []func([]byte) (*Page, error){DecodeGraphAll, DecodeLegacyAll} {
		_, err := decode(readPage(t, "html_signin.html"))
		require.ErrorIs(t, err, ErrNotJSON)
		_, err = decode(readPage(t, "truncated.json"))
		require.ErrorContains(t, err, "malformed")
		// A bad row is not a bad page: it comes back as an unparsed row.
		p, err := decode([]byte(`{"value":[{"id":"x","receivedDateTime":"not a date"}],"d":null}`))
		require.NoError(t, err)
		require.Len(t, p.Rows, 1)
		assert.NotEmpty(t, p.Rows[0].ParseError)
	}
	_, err := DecodeLegacy([]byte(`{"odata.metadata":"x"}`), 0)
	require.ErrorContains(t, err, "neither d.results nor value")
	empty, err := DecodeLegacy([]byte(`{"odata.metadata":"x","value":[]}`), 0)
	require.NoError(t, err)
	assert.Empty(t, empty.Rows)
}

func FuzzDecodeGraphPage(f *testing.F) {
	f.Add(readPage(f, "graph.json"))
	f.Add(readPage(f, "truncated.json"))
	f.Add(readPage(f, "html_signin.html"))
	f.Add([]byte(`{"value":[]}`))
	f.Add([]byte(`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z","size":-1}]}`))
	f.Add([]byte(`{"value":[{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z"},{"id":"b","receivedDateTime":"x"},{"size":"1"},[]]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodeGraph(body, 0)
		checkTop(t, body, p, err, DecodeGraph)
		if err != nil {
			return
		}
		checkRows(t, p.Rows)
	})
}

func FuzzDecodeLegacyPage(f *testing.F) {
	f.Add(readPage(f, "legacy_verbose.json"))
	f.Add(readPage(f, "legacy_light.json"))
	f.Add(readPage(f, "html_signin.html"))
	f.Add([]byte(`{"d":{"results":[{"MessageTraceId":"x","Received":"/Date(1)/"}]}}`))
	f.Add([]byte(`{"d":{"results":[{"MessageTraceId":"x","Received":"/Date(1)/"},{"MessageTraceId":"y","Received":"soon"},{"Size":"1"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodeLegacy(body, 0)
		checkTop(t, body, p, err, DecodeLegacy)
		if err != nil {
			return
		}
		checkRows(t, p.Rows)
	})
}

// checkTop holds the $top check to the unlimited decoding: a page of n rows is refused by name
// exactly when n exceeds the limit, and otherwise decodes the same.
func checkTop(t *testing.T, body []byte, p *Page, err error, decode func([]byte, int) (*Page, error)) {
	t.Helper()
	const top = 2
	limited, lerr := decode(body, top)
	switch {
	case err != nil:
		if lerr == nil {
			t.Fatalf("the limited decoder accepted what the unlimited one refused: %v", err)
		}
	case len(p.Rows) > top:
		if !errors.Is(lerr, ErrTooManyRows) {
			t.Fatalf("%d rows with $top=%d: %v", len(p.Rows), top, lerr)
		}
	case lerr != nil && !errors.Is(lerr, ErrTooManyRows):
		t.Fatalf("%d rows within $top=%d failed otherwise: %v", len(p.Rows), top, lerr)
	case lerr == nil && len(limited.Rows) != len(p.Rows):
		t.Fatalf("%d rows within $top=%d decoded as %d", len(p.Rows), top, len(limited.Rows))
	}
	// Refusing rows within $top is only right when a longer rows member came earlier (a
	// repeated member replaces the rows): the refusal never comes from the rows kept.
}

// checkRows holds decoded rows to what the receiver relies on: parsed rows have an id and a UTC
// time; unparsed ones a bounded reason and body (valid UTF-8), a synthetic id, and a time that
// is either their own or a parsed neighbour's (or zero when the page has no parsed row).
func checkRows(t *testing.T, rows []Row) {
	t.Helper()
	times := map[time.Time]bool{}
	for _, r := range rows {
		if !r.TimeUnknown {
			times[r.Received] = true
		}
	}
	for _, r := range rows {
		if r.ID == "" || r.Received.Location() != time.UTC {
			t.Fatalf("decoded an invalid row: %+v", r)
		}
		if r.ParseError == "" {
			if r.TimeUnknown || r.Raw != "" {
				t.Fatalf("parsed row with unparsed fields: %+v", r)
			}
			continue
		}
		if !strings.HasPrefix(r.ID, UnparsedIDPrefix) || len(r.ParseError) > 200 || len(r.Raw) > MaxRawRowBytes+32 || !utf8.ValidString(r.Raw) || r.Raw == "" {
			t.Fatalf("unbounded or malformed unparsed row: reason %d bytes, body %d bytes, id %q", len(r.ParseError), len(r.Raw), r.ID)
		}
		if r.TimeUnknown && !r.Received.IsZero() && !times[r.Received] {
			t.Fatalf("unparsed row placed at %v, which no parsed row has", r.Received)
		}
	}
}

// Issue 11, rows 3 and 4: one bad row (malformed time, no id, wrong types) no longer fails the
// page; it comes back raw and bounded, the good rows around it intact, and no error or reason
// quotes a huge value in full.
func TestBadRowsAreUnparsedNotFatal(t *testing.T) {
	huge := strings.Repeat("9", 5<<20)
	good := func(id, at string) string {
		return `{"id":"` + id + `","recipientAddress":"a@b","receivedDateTime":"` + at + `","status":"delivered"}`
	}
	graphBad := []struct{ name, row, reason string }{
		{"malformed time", `{"id":"x","recipientAddress":"a@b","receivedDateTime":"2026-13-45T99:00:00Z"}`, "receivedDateTime"},
		{"huge time", `{"id":"x","receivedDateTime":"` + huge + `"}`, "bytes)"},
		{"no id", `{"recipientAddress":"a@b","receivedDateTime":"2026-11-21T08:00:30Z"}`, "no id"},
		{"size a string", `{"id":"x","receivedDateTime":"2026-11-21T08:00:30Z","size":"12"}`, "size is not a number"},
		{"size a float", `{"id":"x","receivedDateTime":"2026-11-21T08:00:30Z","size":1.5}`, "size is not an integer"},
		{"subject an object", `{"id":"x","receivedDateTime":"2026-11-21T08:00:30Z","subject":{"a":1}}`, "subject is not a string"},
		{"row an array", `["x"]`, "not a JSON object"},
	}
	for _, tt := range graphBad {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"value":[` + good("a", "2026-11-21T08:01:00Z") + `,` + tt.row + `,` + good("b", "2026-11-21T08:00:00Z") + `]}`
			p, err := DecodeGraph([]byte(body), 0)
			require.NoError(t, err)
			require.Len(t, p.Rows, 3)
			assert.Equal(t, "a", p.Rows[0].ID)
			assert.Equal(t, "b", p.Rows[2].ID)
			bad := p.Rows[1]
			assert.Contains(t, bad.ParseError, tt.reason)
			assert.Less(t, len(bad.ParseError), 200, "the reason quotes at most a short prefix")
			assert.LessOrEqual(t, len(bad.Raw), MaxRawRowBytes+32)
			assert.True(t, strings.HasPrefix(tt.row, strings.SplitN(bad.Raw, "…", 2)[0]), "the body is the row's raw JSON")
			assert.Equal(t, UnparsedID([]byte(tt.row)), bad.ID)
			if bad.TimeUnknown {
				assert.Equal(t, p.Rows[0].Received, bad.Received, "a row without a readable time takes its neighbour's")
			} else {
				assert.Equal(t, time.Date(2026, 11, 21, 8, 0, 30, 0, time.UTC), bad.Received)
			}
		})
	}
	p, err := DecodeLegacy([]byte(`{"value":[{"MessageTraceId":"m","Received":"/Date(1772359262117)/"},{"MessageTraceId":"n","Received":"yesterday"},{"Received":"/Date(1772359262117)/"}]}`), 0)
	require.NoError(t, err)
	require.Len(t, p.Rows, 3)
	assert.Empty(t, p.Rows[0].ParseError)
	assert.Contains(t, p.Rows[1].ParseError, "Received")
	assert.Contains(t, p.Rows[2].ParseError, "no MessageTraceId")
}

// Issue 11, row 6: more rows than $top is refused by name, before the rows are built.
func TestMoreRowsThanTopAreRefused(t *testing.T) {
	row := `{"id":"a","receivedDateTime":"2026-11-21T08:00:00Z"}`
	body := []byte(`{"value":[` + row + `,` + row + `,` + row + `]}`)
	_, err := DecodeGraph(body, 2)
	require.ErrorIs(t, err, ErrTooManyRows)
	assert.ErrorContains(t, err, "more than the 2 rows asked for ($top)")
	_, err = DecodeLegacy([]byte(`{"value":[{},{},{}]}`), 2)
	require.ErrorIs(t, err, ErrTooManyRows)
	p, err := DecodeGraph(body, 3)
	require.NoError(t, err)
	assert.Len(t, p.Rows, 3)
}
