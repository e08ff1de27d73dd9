package msgtracetest

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestFederatedAssertions(t *testing.T) {
	issuer, err := NewFederatedIssuer("https://issuer.example/cluster/")
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := NewFederatedIssuer("https://issuer.example/cluster/") // same URL, other key
	if err != nil {
		t.Fatal(err)
	}
	const sub = "system:serviceaccount:observability:otelcol"
	f := newFixture(t, Options{FederatedCredentials: []FederatedCredential{issuer.Credential(sub)}})
	path := "/" + f.s.Options().TenantID + "/oauth2/v2.0/token"
	login := func(assertion string) httpResult {
		return f.postForm(t, path, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {f.s.Options().ClientID}, "scope": {f.s.GraphScope()},
			"client_assertion_type": {JWTBearerAssertionType}, "client_assertion": {assertion},
		}, "", "")
	}
	valid, jti := issuer.Token(sub, "", t0, t0.Add(time.Hour))
	tests := []struct {
		name      string
		assertion string
		status    int
		code      int
	}{
		{"trusted", valid, http.StatusOK, 0},
		{"reused until it expires", valid, http.StatusOK, 0},
		{"other issuer", func() string {
			other, _ := NewFederatedIssuer("https://other.example/")
			tok, _ := other.Token(sub, "", t0, t0.Add(time.Hour))
			return tok
		}(), http.StatusBadRequest, 700211},
		{"other subject", first(issuer.Token("system:serviceaccount:default:default", "", t0, t0.Add(time.Hour))), http.StatusBadRequest, 700213},
		{"other audience", first(issuer.Token(sub, "api://other", t0, t0.Add(time.Hour))), http.StatusBadRequest, 700212},
		{"expired", first(issuer.Token(sub, "", t0.Add(-2*time.Hour), t0.Add(-time.Second))), http.StatusUnauthorized, 700024},
		{"not yet valid", first(issuer.Token(sub, "", t0.Add(time.Hour), t0.Add(2*time.Hour))), http.StatusUnauthorized, 700024},
		{"signed by another key", first(impostor.Token(sub, "", t0, t0.Add(time.Hour))), http.StatusUnauthorized, 50013},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := login(tt.assertion)
			if tt.code == 0 {
				if res.status != tt.status {
					t.Fatalf("status %d, body %s", res.status, res.body)
				}
				return
			}
			want := knownAADSTS[tt.code]
			checkAADError(t, res, tt.status, want.err, tt.code)
		})
	}
	var federated []string
	for _, rq := range f.s.Requests() {
		if rq.Kind == KindToken && rq.Status == http.StatusOK {
			federated = append(federated, rq.Federated)
		}
	}
	if len(federated) != 2 || federated[0] != jti || federated[1] != jti {
		t.Fatalf("recorded federated logins %v, want two with jti %s", federated, jti)
	}

	none := newFixture(t, Options{})
	res := none.postForm(t, "/"+none.s.Options().TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {none.s.Options().ClientID}, "scope": {none.s.GraphScope()},
		"client_assertion_type": {JWTBearerAssertionType}, "client_assertion": {valid},
	}, "", "")
	checkAADError(t, res, http.StatusBadRequest, "invalid_request", 70021)
}

func first(s, _ string) string { return s }
