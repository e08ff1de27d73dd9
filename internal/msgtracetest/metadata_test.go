package msgtracetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestMetadataServer(t *testing.T) {
	f := newFixture(t, Options{})
	md, err := NewMetadataServer(f.s, MetadataOptions{SystemAssigned: true, UserAssigned: []ManagedIdentity{{ClientID: "c1", ResourceID: "/subscriptions/s/id1"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(md.Close)
	ask := func(q url.Values, metadataHeader bool) (int, map[string]string, error) {
		req, _ := http.NewRequest(http.MethodGet, md.TokenURL()+"?"+q.Encode(), nil)
		if metadataHeader {
			req.Header.Set("Metadata", "true")
		}
		resp, err := f.c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body, nil
	}
	q := func(kv ...string) url.Values {
		v := url.Values{"api-version": {"2018-02-01"}, "resource": {f.s.URL()}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tt := range []struct {
		name   string
		q      url.Values
		header bool
		status int
		desc   string
	}{
		{"system-assigned", q(), true, 200, ""},
		{"by client id", q("client_id", "c1"), true, 200, ""},
		{"by resource id", q("msi_res_id", "/subscriptions/s/id1"), true, 200, ""},
		{"legacy resource", q("resource", LegacyResource), true, 200, ""},
		{"unknown identity", q("client_id", "c2"), true, 400, "Identity not found"},
		{"no Metadata header", q(), false, 400, "Required metadata header not specified"},
		{"unknown resource", q("resource", "https://management.azure.com"), true, 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := ask(tt.q, tt.header)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || (tt.desc != "" && body["error_description"] != tt.desc) {
				t.Fatalf("status %d body %v, want %d %q", status, body, tt.status, tt.desc)
			}
			if status == 200 {
				if body["expires_in"] != "3599" || body["token_type"] != "Bearer" || body["resource"] != tt.q.Get("resource") {
					t.Fatalf("token answer %v", body)
				}
				// The tenant's API takes the token.
				if tt.q.Get("resource") == f.s.URL() {
					res := f.get(t, f.graphURL(rangeFilter(t0.Add(-time.Hour), t0), 10), body["access_token"])
					if res.status != 200 {
						t.Fatalf("the API refused the managed identity token: %d %s", res.status, res.body)
					}
				}
			}
		})
	}

	// Faults last until cleared; unreachable means refused connections, then the same port.
	if err := md.SetFault(MetadataServerError, 0); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := ask(q(), true); status != 500 {
		t.Fatalf("server error fault: %d", status)
	}
	if err := md.SetFault(MetadataIdentityNotFound, 0); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := ask(q(), true); status != 400 || body["error_description"] != "Identity not found" {
		t.Fatalf("identity fault: %d %v", status, body)
	}
	if err := md.SetFault(MetadataUnreachable, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ask(q(), true); err == nil {
		t.Fatal("unreachable metadata service answered")
	}
	if err := md.SetFault(MetadataSlow, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if status, _, err := ask(q(), true); err != nil || status != 200 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("slow fault: %d %v after %v", status, err, time.Since(start))
	}
	if err := md.SetFault("", 0); err != nil {
		t.Fatal(err)
	}
	if status, _, err := ask(q(), true); err != nil || status != 200 {
		t.Fatalf("after the faults: %d %v", status, err)
	}
	reqs := md.Requests()
	if reqs[1].Identity != "c1" || reqs[0].Identity != "system" {
		t.Fatalf("requests %+v", reqs[:2])
	}
}
