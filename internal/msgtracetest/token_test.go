package msgtracetest

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

type aadErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

func checkAADError(t *testing.T, res httpResult, wantStatus int, wantErr string, wantCode int) {
	t.Helper()
	if res.status != wantStatus {
		t.Fatalf("status = %d; want %d (body %s)", res.status, wantStatus, res.body)
	}
	var e aadErrorBody
	dec := json.NewDecoder(strings.NewReader(string(res.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("decode AAD error: %v (%s)", err, res.body)
	}
	prefix := "AADSTS" + itoa(wantCode) + ": "
	if e.Error != wantErr || len(e.ErrorCodes) != 1 || e.ErrorCodes[0] != wantCode ||
		!strings.HasPrefix(e.ErrorDescription, prefix) || !strings.Contains(e.ErrorDescription, "\r\nTrace ID: ") ||
		!strings.Contains(e.ErrorDescription, "\r\nCorrelation ID: ") || e.TraceID == "" || e.CorrelationID == "" ||
		e.Timestamp == "" || !strings.HasSuffix(e.ErrorURI, "/error?code="+itoa(wantCode)) {
		t.Fatalf("AAD error = %+v; want error %q code %d", e, wantErr, wantCode)
	}
}

func TestTokenSecretFlows(t *testing.T) {
	f := newFixture(t, Options{})
	tenant, client := f.s.Options().TenantID, f.s.Options().ClientID
	v2 := "/" + tenant + "/oauth2/v2.0/token"
	base := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {testSecret}, "scope": {f.s.GraphScope()}}
	}
	with := func(k, v string) url.Values {
		f := base()
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	tests := []struct {
		name       string
		path       string
		form       url.Values
		basicUser  string
		basicPass  string
		wantStatus int
		wantErr    string
		wantCode   int
	}{
		{name: "secret in form", path: v2, form: base(), wantStatus: 200},
		{name: "legacy scope", path: v2, form: with("scope", LegacyScope), wantStatus: 200},
		{name: "tenant by organization name", path: "/" + DefaultOrganization + "/oauth2/v2.0/token", form: base(), wantStatus: 200},
		{name: "client id upper case", path: v2, form: with("client_id", strings.ToUpper(client)), wantStatus: 200},
		{name: "basic auth with form-encoded special characters", path: v2, form: with("client_secret", ""), basicUser: client, basicPass: testSecret, wantStatus: 200},
		{name: "basic auth without client_id in form", path: v2, form: func() url.Values { v := with("client_secret", ""); v.Del("client_id"); return v }(), basicUser: client, basicPass: testSecret, wantStatus: 200},
		{name: "bad secret", path: v2, form: with("client_secret", "nope"), wantStatus: 401, wantErr: "invalid_client", wantCode: 7000215},
		{name: "bad basic secret", path: v2, form: with("client_secret", ""), basicUser: client, basicPass: "nope", wantStatus: 401, wantErr: "invalid_client", wantCode: 7000215},
		{name: "wrong tenant", path: "/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token", form: base(), wantStatus: 400, wantErr: "invalid_request", wantCode: 90002},
		{name: "wrong client id", path: v2, form: with("client_id", "22222222-2222-2222-2222-222222222222"), wantStatus: 400, wantErr: "unauthorized_client", wantCode: 700016},
		{name: "graph.microsoft.com scope is not this server", path: v2, form: with("scope", "https://graph.microsoft.com/.default"), wantStatus: 400, wantErr: "invalid_scope", wantCode: 70011},
		{name: "scope without .default", path: v2, form: with("scope", f.s.URL()), wantStatus: 400, wantErr: "invalid_scope", wantCode: 70011},
		{name: "missing scope", path: v2, form: with("scope", ""), wantStatus: 400, wantErr: "invalid_request", wantCode: 900144},
		{name: "missing grant_type", path: v2, form: with("grant_type", ""), wantStatus: 400, wantErr: "invalid_request", wantCode: 900144},
		{name: "wrong grant_type", path: v2, form: with("grant_type", "password"), wantStatus: 400, wantErr: "unsupported_grant_type", wantCode: 70003},
		{name: "missing client_id", path: v2, form: with("client_id", ""), wantStatus: 400, wantErr: "invalid_request", wantCode: 900144},
		{name: "no credential", path: v2, form: with("client_secret", ""), wantStatus: 401, wantErr: "invalid_client", wantCode: 7000218},
		{name: "v1 endpoint with resource", path: "/" + tenant + "/oauth2/token", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {testSecret}, "resource": {LegacyResource}}, wantStatus: 200},
		{name: "v1 endpoint unknown resource", path: "/" + tenant + "/oauth2/token", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {testSecret}, "resource": {"https://example.com"}}, wantStatus: 400, wantErr: "invalid_resource", wantCode: 500011},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.postForm(t, tt.path, tt.form, tt.basicUser, tt.basicPass)
			if tt.wantStatus != 200 {
				checkAADError(t, res, tt.wantStatus, tt.wantErr, tt.wantCode)
				return
			}
			if res.status != 200 {
				t.Fatalf("status = %d; want 200 (%s)", res.status, res.body)
			}
			var m map[string]any
			if err := json.Unmarshal(res.body, &m); err != nil {
				t.Fatal(err)
			}
			if m["token_type"] != "Bearer" || m["access_token"] == "" {
				t.Fatalf("token body = %s", res.body)
			}
			if strings.HasSuffix(tt.path, "/v2.0/token") {
				if m["expires_in"] != float64(3599) || m["ext_expires_in"] != float64(3599) || len(m) != 4 {
					t.Fatalf("v2 token body = %s; want numeric expires_in 3599 and 4 fields", res.body)
				}
			} else if m["expires_in"] != "3599" || m["resource"] != LegacyResource || m["expires_on"] == nil {
				t.Fatalf("v1 token body = %s; want string numbers and resource", res.body)
			}
		})
	}
	if got, want := f.s.TokensIssued(), 7; got != want {
		t.Errorf("TokensIssued() = %d; want %d", got, want)
	}
	if got := f.s.APIRequestCount(); got != 0 {
		t.Errorf("APIRequestCount() = %d; want 0 (token requests are not API requests)", got)
	}
}

