package msgtracetest

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// legacyRow is the documented legacy row shape (both envelopes share the fields).
type legacyRow struct {
	Metadata *struct {
		ID   string `json:"id"`
		URI  string `json:"uri"`
		Type string `json:"type"`
	} `json:"__metadata"`
	Organization     string  `json:"Organization"`
	MessageID        *string `json:"MessageId"`
	Received         string  `json:"Received"`
	SenderAddress    string  `json:"SenderAddress"`
	RecipientAddress string  `json:"RecipientAddress"`
	Subject          string  `json:"Subject"`
	Status           string  `json:"Status"`
	ToIP             *string `json:"ToIP"`
	FromIP           *string `json:"FromIP"`
	Size             int     `json:"Size"`
	MessageTraceID   string  `json:"MessageTraceId"`
	StartDate        string  `json:"StartDate"`
	EndDate          string  `json:"EndDate"`
	Index            int     `json:"Index"`
}

type legacyPage struct {
	rows []legacyRow
	next string // as sent (absolute for verbose, relative for light)
	kind string
}

func decodeLegacy(t *testing.T, b []byte) legacyPage {
	t.Helper()
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		t.Fatalf("legacy body: %v (%s)", err, truncate(b))
	}
	strict := func(raw []byte, v any) {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("decode: %v (%s)", err, truncate(raw))
		}
	}
	if d, ok := probe["d"]; ok {
		var v struct {
			Results []legacyRow `json:"results"`
			Next    string      `json:"__next"`
		}
		strict(d, &v)
		return legacyPage{rows: v.Results, next: v.Next, kind: EnvelopeVerbose}
	}
	var v struct {
		Metadata string      `json:"odata.metadata"`
		Value    []legacyRow `json:"value"`
		Next     string      `json:"odata.nextLink"`
	}
	strict(b, &v)
	if v.Metadata == "" || v.Value == nil {
		t.Fatalf("light envelope without odata.metadata/value: %s", truncate(b))
	}
	return legacyPage{rows: v.Value, next: v.Next, kind: EnvelopeLight}
}

func parseLegacyReceived(t *testing.T, s string) time.Time {
	t.Helper()
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		ms, err := strconv.ParseInt(s[6:len(s)-2], 10, 64)
		if err != nil {
			t.Fatalf("bad /Date(): %q", s)
		}
		return time.UnixMilli(ms).UTC()
	}
	for _, l := range []string{"2006-01-02T15:04:05.9999999Z07:00", "2006-01-02T15:04:05.9999999"} {
		if v, err := time.Parse(l, s); err == nil {
			return v
		}
	}
	t.Fatalf("bad legacy date %q", s)
	return time.Time{}
}

func legacyFilter(from, to time.Time, layout string) string {
	return "StartDate eq datetime'" + from.UTC().Format(layout) + "' and EndDate eq datetime'" + to.UTC().Format(layout) + "'"
}

