package messagetracereceiver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

const (
	testIdentityClientID   = "5c0b1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	testIdentityResourceID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/otelcol"
)

// metadataHarness is a tenant, a fake metadata service handing out its tokens to the machine's
// identities, and a receiver configuration with managed_identity pointing at that service.
func metadataHarness(t *testing.T, rows []msgtracetest.Row, mi ManagedIdentityConfig) (*harness, *msgtracetest.MetadataServer) {
	t.Helper()
	h := newHarness(t, msgtracetest.Options{}, rows)
	md, err := msgtracetest.NewMetadataServer(h.srv, msgtracetest.MetadataOptions{
		SystemAssigned: true,
		UserAssigned:   []msgtracetest.ManagedIdentity{{ClientID: testIdentityClientID, ResourceID: testIdentityResourceID}},
	})
	require.NoError(t, err)
	t.Cleanup(md.Close)
	mi.Endpoint = md.TokenURL()
	h.cfg.ClientSecret, h.cfg.ClientID = "", ""
	h.cfg.ManagedIdentity = &mi
	return h, md
}

func TestManagedIdentityReadsTheTenant(t *testing.T) {
	tests := []struct {
		name     string
		mi       ManagedIdentityConfig
		api      string
		identity string
	}{
		{"system-assigned graph", ManagedIdentityConfig{}, apiGraph, "system"},
		{"system-assigned legacy", ManagedIdentityConfig{}, apiLegacy, "system"},
		{"user-assigned by client id", ManagedIdentityConfig{ClientID: testIdentityClientID}, apiGraph, testIdentityClientID},
		{"user-assigned by resource id", ManagedIdentityConfig{ResourceID: testIdentityResourceID}, apiGraph, testIdentityResourceID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := rowsIn(51, 40, msgtracetest.GenerateOptions{})
			h, md := metadataHarness(t, rows, tt.mi)
			h.cfg.API = tt.api
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
			reqs := md.Requests()
			require.Len(t, reqs, 1, "one token serves the poll (cached)")
			assert.Equal(t, tt.identity, reqs[0].Identity)
			want := h.srv.URL()
			if tt.api == apiLegacy {
				want = "https://outlook.office365.com"
			}
			assert.Equal(t, want, reqs[0].Resource, "the token is asked for the selected API")
			for _, rq := range h.srv.Requests() {
				assert.NotEqual(t, msgtracetest.KindToken, rq.Kind, "the tenant's login endpoint is never called")
			}
		})
	}
}

func TestManagedIdentityNotFoundIsASetupProblem(t *testing.T) {
	h, md := metadataHarness(t, rowsIn(52, 5, msgtracetest.GenerateOptions{}), ManagedIdentityConfig{ClientID: "99999999-9999-4999-8999-999999999999"})
	r, ctx := h.receiver(new(consumertest.LogsSink))
	err := r.poll(ctx)
	require.ErrorContains(t, err, "answered 400: this machine has no such identity; it said: invalid_request Identity not found")
	assert.Contains(t, err.Error(), "managed_identity.client_id")
	assert.True(t, isSetupProblem(err))
	require.NoError(t, md.SetFault(msgtracetest.MetadataIdentityNotFound, 0))
	h.cfg.ManagedIdentity.ClientID = ""
	r2, ctx2 := h.receiver(new(consumertest.LogsSink))
	assert.True(t, isSetupProblem(r2.poll(ctx2)), "a system-assigned identity that is not turned on too")
}