func TestTokenGETRejected(t *testing.T) {
	f := newFixture(t, Options{})
	res := f.get(t, f.s.TokenURL(), "")
	checkAADError(t, res, 400, "invalid_request", 900561)
}

func TestTokenSecretsRefusedWithoutSecret(t *testing.T) {
	a, _ := testCerts(t)
	clock := NewClock(t0)
	s := New(t, Options{ClientCert: a.Cert, Now: clock.Now})
	f := &fixture{s: s, clock: clock, c: s.Client()}
	res := f.postForm(t, "/"+s.Options().TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.Options().ClientID}, "client_secret": {""}, "scope": {s.GraphScope()},
	}, "", "")
	checkAADError(t, res, 401, "invalid_client", 7000215)
}

func TestTokenAssertion(t *testing.T) {
	a, b := testCerts(t)
	f := newFixture(t, Options{ClientCert: a.Cert})
	tenant, client := f.s.Options().TenantID, f.s.Options().ClientID
	aud := f.s.TokenURL()
	now := t0.Unix()
	hdrRS := func() map[string]any { return map[string]any{"alg": "RS256", "typ": "JWT", "x5t": x5t(a.Cert)} }
	hdrPS := func() map[string]any {
		return map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": x5tS256(a.Cert)}
	}
	jti := 0
	claims := func(mod func(map[string]any)) map[string]any {
		jti++
		c := map[string]any{"aud": aud, "iss": client, "sub": client, "jti": "jti-" + itoa(jti), "nbf": now, "iat": now, "exp": now + 600}
		if mod != nil {
			mod(c)
		}
		return c
	}
	set := func(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
	del := func(k string) func(map[string]any) { return func(c map[string]any) { delete(c, k) } }

	replayed := signJWT(t, a.Key, hdrRS(), claims(nil))
	tests := []struct {
		name      string
		assertion string
		aType     string
		wantCode  int // 0 = success
	}{
		{name: "RS256 x5t", assertion: signJWT(t, a.Key, hdrRS(), claims(nil))},
		{name: "PS256 x5t#S256", assertion: signJWT(t, a.Key, hdrPS(), claims(nil))},
		{name: "RS256 with both thumbprints", assertion: signJWT(t, a.Key, map[string]any{"alg": "RS256", "x5t": x5t(a.Cert), "x5t#S256": x5tS256(a.Cert)}, claims(nil))},
		{name: "aud as array", assertion: signJWT(t, a.Key, hdrRS(), claims(set("aud", []string{aud})))},
		{name: "no nbf/iat", assertion: signJWT(t, a.Key, hdrRS(), claims(func(c map[string]any) { delete(c, "nbf"); delete(c, "iat") }))},
		{name: "nbf within 5 min skew", assertion: signJWT(t, a.Key, hdrRS(), claims(set("nbf", now+240)))},
		{name: "first use of jti", assertion: replayed},
		{name: "replayed jti", assertion: replayed, wantCode: 700027},
		{name: "signed by another key", assertion: signJWT(t, b.Key, hdrRS(), claims(nil)), wantCode: 700027},
		{name: "thumbprint of another cert", assertion: signJWT(t, b.Key, map[string]any{"alg": "RS256", "x5t": x5t(b.Cert)}, claims(nil)), wantCode: 700027},
		{name: "x5t#S256 of another cert", assertion: signJWT(t, a.Key, map[string]any{"alg": "PS256", "x5t#S256": x5tS256(b.Cert)}, claims(nil)), wantCode: 700027},
		{name: "no thumbprint", assertion: signJWT(t, a.Key, map[string]any{"alg": "RS256"}, claims(nil)), wantCode: 700027},
		{name: "alg none", assertion: signJWT(t, a.Key, map[string]any{"alg": "none", "x5t": x5t(a.Cert)}, claims(nil)), wantCode: 700027},
		{name: "alg HS256", assertion: signJWT(t, a.Key, map[string]any{"alg": "HS256", "x5t": x5t(a.Cert)}, claims(nil)), wantCode: 700027},
		{name: "tampered claims", assertion: func() string {
			j := signJWT(t, a.Key, hdrRS(), claims(nil))
			parts := strings.Split(j, ".")
			other := strings.Split(signJWT(t, a.Key, hdrRS(), claims(set("sub", "x"))), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}(), wantCode: 700027},
		{name: "aud of login.microsoftonline.com", assertion: signJWT(t, a.Key, hdrRS(), claims(set("aud", "https://login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token"))), wantCode: 700027},
		{name: "iss is not the client", assertion: signJWT(t, a.Key, hdrRS(), claims(set("iss", "someone"))), wantCode: 700027},
		{name: "sub is not the client", assertion: signJWT(t, a.Key, hdrRS(), claims(set("sub", "someone"))), wantCode: 700027},
		{name: "no jti", assertion: signJWT(t, a.Key, hdrRS(), claims(del("jti"))), wantCode: 700027},
		{name: "expired", assertion: signJWT(t, a.Key, hdrRS(), claims(set("exp", now-1))), wantCode: 700024},
		{name: "exp exactly now", assertion: signJWT(t, a.Key, hdrRS(), claims(set("exp", now))), wantCode: 700024},
		{name: "no exp", assertion: signJWT(t, a.Key, hdrRS(), claims(del("exp"))), wantCode: 700024},
		{name: "exp beyond 1h", assertion: signJWT(t, a.Key, hdrRS(), claims(set("exp", now+2*3600))), wantCode: 700024},
		{name: "nbf in the future", assertion: signJWT(t, a.Key, hdrRS(), claims(set("nbf", now+3600))), wantCode: 700024},
		{name: "not a JWT", assertion: "abc.def", wantCode: 700027},
		{name: "wrong assertion type", assertion: signJWT(t, a.Key, hdrRS(), claims(nil)), aType: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", wantCode: 90014},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aType := tt.aType
			if aType == "" {
				aType = JWTBearerAssertionType
			}
			res := f.postForm(t, "/"+tenant+"/oauth2/v2.0/token", url.Values{
				"grant_type": {"client_credentials"}, "client_id": {client}, "scope": {f.s.GraphScope()},
				"client_assertion_type": {aType}, "client_assertion": {tt.assertion},
			}, "", "")
			switch tt.wantCode {
			case 0:
				if res.status != 200 {
					t.Fatalf("status = %d; want 200 (%s, reason %q)", res.status, res.body, res.header.Get("X-Msgtracetest-Reason"))
				}
			case 90014:
				checkAADError(t, res, 400, "invalid_request", tt.wantCode)
			default:
				checkAADError(t, res, 401, "invalid_client", tt.wantCode)
			}
		})
	}
}

func TestTokenAssertionRefusedWithoutCert(t *testing.T) {
	a, _ := testCerts(t)
	f := newFixture(t, Options{})
	now := t0.Unix()
	j := signJWT(t, a.Key, map[string]any{"alg": "RS256", "x5t": x5t(a.Cert)}, map[string]any{
		"aud": f.s.TokenURL(), "iss": f.s.Options().ClientID, "sub": f.s.Options().ClientID, "jti": "x", "exp": now + 300,
	})
	res := f.postForm(t, "/"+f.s.Options().TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {f.s.Options().ClientID}, "scope": {f.s.GraphScope()},
		"client_assertion_type": {JWTBearerAssertionType}, "client_assertion": {j},
	}, "", "")
	checkAADError(t, res, 401, "invalid_client", 700027)
}