func TestLegacyEnvelopesAndPaging(t *testing.T) {
	from, to := t0.Add(-6*time.Hour), t0.Add(-time.Hour)
	rows := Generate(11, 900, from.Add(-time.Hour), to.Add(time.Hour), GenerateOptions{MinRecipients: 1, MaxRecipients: 4})
	for _, env := range []string{EnvelopeLight, EnvelopeVerbose, EnvelopeAlternate} {
		t.Run(env, func(t *testing.T) {
			f := newFixture(t, Options{QuotaRequests: -1, LegacyEnvelope: env, Organization: "fabrikam.onmicrosoft.com"})
			f.s.AddRows(rows...)
			want := f.s.VisibleRows(from, to)
			tok := f.legacyToken(t)
			next := f.s.LegacyURL() + "?$filter=" + url.PathEscape(legacyFilter(from, to, time.RFC3339)) + "&$top=500&$format=json"
			var got []legacyRow
			kinds := map[string]int{}
			for next != "" {
				res := f.get(t, next, tok)
				if res.status != 200 {
					t.Fatalf("GET %s: %d %s", next, res.status, truncate(res.body))
				}
				p := decodeLegacy(t, res.body)
				kinds[p.kind]++
				if env != EnvelopeAlternate && p.kind != env {
					t.Fatalf("envelope %s; want %s", p.kind, env)
				}
				got = append(got, p.rows...)
				if p.next == "" {
					break
				}
				switch p.kind {
				case EnvelopeVerbose:
					if !strings.HasPrefix(p.next, f.s.URL()+"/ecp/") {
						t.Fatalf("__next %q is not absolute", p.next)
					}
					next = p.next
				default:
					if !strings.HasPrefix(p.next, "../../reportingwebservice/reporting.svc/MessageTrace?") {
						t.Fatalf("odata.nextLink %q is not the relative form", p.next)
					}
					base, _ := url.Parse(next)
					ref, err := url.Parse(p.next)
					if err != nil {
						t.Fatal(err)
					}
					next = base.ResolveReference(ref).String()
				}
			}
			if env == EnvelopeAlternate && (kinds[EnvelopeLight] == 0 || kinds[EnvelopeVerbose] == 0) {
				t.Fatalf("alternate served %v", kinds)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d rows; want %d", len(got), len(want))
			}
			var prev time.Time
			for i, r := range got {
				if r.Index != i {
					t.Fatalf("row %d has Index %d", i, r.Index)
				}
				recv := parseLegacyReceived(t, r.Received)
				if recv.Before(prev) {
					t.Fatalf("row %d not ascending: %s < %s", i, recv, prev)
				}
				prev = recv
				w := want[len(want)-1-i] // truth is newest-first; legacy is ascending
				if r.MessageTraceID != w.ID || r.RecipientAddress != w.Recipient || r.Subject != w.Subject || r.Size != w.Size || r.Organization != "fabrikam.onmicrosoft.com" {
					t.Fatalf("row %d = %+v; want %+v", i, r, w)
				}
				if !recv.Equal(w.Received) {
					t.Fatalf("row %d Received %s (%q); want %s", i, recv, r.Received, w.Received)
				}
				if (w.ToIP == "") != (r.ToIP == nil) || (w.MessageID == "") != (r.MessageID == nil) {
					t.Fatalf("row %d: empty values must be null: %+v", i, r)
				}
				if wantStatus := strings.ToUpper(w.Status[:1]) + w.Status[1:]; r.Status != wantStatus {
					t.Fatalf("row %d Status %q; want %q", i, r.Status, wantStatus)
				}
				if r.Metadata != nil {
					if r.Metadata.Type != "TenantReporting.MessageTrace" || !strings.HasSuffix(r.Metadata.URI, "/MessageTrace("+itoa(i)+")") {
						t.Fatalf("__metadata = %+v", *r.Metadata)
					}
					if !strings.HasPrefix(r.Received, "/Date(") || r.StartDate != "/Date("+strconv.FormatInt(from.UnixMilli(), 10)+")/" {
						t.Fatalf("verbose dates: %q %q", r.Received, r.StartDate)
					}
				} else {
					if r.StartDate != from.Format(time.RFC3339) || r.EndDate != to.Format(time.RFC3339) {
						t.Fatalf("light StartDate/EndDate = %q %q", r.StartDate, r.EndDate)
					}
					hasZ := strings.HasSuffix(r.Received, "Z")
					if len(strings.TrimSuffix(r.Received, "Z")) != len("2006-01-02T15:04:05.0000000") || hasZ != (i%10 == 9) {
						t.Fatalf("light Received %q at index %d", r.Received, i)
					}
				}
			}
		})
	}
}

func TestLegacyVerboseEscaping(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1, LegacyEnvelope: EnvelopeVerbose})
	f.s.AddRows(Row{ID: "x", Recipient: "dan.o'connor@contoso.com", Subject: "Überweisung für Jürgen – 請求書 ✓ 📧 a/b", Received: t0.Add(-time.Hour), Status: StatusFilteredAsSpam})
	res := f.get(t, f.s.LegacyURL(), f.legacyToken(t), "Accept", "application/json")
	body := string(res.body)
	if !strings.Contains(body, `\u00dcberweisung`) || !strings.Contains(body, `\ud83d\udce7`) || !strings.Contains(body, `a\/b`) || !strings.Contains(body, `"\/Date(`) {
		t.Fatalf("verbose body not WCF-escaped: %s", body)
	}
	p := decodeLegacy(t, res.body)
	if p.rows[0].Subject != "Überweisung für Jürgen – 請求書 ✓ 📧 a/b" || p.rows[0].Status != "FilteredAsSpam" || p.rows[0].ToIP != nil {
		t.Fatalf("row = %+v", p.rows[0])
	}
}