func TestManagedIdentityOutagesAreRiddenOut(t *testing.T) {
	tests := []struct {
		fault msgtracetest.MetadataFault
		slow  time.Duration
		want  string
	}{
		{msgtracetest.MetadataServerError, 0, "managed identity endpoint (imds) answered HTTP 500"},
		{msgtracetest.MetadataUnreachable, 0, "managed identity endpoint (imds) unreachable"},
		{msgtracetest.MetadataSlow, 3 * time.Second, "managed identity endpoint (imds) unreachable"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			rows := rowsIn(53, 30, msgtracetest.GenerateOptions{})
			h, md := metadataHarness(t, rows, ManagedIdentityConfig{})
			h.cfg.Timeout = time.Second
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			require.NoError(t, md.SetFault(tt.fault, tt.slow))
			err := r.poll(ctx)
			require.ErrorContains(t, err, tt.want)
			assert.False(t, isSetupProblem(err), "an outage is transient: retried at the next poll, not in minutes")
			assert.Empty(t, delivered(sink))
			require.NoError(t, md.SetFault("", 0))
			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
		})
	}
}

// A token the metadata service answers is kept and renewed like a login's: one request per
// token lifetime, a new one after a 401.
func TestManagedIdentityTokenIsCachedAndRenewedAfter401(t *testing.T) {
	rows := rowsIn(54, 300, msgtracetest.GenerateOptions{})
	h, md := metadataHarness(t, rows, ManagedIdentityConfig{})
	h.cfg.PageSize = 100
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	assert.Len(t, md.Requests(), 1)
	h.srv.RevokeTokens()
	h.srv.AddRows(rowsIn(55, 5, msgtracetest.GenerateOptions{})...)
	r.state.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	require.NoError(t, r.poll(ctx))
	assert.Len(t, md.Requests(), 2)
}

func TestManagedIdentityTokenNeverLoggedAtDebug(t *testing.T) {
	h, md := metadataHarness(t, rowsIn(56, 30, msgtracetest.GenerateOptions{}), ManagedIdentityConfig{})
	r, ctx := h.receiver(new(consumertest.LogsSink))
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultUnauthorized}, msgtracetest.Fault{Kind: msgtracetest.FaultServerError})
	require.NoError(t, r.poll(ctx))
	require.Len(t, md.Requests(), 2)
	require.NotZero(t, h.logs.Len())
	for _, e := range h.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		for _, tok := range h.srv.IssuedTokens() {
			assert.NotContains(t, line, tok)
		}
	}
}

func TestManagedIdentityEndpointIsRestricted(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"http://169.254.169.254/metadata/identity/oauth2/token", true},
		{"http://169.254.169.254:80/metadata/identity/oauth2/token", true},
		{"https://127.0.0.1:8443/metadata/identity/oauth2/token", true},
		{"https://[::1]:8443/token", true},
		{"https://localhost:8443/token", true},
		{"http://127.0.0.1:8080/metadata/identity/oauth2/token", false},
		{"http://169.254.169.254:8080/metadata/identity/oauth2/token", false},
		{"https://169.254.169.254/metadata/identity/oauth2/token", false},
		{"https://metadata.example.com/token", false},
		{"http://10.0.0.4/metadata/identity/oauth2/token", false},
		{"http://169.254.169.254/metadata/identity/oauth2/token?resource=x", false},
		{"http://user:pw@169.254.169.254/metadata/identity/oauth2/token", false},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			cfg := validConfig()
			cfg.ClientSecret, cfg.ClientID = "", ""
			cfg.ManagedIdentity = &ManagedIdentityConfig{Endpoint: tt.endpoint}
			err := cfg.Validate()
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "`managed_identity.endpoint`")
			assert.NotContains(t, err.Error(), "pw@")
		})
	}
}

