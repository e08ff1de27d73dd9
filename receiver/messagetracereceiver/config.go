package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
)

// Bounds of the accepted configuration.
const (
	minDelay           = time.Second
	maxDelay           = 48 * time.Hour
	defaultLoginURL    = "https://login.microsoftonline.com"
	resetCheckpointFmt = "2006-01-02"
)

// Config is the receiver's user contract; the key names match the seeds' concepts (see README).
type Config struct {
	// TenantID is the Entra ID tenant (GUID or verified domain) whose message trace is read.
	TenantID string `mapstructure:"tenant_id"`
	// ClientID is the application (client) id of the app registration.
	ClientID string `mapstructure:"client_id"`
	// ClientSecret authenticates the app; exactly one of ClientSecret and ClientCertificate is set.
	ClientSecret configopaque.String `mapstructure:"client_secret"`
	// ClientCertificate authenticates the app with a signed JWT assertion (private_key_jwt).
	ClientCertificate *ClientCertificateConfig `mapstructure:"client_certificate"`
	// FederatedTokenFile authenticates the app with a token another issuer wrote into this file
	// (workload identity federation: AKS sets AZURE_FEDERATED_TOKEN_FILE); it is read again
	// for every login because the issuer rotates it (federated.go).
	FederatedTokenFile string `mapstructure:"federated_token_file"`
	// ManagedIdentity takes tokens from the Azure managed identity endpoint of this machine
	// instead of logging in as an app (managedidentity.go).
	ManagedIdentity *ManagedIdentityConfig `mapstructure:"managed_identity"`
	// API selects Microsoft Graph (graph) or the legacy Reporting Web Service.
	API string `mapstructure:"api"`
	// LoginEndpoint is the Entra ID authority host.
	LoginEndpoint string `mapstructure:"login_endpoint"`
	// ClientConfig holds the HTTP settings of login and API calls under the keys every collector
	// HTTP client has (endpoint, tls, proxy_url, timeout, headers, keepalive, ...). Endpoint is
	// the API root; empty means the default of the selected API. It is embedded so that
	// cfg.Endpoint, cfg.TLS and cfg.Timeout read as before; Config's own Unmarshal keeps a
	// future confighttp Unmarshal from swallowing the sibling keys. Build the client with
	// newHTTPClient, not the promoted ToClient: only it refuses redirects and sets the proxy.
	confighttp.ClientConfig `mapstructure:",squash"`
	// ProxyURL routes login and API calls through an HTTP proxy; its password is redacted
	// wherever the configuration is printed. It shadows ClientConfig.ProxyURL (same key), a
	// plain string that print-config would show in full: Unmarshal moves the value here, and
	// the HTTP client gets it back when it is built.
	ProxyURL ProxyURL `mapstructure:"proxy_url"`
	// AllowInsecureHTTP accepts http:// in endpoint and login_endpoint, which sends the client
	// secret and bearer tokens in clear text: for local stand-ins only, and warned about.
	AllowInsecureHTTP bool `mapstructure:"allow_insecure_http"`
	// BackOffConfig is the retry of one page request after a transient failure (5xx, timeout,
	// a cut or non-JSON body). 429s and Retry-After are honoured apart from it.
	BackOffConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// PollInterval is how often the receiver walks forward from its checkpoint.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// Delay is how far behind now the settled pass stays: rows can appear up to 24 h late.
	Delay time.Duration `mapstructure:"delay"`
	// EarlyDelay is how far behind now the early pass stays; 0 turns the early pass off.
	EarlyDelay time.Duration `mapstructure:"early_delay"`
	// InitialLookback is how far back the first run (or a reset) starts.
	InitialLookback time.Duration `mapstructure:"initial_lookback"`
	// PageSize is $top; 0 means the API's maximum (graph 5000, legacy 2000).
	PageSize int `mapstructure:"page_size"`
	// RequestBudget is the client-side rolling limit on API requests.
	RequestBudget RequestBudgetConfig `mapstructure:"request_budget"`
	// ResetCheckpoint (YYYY-MM-DD) discards the stored checkpoint whenever its value changes.
	ResetCheckpoint string `mapstructure:"reset_checkpoint"`
	// StorageID names the storage extension that keeps the checkpoint; nil keeps it in memory.
	StorageID *component.ID `mapstructure:"storage"`
	// LegacyFieldNames makes bodies use the Reporting Web Service names and value forms.
	LegacyFieldNames bool `mapstructure:"legacy_field_names"`
	// IncludeSubject keeps the subject in bodies and attributes; false drops it everywhere.
	IncludeSubject bool `mapstructure:"include_subject"`
	// Details is the opt-in enrichment with message trace details (details_config.go).
	Details DetailsConfig `mapstructure:"details"`
	// LocalDomains, when set, gives each row its direction (direction.go).
	LocalDomains []string `mapstructure:"local_domains"`

	// federatedKeySet says that federated_token_file was written, even if it came out empty
	// (an unset ${env:AZURE_FEDERATED_TOKEN_FILE}), so that the error names that key.
	federatedKeySet bool

	_ struct{}
}

