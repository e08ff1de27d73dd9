package messagetracereceiver

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	storageID := component.MustNewID("file_storage")

	defaults := createDefaultConfig().(*Config)
	defaults.TenantID = "contoso.onmicrosoft.com"
	defaults.ClientID = "7a3c1d2e-0000-4000-8000-000000000001"
	defaults.ClientSecret = "s3cr3t-value"

	full := createDefaultConfig().(*Config)
	full.TenantID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	full.ClientID = "7a3c1d2e-0000-4000-8000-000000000001"
	full.ClientSecret = "s3cr3t-value"
	full.Endpoint = "https://graph.microsoft.com"
	full.ProxyURL = "http://proxy.internal:3128"
	full.Timeout = 90 * time.Second
	full.TLS.MinVersion = "1.3"
	full.Headers = configopaque.MapList{{Name: "X-Route", Value: "message-trace"}}
	full.Keepalive = configoptional.Some(confighttp.KeepaliveClientConfig{IdleConnTimeout: 30 * time.Second, MaxIdleConns: 4, MaxIdleConnsPerHost: 2})
	full.MaxConnsPerHost = 2
	full.ReadBufferSize = 65536
	full.WriteBufferSize = 8192
	full.ForceAttemptHTTP2 = false
	full.HTTP2ReadIdleTimeout = 20 * time.Second
	full.HTTP2PingTimeout = 5 * time.Second
	full.Compression = "none"
	full.BackOffConfig = configretry.BackOffConfig{
		Enabled: true, InitialInterval: time.Second, RandomizationFactor: 0.2, Multiplier: 3,
		MaxInterval: 30 * time.Second, MaxElapsedTime: 2 * time.Minute,
	}
	full.PollInterval = 5 * time.Minute
	full.Delay = 24 * time.Hour
	full.EarlyDelay = 0
	full.InitialLookback = 720 * time.Hour
	full.PageSize = 1000
	full.RequestBudget = RequestBudgetConfig{Requests: 50, Interval: 5 * time.Minute}
	full.ResetCheckpoint = "2026-11-01"
	full.StorageID = &storageID
	full.LegacyFieldNames = true
	full.IncludeSubject = false
	full.LocalDomains = []string{"contoso.com", "fabrikam.onmicrosoft.com"}

	legacy := createDefaultConfig().(*Config)
	legacy.TenantID = "contoso.onmicrosoft.com"
	legacy.ClientID = "7a3c1d2e-0000-4000-8000-000000000001"
	legacy.ClientSecret = "s3cr3t-value"
	legacy.API = apiLegacy
	legacy.InitialLookback = 48 * time.Hour

	noRetry := createDefaultConfig().(*Config)
	noRetry.TenantID = "contoso.onmicrosoft.com"
	noRetry.ClientID = "7a3c1d2e-0000-4000-8000-000000000001"
	noRetry.ClientSecret = "s3cr3t-value"
	noRetry.BackOffConfig.Enabled = false

	for name, want := range map[string]*Config{"defaults": defaults, "full": full, "legacy": legacy, "no_retry": noRetry} {
		t.Run(name, func(t *testing.T) {
			got, err := loadConfig(t, name)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
	t.Run("typo", func(t *testing.T) {
		_, err := loadConfig(t, "typo")
		require.ErrorContains(t, err, "poll_intervall")
	})
	// Issue 12: the embedded HTTP settings stay strict about unknown keys.
	t.Run("typo in an HTTP key", func(t *testing.T) {
		_, err := loadConfig(t, "typo_http")
		require.ErrorContains(t, err, "idle_conn_timout")
	})
}

// Issue 12: the keys every collector HTTP client takes mean the same here. The receiver's keys
// endpoint, tls, proxy_url and timeout kept their names, so a configuration written before
// them loads into the same values (TestLoadConfig "full"); this checks the loaded settings
// reach the client that login and API calls use.
func TestStandardHTTPKeysReachTheClient(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	cfg.Headers = nil // the header wrapper would hide the transport; headers are checked below
	set := componenttest.NewNopTelemetrySettings()
	set.TracerProvider, set.MeterProvider = nil, nil // no otelhttp wrapper either
	client, err := newHTTPClient(t.Context(), cfg, componenttest.NewNopHost(), set)
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, client.Timeout)
	require.NotNil(t, client.CheckRedirect, "redirects stay refused")
	tr, ok := client.Transport.(*http.Transport)
	require.True(t, ok, "%T", client.Transport)
	assert.Equal(t, 30*time.Second, tr.IdleConnTimeout)
	assert.Equal(t, 4, tr.MaxIdleConns)
	assert.Equal(t, 2, tr.MaxIdleConnsPerHost)
	assert.Equal(t, 2, tr.MaxConnsPerHost)
	assert.Equal(t, 65536, tr.ReadBufferSize)
	assert.Equal(t, 8192, tr.WriteBufferSize)
	assert.False(t, tr.ForceAttemptHTTP2)
	assert.Equal(t, uint16(tls.VersionTLS13), tr.TLSClientConfig.MinVersion)
	proxy, err := tr.Proxy(httptest.NewRequest(http.MethodGet, "https://graph.microsoft.com/", http.NoBody))
	require.NoError(t, err)
	assert.Equal(t, "http://proxy.internal:3128", proxy.String())
}

// Issue 12: the flat keep-alive keys of older confighttp releases are refused naming where
// they live now.
func TestMovedKeepaliveKeysNameTheirNewPlace(t *testing.T) {
	_, err := loadConfig(t, "flat_keepalive")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "`idle_conn_timeout` moved to `keepalive.idle_conn_timeout`")
	assert.Contains(t, err.Error(), "`disable_keep_alives` moved to `keepalive.enabled`")
}