func TestCredentialKindsAreExclusive(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCertificate(t, dir)
	issuer, err := msgtracetest.NewFederatedIssuer(testIssuer)
	require.NoError(t, err)
	tok, _ := issuer.Token(testSubject, "", time.Now(), time.Now().Add(time.Hour))
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(tok), 0o600))
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"secret and federated", func(c *Config) { c.FederatedTokenFile = tokenFile }, []string{"`client_secret` and `federated_token_file` are both set"}},
		{"secret and managed identity", func(c *Config) {
			c.ClientID = ""
			c.ManagedIdentity = &ManagedIdentityConfig{}
		}, []string{"`client_secret` and `managed_identity` are both set"}},
		{"federated and managed identity", func(c *Config) {
			c.ClientSecret, c.ClientID, c.FederatedTokenFile = "", "", tokenFile
			c.ManagedIdentity = &ManagedIdentityConfig{}
		}, []string{"`federated_token_file` and `managed_identity` are both set"}},
		{"certificate and federated", func(c *Config) {
			c.ClientSecret, c.FederatedTokenFile = "", tokenFile
			c.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
		}, []string{"`client_certificate` and `federated_token_file` are both set"}},
		{"three", func(c *Config) {
			c.FederatedTokenFile = tokenFile
			c.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
		}, []string{"`client_secret` and `client_certificate` and `federated_token_file` are all set"}},
		{"federated key set but empty", func(c *Config) {
			c.ClientSecret, c.federatedKeySet = "", true
		}, []string{"`federated_token_file` is empty", "AZURE_FEDERATED_TOKEN_FILE"}},
		{"client_id with managed identity", func(c *Config) {
			c.ClientSecret = ""
			c.ManagedIdentity = &ManagedIdentityConfig{}
		}, []string{"`client_id` is set together with `managed_identity`", "managed_identity.client_id"}},
		{"both user-assigned selectors", func(c *Config) {
			c.ClientSecret, c.ClientID = "", ""
			c.ManagedIdentity = &ManagedIdentityConfig{ClientID: testIdentityClientID, ResourceID: testIdentityResourceID}
		}, []string{"`managed_identity.client_id` and `managed_identity.resource_id` are both set"}},
		{"identity client id not a guid", func(c *Config) {
			c.ClientSecret, c.ClientID = "", ""
			c.ManagedIdentity = &ManagedIdentityConfig{ClientID: "otelcol"}
		}, []string{"`managed_identity.client_id` \"otelcol\" is not a GUID"}},
		{"identity resource id wrong", func(c *Config) {
			c.ClientSecret, c.ClientID = "", ""
			c.ManagedIdentity = &ManagedIdentityConfig{ResourceID: "otelcol"}
		}, []string{"`managed_identity.resource_id` \"otelcol\" is not an Azure resource id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	ok := validConfig()
	ok.ClientSecret, ok.FederatedTokenFile = "", tokenFile
	assert.NoError(t, ok.Validate())
	ok = validConfig()
	ok.ClientSecret, ok.ClientID, ok.ManagedIdentity = "", "", &ManagedIdentityConfig{ClientID: testIdentityClientID}
	assert.NoError(t, ok.Validate())
}

func TestManagedIdentityPlatformFromEnvironment(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		mi      ManagedIdentityConfig
		getenv  func(string) string
		kind    string
		url     string
		wantErr string
	}{
		{"nothing set: IMDS", ManagedIdentityConfig{}, env(), metadataIMDS, imdsTokenURL, ""},
		{"configured endpoint wins", ManagedIdentityConfig{Endpoint: "https://127.0.0.1:1/t"}, env("IDENTITY_ENDPOINT", "http://localhost:2/x", "IDENTITY_HEADER", "h"), metadataIMDS, "https://127.0.0.1:1/t", ""},
		{"app service", ManagedIdentityConfig{}, env("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token", "IDENTITY_HEADER", "h"), metadataAppService, "http://127.0.0.1:41741/msi/token", ""},
		{"arc", ManagedIdentityConfig{}, env("IDENTITY_ENDPOINT", "http://localhost:40342/metadata/identity/oauth2/token", "IMDS_ENDPOINT", "http://localhost:40342"), metadataArc, "http://localhost:40342/metadata/identity/oauth2/token", ""},
		{"arc with a user-assigned identity", ManagedIdentityConfig{ClientID: testIdentityClientID}, env("IDENTITY_ENDPOINT", "http://localhost:40342/x", "IMDS_ENDPOINT", "http://localhost:40342"), "", "", "Azure Arc server"},
		{"app service over the network in clear text", ManagedIdentityConfig{}, env("IDENTITY_ENDPOINT", "http://10.1.2.3:8081/msi/token", "IDENTITY_HEADER", "h"), "", "", "IDENTITY_ENDPOINT is neither https nor on loopback"},
		{"stray IDENTITY_ENDPOINT: IMDS", ManagedIdentityConfig{}, env("IDENTITY_ENDPOINT", "http://10.1.2.3/x"), metadataIMDS, imdsTokenURL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := resolveMetadataTarget(&tt.mi, tt.getenv)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.kind, target.kind)
			assert.Equal(t, tt.url, target.url)
		})
	}
}