// ClientCertificateConfig names the PEM certificate registered on the app and its RSA key.
type ClientCertificateConfig struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`

	_ struct{}
}

// RequestBudgetConfig is a rolling window: at most Requests API calls per Interval.
type RequestBudgetConfig struct {
	Requests int           `mapstructure:"requests"`
	Interval time.Duration `mapstructure:"interval"`

	_ struct{}
}

var (
	errMissingTenantID         = errors.New("`tenant_id` is required: set it to the Directory (tenant) ID GUID or a verified domain such as contoso.onmicrosoft.com")
	errMissingClientID         = errors.New("`client_id` is required: set it to the Application (client) ID of the app registration")
	errFederatedTokenFileEmpty = errors.New("`federated_token_file` is empty: set it to the path of the workload's token file (on AKS ${env:AZURE_FEDERATED_TOKEN_FILE}; is that variable set in the collector's environment?)")
	errNoCredential            = errors.New("one of `client_secret` or `client_certificate` (or `federated_token_file`, `managed_identity`) is required: set client_secret (e.g. ${env:O365_CLIENT_SECRET}), client_certificate.cert_file and key_file, federated_token_file (e.g. ${env:AZURE_FEDERATED_TOKEN_FILE}) or managed_identity: {}")

	guidPattern   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainPattern = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$`)
)

// Validate checks every key and names the key, the problem and the accepted range.
func (c *Config) Validate() error {
	errs := c.validateIdentity()
	errs = append(errs, c.validateTransport()...)
	errs = append(errs, c.validateHTTPClient()...)
	errs = append(errs, c.validateRetry()...)
	errs = append(errs, c.validateSchedule()...)
	if err := c.Details.validate(c.RequestBudget.Requests); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validateLocalDomains(c.LocalDomains)...)
	return errors.Join(errs...)
}

// validateIdentity checks who logs in: tenant, app and exactly one credential.
func (c *Config) validateIdentity() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.TenantID == "":
		errs = append(errs, errMissingTenantID)
	case !guidPattern.MatchString(c.TenantID) && !domainPattern.MatchString(c.TenantID):
		add("`tenant_id` %q is neither a GUID nor a domain name: use the Directory (tenant) ID from the app's Overview page", c.TenantID)
	}
	mi := c.ManagedIdentity != nil
	switch {
	case mi && c.ClientID != "":
		// A managed identity is not an app registration: its client id belongs under managed_identity.
		add("`client_id` is set together with `managed_identity`: a managed identity needs no app registration; remove client_id, or move it to `managed_identity.client_id` if it is the client id of a user-assigned identity")
	case mi:
	case c.ClientID == "":
		errs = append(errs, errMissingClientID)
	case !guidPattern.MatchString(c.ClientID):
		add("`client_id` %q is not a GUID: use the Application (client) ID from the app's Overview page, not its name or the secret ID", c.ClientID)
	}
	kinds := c.credentialKeys()
	switch {
	case len(kinds) == 0:
		errs = append(errs, errNoCredential)
	case len(kinds) > 1:
		both := "are both set"
		if len(kinds) > 2 {
			both = "are all set"
		}
		add("%s %s: keep exactly one credential per receiver", "`"+strings.Join(kinds, "` and `")+"`", both)
	case c.ClientCertificate != nil:
		if err := c.ClientCertificate.validate(); err != nil {
			errs = append(errs, err)
		}
	case c.federatedKeySet || c.FederatedTokenFile != "":
		// Only what the configuration says: the file is read at every login, where a problem
		// with it is that tenant's setup problem, so `validate` works away from the pod and
		// one tenant's missing file stops no other.
		if c.FederatedTokenFile == "" {
			errs = append(errs, errFederatedTokenFileEmpty)
		}
	case mi:
		errs = append(errs, c.ManagedIdentity.validate()...)
	}
	return errs
}

