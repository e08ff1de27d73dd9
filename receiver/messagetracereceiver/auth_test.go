package messagetracereceiver

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"golang.org/x/oauth2"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// writeTestCertificate writes a self-signed certificate and its PKCS#8 RSA key into dir.
func writeTestCertificate(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "message trace app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	pk8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "app.crt"), filepath.Join(dir, "app.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8}), 0o600))
	return certFile, keyFile
}

func TestAssertionIsWellFormed(t *testing.T) {
	certFile, keyFile := writeTestCertificate(t, t.TempDir())
	cred, err := loadCertificate(certFile, keyFile)
	require.NoError(t, err)
	certPEM, err := os.ReadFile(certFile)
	require.NoError(t, err)
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)

	now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	aud := "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
	a1, err := cred.assertion("7a3c1d2e-0000-4000-8000-000000000001", aud, now)
	require.NoError(t, err)
	a2, err := cred.assertion("7a3c1d2e-0000-4000-8000-000000000001", aud, now)
	require.NoError(t, err)

	parts := strings.Split(a1, ".")
	require.Len(t, parts, 3)
	var header map[string]string
	decodeSegment(t, parts[0], &header)
	thumb := sha1.Sum(cert.Raw) //nolint:gosec // see import
	assert.Equal(t, map[string]string{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(thumb[:])}, header)

	var claims map[string]any
	decodeSegment(t, parts[1], &claims)
	assert.Equal(t, aud, claims["aud"])
	assert.Equal(t, "7a3c1d2e-0000-4000-8000-000000000001", claims["iss"])
	assert.Equal(t, claims["iss"], claims["sub"])
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, claims["jti"])
	assert.InDelta(t, float64(now.Unix()), claims["nbf"], 0)
	assert.InDelta(t, float64(now.Unix()), claims["iat"], 0)
	assert.InDelta(t, float64(now.Add(10*time.Minute).Unix()), claims["exp"], 0)

	var claims2 map[string]any
	decodeSegment(t, strings.Split(a2, ".")[1], &claims2)
	assert.NotEqual(t, claims["jti"], claims2["jti"], "every assertion needs a fresh jti")

	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	require.NoError(t, rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig))
}

func decodeSegment(t *testing.T, seg string, into any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, into))
}

func TestLoadCertificateAcceptsPKCS1(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCertificate(t, dir)
	keyPEM, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	block, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	pkcs1 := filepath.Join(dir, "pkcs1.key")
	require.NoError(t, os.WriteFile(pkcs1, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}), 0o600))
	_, err = loadCertificate(certFile, pkcs1)
	require.NoError(t, err)

	garbage := filepath.Join(dir, "garbage.key")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key"), 0o600))
	_, err = loadCertificate(certFile, garbage)
	require.ErrorContains(t, err, "no PEM private key block")
}

func TestLoginErrorsNameTheFix(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
		setup  bool
	}{
		{"wrong secret", 401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}`, "secret's Value (not its Secret ID)", true},
		{"expired secret", 401, `{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys are expired.","error_codes":[7000222]}`, "expired", true},
		{"certificate not registered", 401, `{"error":"invalid_client","error_description":"AADSTS700027: Client assertion contains an invalid signature.","error_codes":[700027]}`, "upload the certificate", true},
		{"app not in tenant", 400, `{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found","error_codes":[700016]}`, "check client_id and tenant_id", true},
		{"tenant not found", 400, `{"error":"invalid_request","error_description":"AADSTS90002: Tenant not found.","error_codes":[90002]}`, "check tenant_id", true},
		{"code only in description", 400, `{"error":"invalid_scope","error_description":"AADSTS70011: The provided value for scope is not valid."}`, "scope is invalid", true},
		{"unknown code", 400, `{"error":"invalid_request","error_description":"AADSTS12345: Something new.\r\nTrace ID: 1"}`, "Microsoft said: AADSTS12345: Something new.", true},
		{"server error is transient", 503, `{"error":"temporarily_unavailable"}`, "HTTP 503", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			src := &loginSource{
				ctx:      context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client()),
				tokenURL: srv.URL + "/t/oauth2/v2.0/token",
				clientID: "c",
				secret:   "s3cr3t-value",
				scope:    "https://graph.microsoft.com/.default",
				now:      time.Now,
			}
			_, err := src.Token()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "s3cr3t-value")
			// A refused login is the loginError itself, not wrapped; a transient failure is
			// not one anywhere in its chain (isPermanent and the health report match with
			// errors.As).
			var le *loginError
			if tt.setup {
				require.ErrorAs(t, err, &le)
				assert.Same(t, le, err)
			} else {
				assert.NotErrorAs(t, err, &le)
			}
		})
	}
}