func TestLegacyQueryValidation(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(row("a", "a@contoso.com", t0.Add(-time.Hour)), row("b", "b@contoso.com", t0.Add(-2*time.Hour)))
	tok := f.legacyToken(t)
	day := 24 * time.Hour
	tests := []struct {
		name     string
		query    string
		want     int
		wantRows int
		wantMsg  string
	}{
		{name: "datetime with Z", query: "$filter=" + url.PathEscape(legacyFilter(t0.Add(-3*time.Hour), t0, time.RFC3339)), want: 200, wantRows: 2},
		{name: "DateTime without Z", query: "$filter=" + url.PathEscape("StartDate eq DateTime'"+t0.Add(-90*time.Minute).Format("2006-01-02T15:04:05")+"' and EndDate eq DateTime'"+t0.Format("2006-01-02T15:04:05")+"'"), want: 200, wantRows: 1},
		{name: "recipient filter", query: "$filter=" + url.PathEscape(legacyFilter(t0.Add(-3*time.Hour), t0, time.RFC3339)+" and RecipientAddress eq 'B@contoso.com'"), want: 200, wantRows: 1},
		{name: "status filter", query: "$filter=" + url.PathEscape(legacyFilter(t0.Add(-3*time.Hour), t0, time.RFC3339)+" and Status eq 'Delivered'"), want: 200, wantRows: 2},
		{name: "no filter is last 48h", query: "", want: 200, wantRows: 2},
		{name: "start exactly 10 days ago", query: "$filter=" + url.PathEscape(legacyFilter(t0.Add(-10*day), t0, time.RFC3339)), want: 200, wantRows: 2},
		{name: "start older than 10 days", query: "$filter=" + url.PathEscape(legacyFilter(t0.Add(-10*day-time.Second), t0, time.RFC3339)), want: 400},
		{name: "only StartDate", query: "$filter=" + url.PathEscape("StartDate eq datetime'2026-11-21T00:00:00Z'"), want: 400},
		{name: "unknown property", query: "$filter=" + url.PathEscape("Foo eq 'x'"), want: 400},
		{name: "malformed top", query: "$top=1000]", want: 400, wantMsg: "Incorrect format for $top argument '1000]'."},
		{name: "top 2000", query: "$top=2000", want: 200, wantRows: 2},
		{name: "top 2001", query: "$top=2001", want: 400},
		{name: "skiptoken 0 skips the first row", query: "$skiptoken=0", want: 200, wantRows: 1},
		{name: "skiptoken beyond the end", query: "$skiptoken=5", want: 200, wantRows: 0},
		{name: "skiptoken not a number", query: "$skiptoken=abc", want: 400},
		{name: "skiptoken ceiling", query: "$skiptoken=999999", want: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := f.s.LegacyURL() + "?$format=json"
			if tt.query != "" {
				u += "&" + tt.query
			}
			res := f.get(t, u, tok)
			if res.status != tt.want {
				t.Fatalf("status = %d; want %d (%s)", res.status, tt.want, res.body)
			}
			if tt.want == 200 {
				if p := decodeLegacy(t, res.body); len(p.rows) != tt.wantRows {
					t.Fatalf("rows = %d; want %d", len(p.rows), tt.wantRows)
				}
				return
			}
			var e struct {
				OData struct {
					Code    string `json:"code"`
					Message struct {
						Lang  string `json:"lang"`
						Value string `json:"value"`
					} `json:"message"`
				} `json:"odata.error"`
			}
			if err := json.Unmarshal(res.body, &e); err != nil || e.OData.Message.Value == "" {
				t.Fatalf("not an odata.error: %s", res.body)
			}
			if tt.want == 500 && (e.OData.Code != "UnknownError" || e.OData.Message.Value != "An error has occurred on the server.") {
				t.Fatalf("500 body = %s", res.body)
			}
			if tt.wantMsg != "" && e.OData.Message.Value != tt.wantMsg {
				t.Fatalf("message = %q; want %q", e.OData.Message.Value, tt.wantMsg)
			}
		})
	}
}

func TestLegacyAtomWithoutJSON(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(row("a", "a@contoso.com", t0.Add(-time.Hour)))
	res := f.get(t, f.s.LegacyURL(), f.legacyToken(t))
	if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "application/atom+xml") ||
		!strings.Contains(string(res.body), `<feed xml:base=`) || !strings.Contains(string(res.body), `<d:ToIP m:null="true" />`) {
		t.Fatalf("%d %s %s", res.status, res.header.Get("Content-Type"), res.body)
	}
}

func TestLegacyPoisonedNextLink(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1, LegacyEnvelope: EnvelopeVerbose})
	f.s.AddRows(Generate(5, 20, t0.Add(-time.Hour), t0, GenerateOptions{})...)
	tok := f.legacyToken(t)
	f.s.InjectFaults(Fault{Kind: FaultPoisonNextLink})
	p := decodeLegacy(t, f.get(t, f.s.LegacyURL()+"?$format=json&$top=5", tok).body)
	if p.next == "" {
		t.Fatal("no __next")
	}
	for range 2 {
		if res := f.get(t, p.next, tok); res.status != 400 || !strings.Contains(string(res.body), "Invalid starting recipient address") {
			t.Fatalf("poisoned __next: %d %s", res.status, res.body)
		}
	}
}