func tokenAnswer(resource string) string {
	return `{"access_token":"mi-access-token-value","expires_in":"3599","expires_on":"1795000000","resource":"` + resource + `","token_type":"Bearer"}`
}

func TestManagedIdentityAppService(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		_, _ = w.Write([]byte(tokenAnswer("https://graph.microsoft.com")))
	}))
	defer srv.Close()
	src := &metadataSource{
		ctx: context.Background(), http: srv.Client(), now: time.Now,
		target:   metadataTarget{kind: metadataAppService, url: srv.URL + "/msi/token", secret: "identity-header-secret"},
		resource: "https://graph.microsoft.com", resourceID: testIdentityResourceID,
	}
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "mi-access-token-value", tok.AccessToken)
	assert.WithinDuration(t, time.Now().Add(3599*time.Second), tok.Expiry, 5*time.Second)
	assert.Equal(t, "identity-header-secret", got.Header.Get("X-IDENTITY-HEADER"))
	assert.Empty(t, got.Header.Get("Metadata"))
	assert.Equal(t, "2019-08-01", got.URL.Query().Get("api-version"))
	assert.Equal(t, testIdentityResourceID, got.URL.Query().Get("mi_res_id"))
	assert.Equal(t, "https://graph.microsoft.com", got.URL.Query().Get("resource"))
}

func TestManagedIdentityArcChallenge(t *testing.T) {
	keyDir := t.TempDir()
	keyFile := filepath.Join(keyDir, "challenge.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("arc-challenge-secret\n"), 0o600))
	outside := filepath.Join(t.TempDir(), "elsewhere.key")
	require.NoError(t, os.WriteFile(outside, []byte("not-for-the-endpoint"), 0o600))
	realm := keyFile
	var second atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("api-version") != "2020-06-01" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		auth := r.Header.Get("Authorization")
		if auth == "" {
			w.Header().Set("WWW-Authenticate", "Basic realm="+realm)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		second.Store(auth)
		if auth != "Basic arc-challenge-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(tokenAnswer("https://graph.microsoft.com")))
	}))
	defer srv.Close()
	src := &metadataSource{
		ctx: context.Background(), http: srv.Client(), now: time.Now, arcKeyDir: keyDir,
		target: metadataTarget{kind: metadataArc, url: srv.URL + "/metadata/identity/oauth2/token"}, resource: "https://graph.microsoft.com",
	}
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "mi-access-token-value", tok.AccessToken)
	assert.Equal(t, "Basic arc-challenge-secret", second.Load())

	// A challenge pointing anywhere else is refused before the file is read.
	realm = outside
	second = atomic.Value{}
	_, err = src.Token()
	require.ErrorContains(t, err, "names a file outside "+keyDir)
	assert.Nil(t, second.Load(), "nothing was sent back")
	realm = filepath.Join(keyDir, "..", filepath.Base(filepath.Dir(outside)), "elsewhere.key")
	_, err = src.Token()
	require.ErrorContains(t, err, "names a file outside")
}