// Issue 12 with issue 11, row 10: proxy_url read from YAML lands in the redacting field, not
// in confighttp's plain string, so printing the loaded configuration hides the password; the
// client still gets the whole URL.
func TestProxyPasswordFromYAMLIsRedacted(t *testing.T) {
	cfg, err := loadConfig(t, "proxy_password")
	require.NoError(t, err)
	assert.Empty(t, cfg.ClientConfig.ProxyURL)
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	assert.Equal(t, "http://user:xxxxx@proxy.internal:3128", conf.Get("proxy_url"))
	printed := fmt.Sprintf("%#v %+v %v", conf.ToStringMap(), *cfg, cfg)
	assert.NotContains(t, printed, "pr0xy-pa55")

	client, err := newHTTPClient(t.Context(), cfg, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	require.NotNil(t, client)
	assert.Equal(t, "http://user:pr0xy-pa55@proxy.internal:3128", cfg.proxyURL())
}

func TestDefaultsPerAPI(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, "https://graph.microsoft.com", cfg.effectiveEndpoint())
	assert.Equal(t, 5000, cfg.effectivePageSize())
	assert.Equal(t, "https://graph.microsoft.com/.default", cfg.scope())
	cfg.API = apiLegacy
	assert.Equal(t, "https://reports.office365.com", cfg.effectiveEndpoint())
	assert.Equal(t, 2000, cfg.effectivePageSize())
	assert.Equal(t, "https://outlook.office365.com/.default", cfg.scope())
	cfg.TenantID = "contoso.onmicrosoft.com"
	assert.Equal(t, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", cfg.tokenURL())
}

func validConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.TenantID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	cfg.ClientID = "7a3c1d2e-0000-4000-8000-000000000001"
	cfg.ClientSecret = "s3cr3t-value"
	return cfg
}

func TestValidateErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCertificate(t, dir)
	otherCert, _ := writeTestCertificate(t, filepath.Join(dir, "other"))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // every fragment must appear in the error
	}{
		{"missing tenant", func(c *Config) { c.TenantID = "" }, []string{"`tenant_id` is required"}},
		{"bad tenant", func(c *Config) { c.TenantID = "contoso/evil" }, []string{"`tenant_id`", "neither a GUID nor a domain"}},
		{"missing client", func(c *Config) { c.ClientID = "" }, []string{"`client_id` is required"}},
		{"client not guid", func(c *Config) { c.ClientID = "my-app" }, []string{"`client_id`", "not a GUID"}},
		{"no credential", func(c *Config) { c.ClientSecret = "" }, []string{"`client_secret` or `client_certificate`"}},
		{"two credentials", func(c *Config) {
			c.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
		}, []string{"both set"}},
		{"cert without files", func(c *Config) {
			c.ClientSecret = ""
			c.ClientCertificate = &ClientCertificateConfig{}
		}, []string{"`client_certificate.cert_file` is required", "`client_certificate.key_file` is required"}},
		{"cert unreadable", func(c *Config) {
			c.ClientSecret = ""
			c.ClientCertificate = &ClientCertificateConfig{CertFile: missing, KeyFile: keyFile}
		}, []string{"`client_certificate`", "cannot read cert_file"}},
		{"cert and key mismatch", func(c *Config) {
			c.ClientSecret = ""
			c.ClientCertificate = &ClientCertificateConfig{CertFile: otherCert, KeyFile: keyFile}
		}, []string{"does not match"}},
		{"bad api", func(c *Config) { c.API = "rest" }, []string{"`api` \"rest\"", "graph", "reporting_web_service"}},
		{"login endpoint empty", func(c *Config) { c.LoginEndpoint = "" }, []string{"`login_endpoint` is required"}},
		{"login endpoint not url", func(c *Config) { c.LoginEndpoint = "login.microsoftonline.com" }, []string{"`login_endpoint`", "not an http(s) URL"}},
		{"endpoint with query", func(c *Config) { c.Endpoint = "https://graph.microsoft.com/?x=1" }, []string{"`endpoint`", "query"}},
		{"proxy not url", func(c *Config) { c.ProxyURL = "proxy:3128" }, []string{"`proxy_url`"}},
		{"timeout too small", func(c *Config) { c.Timeout = 0 }, []string{"`timeout`", "1s to 10m"}},
		{"poll interval too small", func(c *Config) { c.PollInterval = 0 }, []string{"`poll_interval`", "1s to 24h"}},
		{"delay too small", func(c *Config) { c.Delay = 0 }, []string{"`delay`", "1s to 48h"}},
		{"delay too large", func(c *Config) { c.Delay = 49 * time.Hour }, []string{"`delay`", "1s to 48h"}},
		{"early delay not below delay", func(c *Config) { c.EarlyDelay = 25 * time.Hour }, []string{"`early_delay` 25h0m0s", "less than `delay`"}},
		{"early delay too small", func(c *Config) { c.EarlyDelay = time.Millisecond }, []string{"`early_delay`", "at least 1s"}},
		{"lookback too large graph", func(c *Config) { c.InitialLookback = 91 * 24 * time.Hour }, []string{"`initial_lookback`", "2160h0m0s"}},
		{"lookback too large legacy", func(c *Config) {
			c.API = apiLegacy
			c.InitialLookback = 11 * 24 * time.Hour
		}, []string{"`initial_lookback`", "240h0m0s"}},
		{"page size graph", func(c *Config) { c.PageSize = 5001 }, []string{"`page_size` 5001", "1 to 5000"}},
		{"page size legacy", func(c *Config) {
			c.API = apiLegacy
			c.InitialLookback = 24 * time.Hour
			c.PageSize = 5000
		}, []string{"`page_size` 5000", "1 to 2000"}},
		{"page size negative", func(c *Config) { c.PageSize = -1 }, []string{"`page_size` -1"}},
		{"budget requests", func(c *Config) { c.RequestBudget.Requests = 0 }, []string{"`request_budget.requests`"}},
		{"budget interval", func(c *Config) { c.RequestBudget.Interval = 0 }, []string{"`request_budget.interval`"}},
		{"reset not a date", func(c *Config) { c.ResetCheckpoint = "yesterday" }, []string{"`reset_checkpoint`", "YYYY-MM-DD"}},
		// Issue 11, row 9: weak transport settings are refused unless opted into.
		{"http endpoint", func(c *Config) { c.Endpoint = "http://graph.example" }, []string{"`endpoint` uses http://", "`allow_insecure_http: true`"}},
		{"http login endpoint", func(c *Config) { c.LoginEndpoint = "http://login.example" }, []string{"`login_endpoint` uses http://", "`allow_insecure_http: true`"}},
		{"tls 1.0", func(c *Config) { c.TLS.MinVersion = "1.0" }, []string{"`tls.min_version` must be \"1.2\" or \"1.3\", got \"1.0\""}},
		{"tls 1.1", func(c *Config) { c.TLS.MinVersion = "1.1" }, []string{"`tls.min_version`"}},
		{"tls max 1.1", func(c *Config) { c.TLS.MaxVersion = "1.1" }, []string{"`tls.max_version`"}},
		// Issue 12: confighttp settings that would undo the receiver's own login.
		{"auth extension", func(c *Config) {
			c.Auth = configoptional.Some(configauth.Config{AuthenticatorID: component.MustNewID("bearertokenauth")})
		}, []string{"`auth` is not supported", "client_secret or client_certificate"}},
		{"authorization header", func(c *Config) {
			c.Headers = configopaque.MapList{{Name: "authorization", Value: "Bearer x"}}
		}, []string{"`headers` must not set Authorization"}},
		{"compression", func(c *Config) { c.Compression = "gzip" }, []string{"`compression` \"gzip\" is not supported", "set it to none"}},
		{"retry initial 0", func(c *Config) { c.BackOffConfig.InitialInterval = 0 }, []string{"`retry_on_failure.initial_interval` 0s", "more than 0"}},
		{"retry max below initial", func(c *Config) { c.BackOffConfig.MaxInterval = time.Second }, []string{"`retry_on_failure.max_interval` 1s is less than"}},
		{"retry multiplier", func(c *Config) { c.BackOffConfig.Multiplier = 0.5 }, []string{"`retry_on_failure.multiplier` 0.5"}},
		// configretry's own checks still run, under the key's path.
		{"retry randomization", func(c *Config) { c.BackOffConfig.RandomizationFactor = 2 }, []string{"retry_on_failure", "randomization_factor"}},
		{"retry elapsed below interval", func(c *Config) { c.BackOffConfig.MaxElapsedTime = time.Second }, []string{"retry_on_failure", "max_elapsed_time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(cfg)
			err := confmap.Validate(cfg)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "s3cr3t-value", "a secret leaked into an error")
		})
	}
	t.Run("retry disabled skips the receiver's retry checks", func(t *testing.T) {
		cfg := validConfig()
		cfg.BackOffConfig = configretry.BackOffConfig{Enabled: false}
		require.NoError(t, confmap.Validate(cfg))
	})
	t.Run("other headers are fine", func(t *testing.T) {
		cfg := validConfig()
		cfg.Headers = configopaque.MapList{{Name: "X-Route", Value: "blue"}}
		cfg.Compression = "none"
		require.NoError(t, confmap.Validate(cfg))
	})
	t.Run("valid certificate", func(t *testing.T) {
		cfg := validConfig()
		cfg.ClientSecret = ""
		cfg.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
		require.NoError(t, confmap.Validate(cfg))
	})
}