func TestAPITokenValidation(t *testing.T) {
	f := newFixture(t, Options{TokenTTL: time.Hour, QuotaRequests: -1})
	graphTok := f.graphToken(t)
	legacyTok := f.legacyToken(t)
	u := f.graphURL("", 0)

	tests := []struct {
		name    string
		token   string
		advance time.Duration
		legacy  bool
		want    int
		wantMsg string
	}{
		{name: "graph token on graph", token: graphTok, want: 200},
		{name: "no token", token: "", want: 401, wantMsg: "Access token is empty."},
		{name: "unknown token", token: "not-a-token", want: 401, wantMsg: "Access token validation failure."},
		{name: "legacy token on graph", token: legacyTok, want: 401, wantMsg: "Access token validation failure. Invalid audience."},
		{name: "legacy token on legacy", token: legacyTok, legacy: true, want: 200},
		{name: "graph token on legacy", token: graphTok, legacy: true, want: 401},
		{name: "graph token 1ns before expiry", token: graphTok, advance: time.Hour - time.Nanosecond, want: 200},
		{name: "graph token at expiry", token: graphTok, advance: time.Nanosecond, want: 401, wantMsg: "Lifetime validation failed, the token is expired."},
		{name: "legacy token after expiry", token: legacyTok, legacy: true, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.Advance(tt.advance)
			var res httpResult
			if tt.legacy {
				res = f.get(t, f.s.LegacyURL()+"?$format=json", tt.token)
			} else {
				res = f.get(t, u, tt.token)
			}
			if res.status != tt.want {
				t.Fatalf("status = %d; want %d (%s)", res.status, tt.want, truncate(res.body))
			}
			if tt.want != 401 {
				return
			}
			if tt.legacy {
				if !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") || !strings.Contains(string(res.body), "401 - Unauthorized: Access is denied due to invalid credentials.") {
					t.Fatalf("legacy 401 = %s %s; want IIS HTML page", res.header.Get("Content-Type"), res.body)
				}
				return
			}
			e := decodeGraphError(t, res.body)
			if e.Error.Code != "InvalidAuthenticationToken" || e.Error.Message != tt.wantMsg {
				t.Fatalf("error = %+v; want InvalidAuthenticationToken %q", e.Error, tt.wantMsg)
			}
			if res.header.Get("WWW-Authenticate") == "" {
				t.Error("missing WWW-Authenticate")
			}
		})
	}
	// A fresh token works after expiry.
	if res := f.get(t, f.graphURL("", 0), f.graphToken(t)); res.status != 200 {
		t.Fatalf("fresh token: status %d", res.status)
	}
}