func TestManagedIdentityAnswersAreChecked(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"token for another resource", tokenAnswer("https://management.azure.com"), 200, "answered a token for \"https://management.azure.com\""},
		{"no token", `{"token_type":"Bearer"}`, 200, "without a token"},
		{"no lifetime", `{"access_token":"x"}`, 200, "token lifetime of 0s"},
		{"negative lifetime", `{"access_token":"x","expires_in":"-60"}`, 200, "token lifetime of -1m0s"},
		{"expired", `{"access_token":"x","expires_on":"1000"}`, 200, "token lifetime of -"},
		{"not a bearer token", `{"access_token":"x","expires_in":3599,"token_type":"PoP"}`, 200, "not Bearer"},
		{"huge answer", `{"access_token":"` + strings.Repeat("a", maxMetadataBody) + `"}`, 200, "larger than 64 KiB"},
		{"echoes the header", `{"error":"invalid_request","error_description":"bad header identity-header-secret"}`, 400, "[REDACTED]"},
		{"410 updating", `{}`, 410, "answered HTTP 410"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			src := &metadataSource{
				ctx: context.Background(), http: srv.Client(), now: time.Now,
				target:   metadataTarget{kind: metadataAppService, url: srv.URL, secret: "identity-header-secret"},
				resource: "https://graph.microsoft.com",
			}
			_, err := src.Token()
			require.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), "identity-header-secret")
		})
	}
}

