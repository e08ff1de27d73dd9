package msgtracetest

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Three tenants behind one address: each logs in with its own id and secret, sees only its own
// rows, and has a quota of its own.
func TestMultiServerKeepsTenantsApart(t *testing.T) {
	clock := NewClock(t0)
	var opts []Options
	for i := range 3 {
		opts = append(opts, Options{
			TenantID:      fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			ClientID:      fmt.Sprintf("10000000-0000-4000-8000-%012d", i+1),
			ClientSecret:  fmt.Sprintf("secret-%d", i),
			QuotaRequests: 2,
			QuotaWindow:   time.Minute,
			Now:           clock.Now,
		})
	}
	ms := NewMulti(t, opts...)
	if ms.Len() != 3 {
		t.Fatalf("Len() = %d", ms.Len())
	}
	c := ms.Client()
	var fx []*fixture
	for i := range 3 {
		ms.Tenant(i).AddRows(Generate(int64(i), 5*(i+1), t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), GenerateOptions{MinRecipients: 1, MaxRecipients: 1})...)
		fx = append(fx, &fixture{s: ms.Tenant(i), clock: clock, c: c})
		if ms.Tenant(i).URL() != ms.URL() {
			t.Fatalf("tenant %d URL %s, want the shared %s", i, ms.Tenant(i).URL(), ms.URL())
		}
	}
	filter := rangeFilter(t0.Add(-4*time.Hour), t0.Add(-time.Hour))
	for i, f := range fx {
		tok := f.graphToken(t)
		rows, _ := f.collectGraph(t, f.graphURL(filter, 0), tok)
		if want := 5 * (i + 1); len(rows) != want {
			t.Fatalf("tenant %d sees %d rows, want its own %d", i, len(rows), want)
		}
	}
	// Tenant 0 spends its quota (2 requests: the query above and one more); the others are untouched.
	tok0 := fx[0].graphToken(t)
	if res := fx[0].get(t, fx[0].graphURL(filter, 0), tok0); res.status != http.StatusOK {
		t.Fatalf("tenant 0 second request: %d", res.status)
	}
	if res := fx[0].get(t, fx[0].graphURL(filter, 0), tok0); res.status != http.StatusTooManyRequests {
		t.Fatalf("tenant 0 third request: %d, want 429", res.status)
	}
	tok1 := fx[1].graphToken(t)
	if res := fx[1].get(t, fx[1].graphURL(filter, 0), tok1); res.status != http.StatusOK {
		t.Fatalf("tenant 1 after tenant 0's 429: %d, quotas must be per tenant", res.status)
	}
	if got := ms.QuotaViolations(); got != 1 {
		t.Fatalf("QuotaViolations() = %d, want 1", got)
	}
	for i := range 3 {
		var api int
		for _, r := range ms.Tenant(i).Requests() {
			if r.Kind == KindGraph {
				api++
			}
		}
		if want := []int{3, 2, 1}[i]; api != want {
			t.Errorf("tenant %d recorded %d API requests, want %d", i, api, want)
		}
	}
	// Another tenant's secret is refused; an unknown tenant is refused.
	res := fx[1].postForm(t, "/"+opts[1].TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {opts[1].ClientID}, "client_secret": {opts[0].ClientSecret}, "scope": {ms.URL() + "/.default"},
	}, "", "")
	if res.status != http.StatusUnauthorized && res.status != http.StatusBadRequest {
		t.Fatalf("tenant 1 with tenant 0's secret: %d %s", res.status, res.body)
	}
	res = fx[0].postForm(t, "/00000000-0000-4000-8000-999999999999/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {opts[0].ClientID}, "client_secret": {opts[0].ClientSecret}, "scope": {ms.URL() + "/.default"},
	}, "", "")
	if res.status != http.StatusBadRequest {
		t.Fatalf("unknown tenant: %d %s", res.status, res.body)
	}
	// A token no tenant issued reads nothing.
	if res := fx[2].get(t, fx[2].graphURL(filter, 0), "not-a-token"); res.status != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", res.status)
	}
}

func TestMultiServerRefusesRepeatedTenants(t *testing.T) {
	if _, err := NewMultiServer("", Options{}, Options{}); err == nil {
		t.Fatal("two tenants with the default id were accepted")
	}
}