// credentialKeys are the keys of the credentials that are set; exactly one must be.
func (c *Config) credentialKeys() []string {
	var keys []string
	if c.ClientSecret != "" {
		keys = append(keys, "client_secret")
	}
	if c.ClientCertificate != nil {
		keys = append(keys, "client_certificate")
	}
	if c.federatedKeySet || c.FederatedTokenFile != "" {
		keys = append(keys, "federated_token_file")
	}
	if c.ManagedIdentity != nil {
		keys = append(keys, "managed_identity")
	}
	return keys
}

// validateTransport checks where credentials go and how: endpoints, proxy, TLS, timeout.
func (c *Config) validateTransport() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if apiNamed(c.API) == nil {
		add("`api` %q is not supported: use graph (Microsoft Graph messageTraces) or reporting_web_service (legacy, being retired by Microsoft)", c.API)
	}
	if err := validateURL("login_endpoint", c.LoginEndpoint, false); err != nil {
		errs = append(errs, err)
	}
	if err := validateURL("endpoint", c.Endpoint, true); err != nil {
		errs = append(errs, err)
	}
	for _, kv := range [][2]string{{"login_endpoint", c.LoginEndpoint}, {"endpoint", c.Endpoint}} {
		if key, raw := kv[0], kv[1]; isHTTP(raw) && !c.AllowInsecureHTTP {
			add("`%s` uses http://, which would send the client secret and bearer tokens in clear text: use https://, or set `allow_insecure_http: true` (only for a local test stand-in)", key)
		}
	}
	if proxy := c.proxyURL(); proxy != "" {
		// A plain-http proxy is the usual kind: https requests go through it in a CONNECT tunnel.
		if err := validateURL("proxy_url", proxy, true); err != nil {
			errs = append(errs, err)
		}
	}
	// As the Devo exporter: Microsoft requires TLS 1.2 or newer, and older versions are broken.
	if v := c.TLS.MinVersion; v == "1.0" || v == "1.1" {
		add("`tls.min_version` must be \"1.2\" or \"1.3\", got %q: Microsoft requires TLS 1.2 or newer", v)
	}
	if v := c.TLS.MaxVersion; v == "1.0" || v == "1.1" {
		add("`tls.max_version` must be \"1.2\", \"1.3\" or empty, got %q: Microsoft requires TLS 1.2 or newer", v)
	}
	if c.Timeout < time.Second || c.Timeout > 10*time.Minute {
		add("`timeout` %v is out of range: use 1s to 10m (Microsoft needs 2-4 s for a 5,000-row page)", c.Timeout)
	}
	return errs
}

// validateSchedule checks what is read when: intervals, delays, lookback, pages, budget.
func (c *Config) validateSchedule() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	api := c.api() // graph's limits when `api` is unknown (validateTransport reports it)
	maxLookback, maxPage := api.maxLookback(), api.maxPageSize()
	if c.PollInterval < time.Second || c.PollInterval > 24*time.Hour {
		add("`poll_interval` %v is out of range: use 1s to 24h", c.PollInterval)
	}
	if c.Delay < minDelay || c.Delay > maxDelay {
		add("`delay` %v is out of range: use 1s to 48h (Microsoft publishes rows up to 24 h late; 25h loses none)", c.Delay)
	}
	if c.EarlyDelay != 0 && (c.EarlyDelay < time.Second || c.EarlyDelay >= c.Delay) {
		add("`early_delay` %v is out of range: use 0 (no early pass) or at least 1s and less than `delay` (%v)", c.EarlyDelay, c.Delay)
	}
	if c.InitialLookback <= 0 || c.InitialLookback > maxLookback {
		add("`initial_lookback` %v is out of range for api %s: use more than 0 and at most %v (the API refuses older data)", c.InitialLookback, c.API, maxLookback)
	}
	if c.PageSize < 0 || c.PageSize > maxPage {
		add("`page_size` %d is out of range for api %s: use 1 to %d, or 0 for %d", c.PageSize, c.API, maxPage, maxPage)
	}
	if c.RequestBudget.Requests < 1 {
		add("`request_budget.requests` %d is out of range: use at least 1 (Graph allows 100 per 5 minutes per tenant, shared with people and other tools)", c.RequestBudget.Requests)
	}
	if c.RequestBudget.Interval < time.Second {
		add("`request_budget.interval` %v is out of range: use at least 1s (Graph's window is 5m)", c.RequestBudget.Interval)
	}
	if c.ResetCheckpoint != "" {
		if _, err := time.Parse(resetCheckpointFmt, c.ResetCheckpoint); err != nil {
			add("`reset_checkpoint` %q is not a date: use YYYY-MM-DD, e.g. 2026-11-21, or leave it empty", c.ResetCheckpoint)
		}
	}
	return errs
}