// Managed identity tokens live "around 24 hours", some a few minutes more: a longer lifetime is
// cut to 24 h (as tokenProvider does), not refused, and a huge number does not overflow into a
// negative one.
func TestManagedIdentityLongLifetimeIsClamped(t *testing.T) {
	for _, lifetime := range []string{
		`"expires_in":"86700"`, `"expires_in":86399`, `"expires_in":"999999999"`,
		`"expires_in":"9223372036854775807"`, `"expires_on":"99999999999"`,
	} {
		t.Run(lifetime, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"access_token":"x","token_type":"Bearer",` + lifetime + `}`))
			}))
			defer srv.Close()
			src := &metadataSource{
				ctx: context.Background(), http: srv.Client(), now: time.Now,
				target: metadataTarget{kind: metadataIMDS, url: srv.URL}, resource: "https://graph.microsoft.com",
			}
			tok, err := src.Token()
			require.NoError(t, err)
			left := time.Until(tok.Expiry)
			assert.Greater(t, left, 24*time.Hour-2*time.Minute)
			assert.LessOrEqual(t, left, maxMetadataTokenLifetime)
		})
	}
}

// The metadata service is asked directly: never through proxy_url, nor HTTPS_PROXY (the
// transport has no Proxy function: the stand-in is on loopback, which the environment's proxy
// never serves, so that half is checked on the transport), and a redirect is not followed.
func TestManagedIdentityNoProxyNoRedirect(t *testing.T) {
	rows := rowsIn(57, 10, msgtracetest.GenerateOptions{})
	h, md := metadataHarness(t, rows, ManagedIdentityConfig{})
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()
	h.cfg.ProxyURL = ProxyURL(proxy.URL) // login and API calls go through it; the metadata service never
	client, err := newMetadataHTTPClient(context.Background(), h.cfg)
	require.NoError(t, err)
	assert.Nil(t, client.Transport.(*http.Transport).Proxy, "no proxy function: HTTPS_PROXY is not consulted")
	src := &metadataSource{
		ctx: context.Background(), http: client, now: time.Now,
		target: metadataTarget{kind: metadataIMDS, url: md.TokenURL()}, resource: h.srv.URL(),
	}
	_, err = src.Token()
	require.NoError(t, err)
	assert.Zero(t, proxied.Load())

	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer target.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	src.http.Transport = redirecting.Client().Transport
	src.target.url = redirecting.URL
	_, err = src.Token()
	require.ErrorContains(t, err, "follows no redirect")
	assert.True(t, isSetupProblem(err))
	assert.Zero(t, elsewhere.Load())
}

// A refused redirect quotes where it pointed, but never the App Service header or the Arc key
// the request carried, and it names the keys that set the metadata endpoint.
func TestManagedIdentityRedirectQuotesNoCredential(t *testing.T) {
	keyDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(keyDir, "c.key"), []byte("arc-challenge-secret"), 0o600))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := r.Header.Get("X-IDENTITY-HEADER")
		if r.Header.Get("Metadata") == "true" { // Arc: challenge first, then echo the key
			if echo = strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "); echo == "" {
				w.Header().Set("WWW-Authenticate", "Basic realm="+filepath.Join(keyDir, "c.key"))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		http.Redirect(w, r, "/"+echo, http.StatusTemporaryRedirect) //nolint:gosec // G710: the hostile endpoint under test redirects to what it was sent, on purpose
	}))
	defer srv.Close()
	client, err := newMetadataHTTPClient(context.Background(), validConfig())
	require.NoError(t, err)
	client.Transport = srv.Client().Transport
	for _, target := range []metadataTarget{
		{kind: metadataAppService, url: srv.URL, secret: "identity-header-secret-value"},
		{kind: metadataArc, url: srv.URL},
	} {
		src := &metadataSource{
			ctx: context.Background(), http: client, now: time.Now, arcKeyDir: keyDir,
			target: target, resource: "https://graph.microsoft.com",
		}
		_, err := src.Token()
		require.ErrorContains(t, err, "follows no redirect", target.kind)
		assert.Contains(t, err.Error(), "[REDACTED]", target.kind)
		assert.NotContains(t, err.Error(), "identity-header-secret-value")
		assert.NotContains(t, err.Error(), "arc-challenge-secret")
		assert.Contains(t, err.Error(), "check managed_identity.endpoint and the environment's IDENTITY_ENDPOINT")
		assert.NotContains(t, err.Error(), "login_endpoint", "the metadata endpoint is not set by endpoint, login_endpoint or proxy_url")
	}
}

// closeRecorder is a connection that says whether it was closed.
type closeRecorder struct {
	net.Conn
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return c.Conn.Close() }

// Shutdown closes the kept-alive connection to the metadata service too, not only those of the
// login and API client: otherwise it and its goroutines outlive the receiver for 30 s.
func TestManagedIdentityConnectionClosedAtShutdown(t *testing.T) {
	h, _ := metadataHarness(t, rowsIn(58, 10, msgtracetest.GenerateOptions{}), ManagedIdentityConfig{})
	r, ctx := h.receiver(new(consumertest.LogsSink))
	require.NotNil(t, r.metadata)
	tr := r.metadata.Transport.(*http.Transport)
	var conns []*closeRecorder
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		rec := &closeRecorder{Conn: c}
		conns = append(conns, rec)
		return rec, nil
	}
	require.NoError(t, r.poll(ctx))
	require.Len(t, conns, 1, "one connection to the metadata service")
	assert.False(t, conns[0].closed.Load(), "kept alive after the poll")
	require.NoError(t, r.Shutdown(context.Background()))
	assert.True(t, conns[0].closed.Load(), "closed at Shutdown")
}

func TestManagedIdentityStandInEndpointIsWarnedAbout(t *testing.T) {
	cfg := validConfig()
	cfg.ClientSecret, cfg.ClientID = "", ""
	cfg.ManagedIdentity = &ManagedIdentityConfig{}
	assert.Empty(t, cfg.weakSettings(), "the Instance Metadata Service is not weak")
	cfg.ManagedIdentity.Endpoint = imdsTokenURL
	assert.Empty(t, cfg.weakSettings())
	cfg.ManagedIdentity.Endpoint = "https://127.0.0.1:8443/metadata/identity/oauth2/token"
	assert.Contains(t, strings.Join(cfg.weakSettings(), "\n"), "managed_identity.endpoint is set")
}