// Issue 11, row 9: http:// is accepted with the explicit opt-in, and each weak setting is named
// for the warning at start.
func TestInsecureSettingsNeedOptInAndAreWarned(t *testing.T) {
	cfg, err := loadConfig(t, "insecure")
	require.NoError(t, err)
	assert.True(t, cfg.AllowInsecureHTTP)
	weak := strings.Join(cfg.weakSettings(), "\n")
	assert.Contains(t, weak, "allow_insecure_http: true")
	assert.Contains(t, weak, "tls.insecure_skip_verify: true")
	assert.Empty(t, validConfig().weakSettings(), "the defaults are not weak")

	cfg.AllowInsecureHTTP = false
	require.ErrorContains(t, confmap.Validate(cfg), "allow_insecure_http")
}

// Issue 11, row 10: the proxy password never appears where the configuration is printed.
func TestProxyPasswordIsRedacted(t *testing.T) {
	cfg := validConfig()
	cfg.ProxyURL = "http://user:pr0xy-pa55@proxy.internal:3128"
	require.NoError(t, confmap.Validate(cfg))
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	printed := fmt.Sprintf("%#v", conf.ToStringMap()) // %#v: the value as stored, not its String()
	assert.NotContains(t, printed, "pr0xy-pa55")
	assert.Contains(t, printed, "proxy.internal:3128", "the proxy itself is still shown")
	assert.NotContains(t, fmt.Sprintf("%v %s %+v", cfg.ProxyURL, cfg.ProxyURL, *cfg), "pr0xy-pa55")
	// The receiver still uses the real URL.
	assert.Equal(t, "http://user:pr0xy-pa55@proxy.internal:3128", string(cfg.ProxyURL))
}

func TestSecretIsRedacted(t *testing.T) {
	cfg := validConfig()
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	assert.NotContains(t, strings.Join([]string{conf.Get("client_secret").(string)}, ""), "s3cr3t-value")
}
