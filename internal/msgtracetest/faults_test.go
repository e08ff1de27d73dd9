package msgtracetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestGraphFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, f *fixture, res httpResult, tok string)
	}{
		{name: "server error", fault: Fault{Kind: FaultServerError}, check: func(t *testing.T, _ *fixture, res httpResult, _ string) {
			if res.status != 503 || decodeGraphError(t, res.body).Error.Code != "ServiceUnavailable" {
				t.Fatalf("%d %s", res.status, res.body)
			}
		}},
		{name: "HTML sign-in page with 200", fault: Fault{Kind: FaultHTMLSignIn}, check: func(t *testing.T, _ *fixture, res httpResult, _ string) {
			if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") ||
				!strings.Contains(string(res.body), "<title>Sign in to Outlook</title>") || json.Valid(res.body) {
				t.Fatalf("%d %s %s", res.status, res.header.Get("Content-Type"), res.body)
			}
		}},
		{name: "truncated JSON", fault: Fault{Kind: FaultTruncatedJSON}, check: func(t *testing.T, _ *fixture, res httpResult, _ string) {
			if res.status != 200 || json.Valid(res.body) || !strings.HasPrefix(string(res.body), `{"@odata.context"`) {
				t.Fatalf("%d valid=%v %s", res.status, json.Valid(res.body), res.body)
			}
		}},
		{name: "slow", fault: Fault{Kind: FaultSlow, Delay: 150 * time.Millisecond}, check: func(t *testing.T, _ *fixture, res httpResult, _ string) {
			if res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
		}},
		{name: "unauthorized revokes the token", fault: Fault{Kind: FaultUnauthorized}, check: func(t *testing.T, f *fixture, res httpResult, tok string) {
			if res.status != 401 || decodeGraphError(t, res.body).Error.Code != "InvalidAuthenticationToken" {
				t.Fatalf("%d %s", res.status, res.body)
			}
			if again := f.get(t, f.graphURL("", 0), tok); again.status != 401 {
				t.Fatalf("revoked token still works: %d", again.status)
			}
			if fresh := f.get(t, f.graphURL("", 0), f.graphToken(t)); fresh.status != 200 {
				t.Fatalf("fresh token: %d", fresh.status)
			}
		}},
		{name: "service principal missing", fault: Fault{Kind: FaultServicePrincipalMissing}, check: func(t *testing.T, f *fixture, res httpResult, tok string) {
			if res.status != 401 || string(res.body) != spMissingBody ||
				!strings.Contains(string(res.body), "the service principal for App ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found") {
				t.Fatalf("%d %s", res.status, res.body)
			}
			if again := f.get(t, f.graphURL("", 0), tok); again.status != 200 {
				t.Fatalf("one fault, one answer: next status %d", again.status)
			}
		}},
		{name: "forbidden", fault: Fault{Kind: FaultForbidden}, check: func(t *testing.T, _ *fixture, res httpResult, _ string) {
			e := decodeGraphError(t, res.body)
			if res.status != 403 || e.Error.Code != "Forbidden" || !strings.Contains(e.Error.Message, "ExchangeMessageTrace.Read.All") {
				t.Fatalf("%d %s", res.status, res.body)
			}
		}},
		{name: "throttle", fault: Fault{Kind: FaultThrottle, RetryAfter: 3 * time.Second}, check: func(t *testing.T, f *fixture, res httpResult, tok string) {
			if res.status != 429 || res.header.Get("Retry-After") != "3" || decodeGraphError(t, res.body).Error.Code != "TooManyRequests" {
				t.Fatalf("%d %q %s", res.status, res.header.Get("Retry-After"), res.body)
			}
			if f.s.QuotaViolations() != 0 {
				t.Fatal("a throttle fault is not itself a violation")
			}
			f.clock.Advance(2 * time.Second)
			if early := f.get(t, f.graphURL("", 0), tok); early.status != 429 || f.s.QuotaViolations() != 1 {
				t.Fatalf("request before Retry-After: %d, violations %d", early.status, f.s.QuotaViolations())
			}
			f.clock.Advance(time.Second)
			if ok := f.get(t, f.graphURL("", 0), tok); ok.status != 200 || f.s.QuotaViolations() != 1 {
				t.Fatalf("request after Retry-After: %d, violations %d", ok.status, f.s.QuotaViolations())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.s.AddRows(Generate(1, 20, t0.Add(-time.Hour), t0, GenerateOptions{})...)
			tok := f.graphToken(t)
			f.s.InjectFaults(tt.fault)
			start := time.Now()
			res := f.get(t, f.graphURL("", 0), tok)
			if tt.fault.Kind == FaultSlow && time.Since(start) < tt.fault.Delay {
				t.Fatalf("slow fault answered after %v; want >= %v", time.Since(start), tt.fault.Delay)
			}
			tt.check(t, f, res, tok)
			reqs := f.s.Requests()
			var faulted int
			for _, r := range reqs {
				if r.Fault != "" {
					faulted++
					if r.Fault != string(tt.fault.Kind) {
						t.Errorf("recorded fault %q; want %q", r.Fault, tt.fault.Kind)
					}
				}
			}
			if faulted != 1 || f.s.PendingFaults() != 0 {
				t.Errorf("faulted requests = %d, pending = %d; want 1, 0", faulted, f.s.PendingFaults())
			}
		})
	}
}