func TestTokenIsCachedAndRefreshed(t *testing.T) {
	rows := rowsIn(11, 300, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{TokenTTL: 20*time.Minute + 2*time.Second}, rows)
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	clock := time.Now()
	r.client.tokens.now = func() time.Time { return clock }
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 1, h.srv.TokensIssued(), "one token serves every page")
	require.Greater(t, len(sink.AllLogs()), 1, "several pages were read with that token")
	// A token living 20 minutes or more is renewed 5 minutes before expiry: with a TTL of
	// 20m2s it is stale after 15m2s.
	clock = clock.Add(15*time.Minute + time.Second)
	h.srv.AddRows(rowsIn(12, 5, msgtracetest.GenerateOptions{})...)
	r.state.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 1, h.srv.TokensIssued(), "still fresh 15m1s later")
	clock = clock.Add(1500 * time.Millisecond)
	h.srv.AddRows(rowsIn(12, 10, msgtracetest.GenerateOptions{})...)
	r.state.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 2, h.srv.TokensIssued())
}

func TestSetupErrorsSayWhatToFix(t *testing.T) {
	tests := []struct {
		fault msgtracetest.Fault
		want  string
	}{
		{msgtracetest.Fault{Kind: msgtracetest.FaultServicePrincipalMissing}, "New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"},
		{msgtracetest.Fault{Kind: msgtracetest.FaultForbidden}, "ExchangeMessageTrace.Read.All"},
		{msgtracetest.Fault{Kind: msgtracetest.FaultTokenError, AADSTS: "AADSTS7000215"}, "secret's Value"},
		{msgtracetest.Fault{Kind: msgtracetest.FaultTokenError, AADSTS: "AADSTS700016"}, "check client_id and tenant_id"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault.Kind)+tt.fault.AADSTS, func(t *testing.T) {
			h := newHarness(t, msgtracetest.Options{}, rowsIn(13, 5, msgtracetest.GenerateOptions{}))
			r, ctx := h.receiver(new(consumertest.LogsSink))
			h.srv.InjectFaults(tt.fault)
			err := r.poll(ctx)
			require.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), testSecret)
			assert.Equal(t, minSetupBackoff, max(r.afterFailure(err), 0), "setup errors wait minutes")
			assert.Equal(t, 2*minSetupBackoff, r.afterFailure(err), "and back off further")
		})
	}
}

func TestCertificateAuthentication(t *testing.T) {
	cc, err := msgtracetest.NewClientCert("message trace app")
	require.NoError(t, err)
	rows := rowsIn(14, 30, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{ClientCert: cc.Cert}, rows)
	dir := t.TempDir()
	certFile, keyFile, err := cc.WriteFiles(dir)
	require.NoError(t, err)
	h.cfg.ClientSecret = ""
	h.cfg.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
}

func TestSecretsNeverLogged(t *testing.T) {
	rows := rowsIn(18, 30, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultUnauthorized}, msgtracetest.Fault{Kind: msgtracetest.FaultServerError})
	require.NoError(t, r.poll(ctx))
	tok, err := r.client.tokens.Token()
	require.NoError(t, err)
	for _, e := range h.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		assert.NotContains(t, line, testSecret)
		assert.NotContains(t, line, tok.AccessToken)
	}
}