// validateHTTPClient refuses the confighttp settings that would undo the receiver's own login:
// the secret and the bearer token go only to login_endpoint and endpoint, in the form Microsoft
// takes.
func (c *Config) validateHTTPClient() []error {
	var errs []error
	if c.Auth.HasValue() {
		errs = append(errs, errors.New("`auth` is not supported: the receiver logs in itself with client_secret or client_certificate, and an authenticator extension would replace its bearer token; remove `auth`"))
	}
	for name := range c.Headers.Iter {
		if strings.EqualFold(name, "Authorization") {
			errs = append(errs, errors.New("`headers` must not set Authorization: it would replace the bearer token of every API call and reach the login endpoint too; remove it (the receiver logs in with client_secret or client_certificate)"))
		}
	}
	if c.Compression.IsCompressed() {
		errs = append(errs, fmt.Errorf("`compression` %q is not supported: it compresses request bodies, and the receiver's only body is the token request, which Microsoft's login endpoint takes uncompressed; responses are asked for gzip-compressed without it. Remove `compression` or set it to none", string(c.Compression)))
	}
	return errs
}

// validateRetry bounds retry_on_failure beyond configretry's own checks: a zero wait or a
// shrinking one would spend the tenant's request quota on a failing page in a tight loop.
func (c *Config) validateRetry() []error {
	b := c.BackOffConfig
	if !b.Enabled {
		return nil
	}
	var errs []error
	if b.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf("`retry_on_failure.initial_interval` %v is out of range: use more than 0, e.g. 2s (or `retry_on_failure.enabled: false` to end the poll at the first failure)", b.InitialInterval))
	}
	if b.MaxInterval < b.InitialInterval {
		errs = append(errs, fmt.Errorf("`retry_on_failure.max_interval` %v is less than `retry_on_failure.initial_interval` %v: use at least the initial interval, e.g. 1m", b.MaxInterval, b.InitialInterval))
	}
	if b.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("`retry_on_failure.multiplier` %v is out of range: use 1 (constant waits) or more, e.g. 2", b.Multiplier))
	}
	return errs
}

// proxyURL is the proxy to use: ProxyURL, or ClientConfig.ProxyURL when a configuration built
// in code set only that one.
func (c *Config) proxyURL() string {
	if c.ProxyURL != "" {
		return string(c.ProxyURL)
	}
	return c.ClientConfig.ProxyURL
}

// movedKeys are confighttp client keys that older collector releases took at the top level and
// that now live in the keepalive section; copied from another component's configuration, they
// would otherwise be refused as unknown without a hint.
var movedKeys = []struct{ old, new string }{
	{"disable_keep_alives", "keepalive.enabled"},
	{"idle_conn_timeout", "keepalive.idle_conn_timeout"},
	{"max_idle_conns", "keepalive.max_idle_conns"},
	{"max_idle_conns_per_host", "keepalive.max_idle_conns_per_host"},
}