func TestPoisonedNextLink(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(Generate(2, 50, t0.Add(-time.Hour), t0, GenerateOptions{})...)
	tok := f.graphToken(t)
	u := f.graphURL(rangeFilter(t0.Add(-time.Hour), t0), 10)
	f.s.InjectFaults(Fault{Kind: FaultPoisonNextLink})
	res := f.get(t, u, tok)
	p := decodeGraphPage(t, res.body)
	if res.status != 200 || len(p.Value) != 10 || p.NextLink == "" {
		t.Fatalf("poisoning response itself must be normal: %d, %d rows", res.status, len(p.Value))
	}
	for range 3 { // forever
		bad := f.get(t, p.NextLink, tok)
		e := decodeGraphError(t, bad.body)
		if bad.status != 400 || e.Error.Code != "BadRequest" || e.Error.Message != "|System.ArgumentException|Invalid starting recipient address" {
			t.Fatalf("poisoned nextLink: %d %s", bad.status, bad.body)
		}
	}
	// A fresh query hands out a healthy nextLink for the same position.
	p2 := decodeGraphPage(t, f.get(t, u, tok).body)
	if p2.NextLink == p.NextLink {
		t.Fatal("a fresh query got the poisoned token")
	}
	if rest, _ := f.collectGraph(t, p2.NextLink, tok); len(rest) == 0 {
		t.Fatal("healthy nextLink returned nothing")
	}
}

func TestTokenFault(t *testing.T) {
	f := newFixture(t, Options{})
	f.s.InjectFaults(Fault{Kind: FaultTokenError}, Fault{Kind: FaultTokenError, AADSTS: "AADSTS700016"}, Fault{Kind: FaultServerError})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.s.Options().ClientID}, "client_secret": {testSecret}, "scope": {f.s.GraphScope()}}
	path := "/" + f.s.Options().TenantID + "/oauth2/v2.0/token"
	checkAADError(t, f.postForm(t, path, form, "", ""), 401, "invalid_client", 7000215)
	checkAADError(t, f.postForm(t, path, form, "", ""), 400, "unauthorized_client", 700016)
	tok := f.graphToken(t) // the API fault is not consumed by token requests
	if res := f.get(t, f.graphURL("", 0), tok); res.status != 503 {
		t.Fatalf("API fault: status %d", res.status)
	}
}

func TestLegacyFaults(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	tok := f.legacyToken(t)
	u := f.s.LegacyURL() + "?$format=json"
	f.s.InjectFaults(Fault{Kind: FaultForbidden}, Fault{Kind: FaultUnauthorized}, Fault{Kind: FaultServerError})
	if res := f.get(t, u, tok); res.status != 403 || string(res.body) != `{"ErrorCode":"","Message":"No permission to access the report for the organization ."}` {
		t.Fatalf("forbidden: %d %s", res.status, res.body)
	}
	if res := f.get(t, u, tok); res.status != 401 || !strings.Contains(string(res.body), "<title>401 - Unauthorized") {
		t.Fatalf("unauthorized: %d %s", res.status, res.body)
	}
	if res := f.get(t, u, f.legacyToken(t)); res.status != 503 {
		t.Fatalf("server error: %d %s", res.status, res.body)
	}
}

func TestFaultMixIsDeterministic(t *testing.T) {
	run := func() []string {
		f := newFixture(t, Options{QuotaRequests: -1})
		f.s.SetFaultMix(map[FaultKind]float64{
			FaultServerError: 0.2, FaultHTMLSignIn: 0.1, FaultTruncatedJSON: 0.1, FaultTokenError: 0.5,
		}, 42)
		var out []string
		for range 6 {
			res := f.postForm(t, "/"+f.s.Options().TenantID+"/oauth2/v2.0/token", url.Values{
				"grant_type": {"client_credentials"}, "client_id": {f.s.Options().ClientID}, "client_secret": {testSecret}, "scope": {f.s.GraphScope()},
			}, "", "")
			out = append(out, "token:"+itoa(res.status))
		}
		f.s.SetFaultMix(map[FaultKind]float64{FaultServerError: 0.2, FaultHTMLSignIn: 0.1, FaultTruncatedJSON: 0.1}, 42)
		tok := f.graphToken(t)
		for range 40 {
			res := f.get(t, f.graphURL("", 0), tok)
			out = append(out, itoa(res.status)+":"+itoa(len(res.body)%7))
		}
		for _, r := range f.s.Requests() {
			out = append(out, r.Fault)
		}
		return out
	}
	a, b := run(), run()
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	var faults int
	for _, s := range a {
		if s == string(FaultServerError) || s == string(FaultHTMLSignIn) || s == string(FaultTruncatedJSON) || s == string(FaultTokenError) {
			faults++
		}
	}
	if faults < 5 || faults > 35 {
		t.Fatalf("%d faults in 46 requests; mix looks wrong: %v", faults, a)
	}
}

func TestCloseWakesSlowRequests(t *testing.T) {
	clock := NewClock(t0)
	s, err := NewServer(Options{Now: clock.Now, ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: s, clock: clock, c: s.Client()}
	tok := f.graphToken(t)
	s.InjectFaults(Fault{Kind: FaultSlow, Delay: time.Hour})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, f.graphURL("", 0), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := f.c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.APIRequestCount() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s.Close()
	s.Close() // idempotent
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	<-done
}

func TestLatency(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1, Latency: 40 * time.Millisecond, LatencyPer1000Rows: 100 * time.Millisecond})
	f.s.AddRows(Generate(1, 500, t0.Add(-time.Hour), t0, GenerateOptions{MinRecipients: 2, MaxRecipients: 2})...)
	tok := f.graphToken(t)
	start := time.Now()
	res := f.get(t, f.graphURL("", 1000), tok)
	if d := time.Since(start); res.status != 200 || d < 140*time.Millisecond {
		t.Fatalf("status %d after %v; want >= 140ms (40ms + 1000 rows x 0.1ms)", res.status, d)
	}
	if rs := f.s.Requests(); rs[len(rs)-1].Rows != 1000 || rs[len(rs)-1].Kind != KindGraph {
		t.Fatalf("recorded %+v", rs[len(rs)-1])
	}
}
