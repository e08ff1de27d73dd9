package messagetracereceiver

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
)

// Issue 12: headers and proxy_url of the standard HTTP settings apply to login and API calls
// alike, and the client built by confighttp still follows no redirect.
func TestHeadersAndProxyApplyAndRedirectsStayRefused(t *testing.T) {
	type seen struct{ url, proxyAuth, route string }
	var (
		mu   sync.Mutex
		got  []seen
		hits = map[string]int{}
	)
	// A plain-http forward proxy: it receives absolute URLs.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.URL.String(), r.Header.Get("Proxy-Authorization"), r.Header.Get("X-Route")})
		hits[r.URL.Host]++
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/moved") {
			http.Redirect(w, r, "http://elsewhere.example/collect", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(proxy.Close)

	cfg := validConfig()
	cfg.AllowInsecureHTTP = true
	cfg.LoginEndpoint = "http://login.example"
	cfg.Endpoint = "http://graph.example"
	cfg.ProxyURL = ProxyURL("http://user:pr0xy-pa55@" + strings.TrimPrefix(proxy.URL, "http://"))
	cfg.Headers = configopaque.MapList{{Name: "X-Route", Value: "blue"}}
	require.NoError(t, cfg.Validate())
	client, err := newHTTPClient(t.Context(), cfg, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)

	for _, u := range []string{cfg.tokenURL(), cfg.effectiveEndpoint() + graphPath} {
		resp, err := client.Get(u)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pr0xy-pa55"))
	mu.Lock()
	require.Len(t, got, 2)
	assert.Equal(t, cfg.tokenURL(), got[0].url)
	assert.Equal(t, cfg.effectiveEndpoint()+graphPath, got[1].url)
	for _, s := range got {
		assert.Equal(t, wantAuth, s.proxyAuth, "the proxy gets its credentials")
		assert.Equal(t, "blue", s.route, "headers reach login and API calls")
	}
	mu.Unlock()

	resp, err := client.Get(cfg.effectiveEndpoint() + "/moved")
	if resp != nil {
		_ = resp.Body.Close()
	}
	var se *setupError
	require.ErrorAs(t, err, &se, "a redirect is refused as a setup error: %v", err)
	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, hits["elsewhere.example"], "nothing is sent to the redirect's location")
}

// Issue 12: a bad file under tls is reported under its key, and the proxy password stays out.
func TestHTTPClientErrorsNameTheKey(t *testing.T) {
	cfg := validConfig()
	cfg.ProxyURL = "http://user:pr0xy-pa55@proxy.internal:3128"
	cfg.TLS.CAFile = "/nonexistent/ca.pem"
	_, err := newHTTPClient(t.Context(), cfg, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings())
	require.ErrorContains(t, err, "`tls`: ")
	assert.Contains(t, err.Error(), "/nonexistent/ca.pem")
	assert.NotContains(t, err.Error(), "pr0xy-pa55")
}
