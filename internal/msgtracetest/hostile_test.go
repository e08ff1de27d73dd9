package msgtracetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestHostileAPIFaults(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f.s.AddRows(Generate(1, 20, t0.Add(-time.Hour), t0, GenerateOptions{})...)
	tok := f.graphToken(t)

	f.s.InjectFaults(Fault{Kind: FaultRedirect, Location: "http://127.0.0.1:1/x"})
	if res := f.get(t, f.graphURL("", 0), tok); res.status != http.StatusFound || res.header.Get("Location") != "http://127.0.0.1:1/x" {
		t.Fatalf("redirect: %d %v", res.status, res.header)
	}

	f.s.InjectFaults(Fault{Kind: FaultOversized, Size: 1 << 20})
	if res := f.get(t, f.graphURL("", 0), tok); len(res.body) != 1<<20 || !json.Valid(res.body) {
		t.Fatalf("oversized: %d bytes, valid %v", len(res.body), json.Valid(res.body))
	}

	f.s.InjectFaults(Fault{Kind: FaultExtraRows, Rows: 3})
	if p := decodeGraphPage(t, f.get(t, f.graphURL("", 5), tok).body); len(p.Value) != 8 {
		t.Fatalf("extra rows: %d rows for $top=5, want 8", len(p.Value))
	}

	f.s.InjectFaults(Fault{Kind: FaultBadRow})
	res := f.get(t, f.graphURL("", 5), tok)
	var raw struct{ Value []map[string]any }
	if err := json.Unmarshal(res.body, &raw); err != nil || raw.Value[0]["receivedDateTime"] != "not-a-date" || raw.Value[1]["receivedDateTime"] == "not-a-date" {
		t.Fatalf("bad row: %v %.300s", err, res.body)
	}

	f.s.InjectFaults(Fault{Kind: FaultThrottle, RawRetryAfter: "9000000000"})
	if res := f.get(t, f.graphURL("", 0), tok); res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "9000000000" {
		t.Fatalf("absurd Retry-After: %d %q", res.status, res.header.Get("Retry-After"))
	}
}

func TestCorruptRowStaysInTheTenant(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	rows := Generate(2, 3, t0.Add(-time.Hour), t0.Add(-time.Minute), GenerateOptions{MaxRecipients: 1})
	rows[1].Corrupt = map[string]string{"receivedDateTime": `"2026-13-45T99:99:99Z"`, "id": ""}
	f.s.AddRows(rows...)
	tok := f.graphToken(t)
	for range 2 {
		var raw struct{ Value []map[string]any }
		if err := json.Unmarshal(f.get(t, f.graphURL("", 0), tok).body, &raw); err != nil || len(raw.Value) != 3 {
			t.Fatalf("%v, %d rows", err, len(raw.Value))
		}
		bad := 0
		for _, r := range raw.Value {
			if r["receivedDateTime"] == "2026-13-45T99:99:99Z" {
				bad++
				if _, ok := r["id"]; ok {
					t.Fatal("the dropped member is still sent")
				}
			}
		}
		if bad != 1 {
			t.Fatalf("%d corrupt rows, want 1 on every read", bad)
		}
	}
}

func TestHostileTokenFaults(t *testing.T) {
	f := newFixture(t, Options{})
	f.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.s.Options().ClientID}, "client_secret": {testSecret}, "scope": {f.s.GraphScope()}}
	path := "/" + f.s.Options().TenantID + "/oauth2/v2.0/token"

	f.s.InjectFaults(Fault{Kind: FaultTokenRedirect, Location: "https://elsewhere.example/token"})
	if res := f.postForm(t, path, form, "", ""); res.status != http.StatusTemporaryRedirect || res.header.Get("Location") != "https://elsewhere.example/token" {
		t.Fatalf("token redirect: %d %v", res.status, res.header)
	}
	f.s.InjectFaults(Fault{Kind: FaultTokenEcho})
	res := f.postForm(t, path, form, "", "")
	var e struct {
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(res.body, &e); err != nil || res.status != 400 || !strings.Contains(e.Description, url.QueryEscape(testSecret)) {
		t.Fatalf("token echo: %d %v %s", res.status, err, res.body)
	}
}

func TestTrapRecordsCredentials(t *testing.T) {
	trap, err := NewTrap()
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	req, _ := http.NewRequest(http.MethodPost, trap.URL()+"/t", strings.NewReader("client_secret=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := trap.Requests()
	if trap.Connections() != 1 || len(reqs) != 1 || !reqs[0].HasCredential() {
		t.Fatalf("connections %d, requests %+v", trap.Connections(), reqs)
	}
}

// Issue 20: bodies without a length, and next-links that repeat their page.
func TestHostileBodiesWithoutLength(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(Generate(3, 5, t0.Add(-time.Hour), t0, GenerateOptions{})...)
	tok := f.graphToken(t)
	plain := f.get(t, f.graphURL("", 0), tok).body

	f.s.InjectFaults(Fault{Kind: FaultChunkedBody, Size: 1 << 20})
	res := f.get(t, f.graphURL("", 0), tok)
	if res.header.Get("Content-Length") != "" || len(res.body) != 1<<20+len(plain) || strings.TrimLeft(string(res.body), " ")[0] != '{' || !json.Valid(res.body) {
		t.Fatalf("chunked: Content-Length %q, %d bytes", res.header.Get("Content-Length"), len(res.body))
	}

	// The client decompresses transparently (it asked for gzip itself).
	f.s.InjectFaults(Fault{Kind: FaultGzipBody, Size: 1 << 20})
	res = f.get(t, f.graphURL("", 0), tok)
	if len(res.body) != 1<<20+len(plain) || !json.Valid(res.body) {
		t.Fatalf("gzip: %d bytes decompressed", len(res.body))
	}
	if wire := len(gzipSpaced(30<<20, plain)); wire > 40<<10 {
		t.Fatalf("30 MiB of spaces is %d bytes on the wire", wire)
	}
}

func TestRepeatingNextLinks(t *testing.T) {
	for _, mode := range []NextLinkRepeat{RepeatSameLink, RepeatFreshLink} {
		f := newFixture(t, Options{QuotaRequests: -1})
		f.s.AddRows(Generate(4, 30, t0.Add(-time.Hour), t0, GenerateOptions{MaxRecipients: 1})...)
		f.s.RepeatNextLinks(mode)
		tok := f.graphToken(t)
		first := decodeGraphPage(t, f.get(t, f.graphURL("", 10), tok).body)
		second := decodeGraphPage(t, f.get(t, first.NextLink, tok).body)
		third := decodeGraphPage(t, f.get(t, second.NextLink, tok).body)
		if first.Value[0].ID == second.Value[0].ID || second.Value[0].ID != third.Value[0].ID || len(third.Value) != 10 {
			t.Fatalf("mode %d: the next-link does not repeat its page", mode)
		}
		if same := second.NextLink == first.NextLink && third.NextLink == first.NextLink; same != (mode == RepeatSameLink) {
			t.Fatalf("mode %d: links %q %q %q", mode, first.NextLink, second.NextLink, third.NextLink)
		}
		// Off again: the link still names the same page, whose own next-link now leads on.
		f.s.RepeatNextLinks(RepeatNone)
		fourth := decodeGraphPage(t, f.get(t, third.NextLink, tok).body)
		if fifth := decodeGraphPage(t, f.get(t, fourth.NextLink, tok).body); fourth.Value[0].ID != third.Value[0].ID || fifth.Value[0].ID == third.Value[0].ID {
			t.Fatal("RepeatNone does not page on")
		}
	}
}