// Unmarshal decodes the configuration and moves proxy_url out of the embedded confighttp
// settings into ProxyURL, whose printed form hides the password. Before decoding it answers
// the keys of other collectors with ours and a bare number for a duration with the unit it
// needs (foreignkeys.go): mapstructure would say "has invalid keys" and read 300 as 300ns.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	errs := foreignKeyErrors(conf)
	errs = append(errs, bareDurationErrors(conf)...)
	for _, k := range movedKeys {
		if conf.IsSet(k.old) {
			errs = append(errs, fmt.Errorf("`%s` moved to `%s`: write it under keepalive, as every collector HTTP client takes it (disable_keep_alives: true becomes keepalive: {enabled: false})", k.old, k.new))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	c.federatedKeySet = conf.IsSet("federated_token_file")
	if c.ManagedIdentity == nil && conf.IsSet("managed_identity") {
		// `managed_identity:` with nothing under it is the system-assigned identity, as {} is.
		c.ManagedIdentity = &ManagedIdentityConfig{}
	}
	if c.ClientConfig.ProxyURL != "" {
		c.ProxyURL = ProxyURL(c.ClientConfig.ProxyURL)
		c.ClientConfig.ProxyURL = ""
	}
	return nil
}

func (cc *ClientCertificateConfig) validate() error {
	var errs []error
	if cc.CertFile == "" {
		errs = append(errs, errors.New("`client_certificate.cert_file` is required: the PEM certificate uploaded to the app registration"))
	}
	if cc.KeyFile == "" {
		errs = append(errs, errors.New("`client_certificate.key_file` is required: the PEM RSA private key of that certificate"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if _, err := loadCertificate(cc.CertFile, cc.KeyFile); err != nil {
		return fmt.Errorf("`client_certificate`: %w", err)
	}
	return nil
}

func validateURL(key, raw string, emptyOK bool) error {
	if raw == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("`%s` is required: use an https URL such as %s", key, defaultLoginURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parser's error quotes the URL, which may hold proxy credentials.
		return fmt.Errorf("`%s` is not a valid URL: use the form https://host[:port]", key)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("`%s` %q is not an http(s) URL: use the form https://host[:port]", key, u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("`%s` %q must not have a query or fragment: use the form https://host[:port]", key, u.Redacted())
	}
	return nil
}

func isHTTP(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && strings.EqualFold(u.Scheme, "http")
}

// ProxyURL is a proxy URL whose password is redacted when the configuration is printed
// (print-config, logs of the configuration): proxies often take credentials in the URL.
type ProxyURL string

// String is the URL with the password redacted.
func (p ProxyURL) String() string {
	u, err := url.Parse(string(p))
	if err != nil {
		return "[unparsable URL redacted]"
	}
	return u.Redacted()
}

// MarshalText redacts the password, as configopaque.String does for secrets.
func (p ProxyURL) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// weakSettings lists the opt-in settings that weaken transport security, for the warnings at
// start-up.
func (c *Config) weakSettings() []string {
	var out []string
	if c.AllowInsecureHTTP && (isHTTP(c.LoginEndpoint) || isHTTP(c.Endpoint)) {
		out = append(out, "allow_insecure_http: true with an http:// endpoint or login_endpoint: the client secret and bearer tokens travel in clear text")
	}
	if mi := c.ManagedIdentity; mi != nil && mi.Endpoint != "" && mi.Endpoint != imdsTokenURL {
		out = append(out, "managed_identity.endpoint is set: tokens come from that test stand-in, not from this machine's Instance Metadata Service")
	}
	if c.TLS.InsecureSkipVerify {
		out = append(out, "tls.insecure_skip_verify: true: the server certificate is not checked, so anyone on the path can read the client secret and bearer tokens")
	}
	return out
}

// api is the API `api` selects; Validate has refused any other value.
func (c *Config) api() traceAPI {
	if api := apiNamed(c.API); api != nil {
		return api
	}
	return graphAPI{}
}

// effectiveEndpoint is the API root with the API's default filled in and no trailing slash.
func (c *Config) effectiveEndpoint() string {
	if c.Endpoint != "" {
		return strings.TrimRight(c.Endpoint, "/")
	}
	return c.api().defaultEndpoint()
}

// effectivePageSize is $top with the API's maximum filled in.
func (c *Config) effectivePageSize() int {
	if c.PageSize > 0 {
		return c.PageSize
	}
	return c.api().maxPageSize()
}

// scope is the OAuth2 scope of the selected API.
func (c *Config) scope() string { return c.api().scope(c.effectiveEndpoint()) }

// tokenURL is the v2.0 token endpoint of the tenant.
func (c *Config) tokenURL() string {
	return strings.TrimRight(c.LoginEndpoint, "/") + "/" + url.PathEscape(c.TenantID) + "/oauth2/v2.0/token"
}