// A short, negative or absurd stated token lifetime (expires_in) does not make every API call a
// login: the token is used for three quarters of a bounded lifetime. Before, a lifetime of
// 300 s or less was renewed before every call (renewal 5 minutes before expiry).
func TestShortTokenLifetimeBoundsLogins(t *testing.T) {
	stated := func(s int64) *int64 { return &s }
	tests := []struct {
		name    string
		opts    msgtracetest.Options
		reuse   time.Duration // how long one token must serve
		warning string
	}{
		{"expires_in 60", msgtracetest.Options{TokenTTL: 60 * time.Second}, 45 * time.Second, ""},
		{"expires_in 300", msgtracetest.Options{TokenTTL: 300 * time.Second}, 225 * time.Second, ""},
		{"expires_in -5", msgtracetest.Options{TokenTTL: time.Hour, TokenExpiresIn: stated(-5)}, 225 * time.Second, "zero or less"},
		{"expires_in 0", msgtracetest.Options{TokenTTL: time.Hour, TokenExpiresIn: stated(0)}, 225 * time.Second, "zero or less"},
		{"expires_in 10 years", msgtracetest.Options{TokenTTL: time.Hour, TokenExpiresIn: stated(10 * 365 * 86400)}, 24*time.Hour - 5*time.Minute, "beyond 24h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := rowsIn(19, 600, msgtracetest.GenerateOptions{})
			h := newHarness(t, tt.opts, rows)
			h.cfg.PageSize = 100
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			clock := time.Now()
			r.client.tokens.now = func() time.Time { return clock }
			require.NoError(t, r.poll(ctx))
			pages := len(apiRequests(h.srv))
			require.Greater(t, pages, 5)
			assert.Equal(t, 1, h.srv.TokensIssued(), "one login for %d API calls", pages)

			clock = clock.Add(tt.reuse - time.Second)
			h.srv.AddRows(rowsIn(20, 5, msgtracetest.GenerateOptions{})...)
			r.state.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
			require.NoError(t, r.poll(ctx))
			assert.Equal(t, 1, h.srv.TokensIssued(), "still used %s after the login", tt.reuse-time.Second)

			clock = clock.Add(2 * time.Second)
			r.state.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
			require.NoError(t, r.poll(ctx))
			assert.Equal(t, 2, h.srv.TokensIssued(), "renewed once %s passed", tt.reuse)

			warned := h.logs.FilterMessageSnippet("the token endpoint stated").Len()
			if tt.warning == "" {
				assert.Zero(t, warned)
				return
			}
			assert.Equal(t, 1, warned, "warned once, not at every login")
			assert.Equal(t, 1, h.logs.FilterMessageSnippet(tt.warning).Len())
		})
	}
}

// scriptedLogin answers each login with the next of its results.
type scriptedLogin struct {
	results []error // nil: a token of the given lifetime
	ttl     time.Duration
	calls   int
}

func (s *scriptedLogin) Token() (*oauth2.Token, error) {
	err := s.results[min(s.calls, len(s.results)-1)]
	s.calls++
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("token-%d", s.calls), Expiry: time.Now().Add(s.ttl)}, nil
}

// A renewal that fails for a transient reason while the cached token is still valid (the
// metadata service or login endpoint blips in the renewal window) does not fail the call: the
// cached token serves until 30 s before it expires. A setup problem is reported at once.
func TestFailedRenewalKeepsTheValidToken(t *testing.T) {
	outage := errors.New("managed identity endpoint (imds) unreachable: connection refused")
	revoked := &loginError{status: 401, code: "AADSTS7000222", fix: aadstsFixes["AADSTS7000222"]}
	clock := time.Now()
	login := &scriptedLogin{results: []error{nil, outage, outage, outage, nil}, ttl: time.Hour}
	p := newTokenProvider(login, func() time.Time { return clock })
	tok, err := p.Token()
	require.NoError(t, err)
	require.Equal(t, "token-1", tok.AccessToken)

	clock = clock.Add(56 * time.Minute) // in the renewal window: the login fails
	tok, err = p.Token()
	require.NoError(t, err, "the cached token is valid for 4 more minutes")
	assert.Equal(t, "token-1", tok.AccessToken)
	assert.Equal(t, 2, login.calls, "renewal was tried")

	clock = clock.Add(3*time.Minute + 29*time.Second) // 31 s before expiry
	tok, err = p.Token()
	require.NoError(t, err)
	assert.Equal(t, "token-1", tok.AccessToken)

	clock = clock.Add(2 * time.Second) // 29 s before expiry: too close to use
	_, err = p.Token()
	require.ErrorIs(t, err, outage)

	tok, err = p.Token() // the outage is over
	require.NoError(t, err)
	assert.Equal(t, "token-5", tok.AccessToken)

	// A setup problem during renewal is not hidden behind the cached token.
	clock = time.Now()
	login = &scriptedLogin{results: []error{nil, revoked}, ttl: time.Hour}
	p = newTokenProvider(login, func() time.Time { return clock })
	_, err = p.Token()
	require.NoError(t, err)
	clock = clock.Add(56 * time.Minute)
	_, err = p.Token()
	require.ErrorIs(t, err, revoked)

	// Nor does an invalidated token (a 401) come back.
	login = &scriptedLogin{results: []error{nil, outage}, ttl: time.Hour}
	p = newTokenProvider(login, func() time.Time { return clock })
	_, err = p.Token()
	require.NoError(t, err)
	p.invalidate()
	_, err = p.Token()
	require.ErrorIs(t, err, outage)
}
