package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

// ManagedIdentityConfig selects the Azure managed identity whose tokens the receiver uses.
// Empty, it is the machine's system-assigned identity; ClientID or ResourceID pick a
// user-assigned one.
type ManagedIdentityConfig struct {
	// ClientID is the client id of a user-assigned identity.
	ClientID string `mapstructure:"client_id"`
	// ResourceID is the Azure resource id of a user-assigned identity
	// (/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME).
	ResourceID string `mapstructure:"resource_id"`
	// Endpoint replaces the Instance Metadata Service's token URL, for tests against a
	// stand-in: it takes only that address over http, or https on loopback.
	Endpoint string `mapstructure:"endpoint"`

	_ struct{}
}

const (
	// imdsTokenURL is the Instance Metadata Service's token endpoint: plain HTTP to a link-local
	// address that only this VM reaches, the one non-TLS endpoint the receiver calls.
	imdsTokenURL = "http://169.254.169.254/metadata/identity/oauth2/token" //nolint:gosec // G101: an endpoint URL, not a credential
	imdsHost     = "169.254.169.254"
	// maxMetadataBody bounds what is read of an answer: a token answer is 2-3 KiB.
	maxMetadataBody = 64 << 10
	// maxArcKeyBytes bounds the Azure Arc challenge key file (Microsoft's own clients: 4 KiB).
	maxArcKeyBytes = 4096
	// maxMetadataTokenLifetime bounds what the answer may claim, so a broken endpoint cannot
	// make the receiver keep a token for years. A longer claim is cut to it, not refused:
	// managed identity tokens live "around 24 hours" and some are issued for a few minutes more
	// (tokenProvider clamps a login's token the same way).
	maxMetadataTokenLifetime = 24 * time.Hour
)

// Managed identity endpoint kinds: the metadata service of VMs and scale sets, App Service
// (and Functions), and the Azure Arc agent of a server outside Azure.
const (
	metadataIMDS       = "imds"
	metadataAppService = "app_service"
	metadataArc        = "arc"
)

func (m *ManagedIdentityConfig) validate() []error {
	var errs []error
	if m.ClientID != "" && m.ResourceID != "" {
		errs = append(errs, errors.New("`managed_identity.client_id` and `managed_identity.resource_id` are both set: a user-assigned identity is named by one of them; keep one"))
	}
	if m.ClientID != "" && !guidPattern.MatchString(m.ClientID) {
		errs = append(errs, fmt.Errorf("`managed_identity.client_id` %q is not a GUID: use the identity's Client ID (az identity show --query clientId)", quote.Value(m.ClientID)))
	}
	if m.ResourceID != "" && !strings.HasPrefix(strings.ToLower(m.ResourceID), "/subscriptions/") {
		errs = append(errs, fmt.Errorf("`managed_identity.resource_id` %q is not an Azure resource id: use /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME (az identity show --query id)", quote.Value(m.ResourceID)))
	}
	if m.Endpoint != "" {
		if err := checkMetadataEndpoint(m.Endpoint); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// checkMetadataEndpoint allows the metadata service's own address over plain HTTP and, for a
// test stand-in, https on loopback; nothing else, since the answer is a bearer token.
func checkMetadataEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("`managed_identity.endpoint` is not a plain URL: leave it empty (the Instance Metadata Service, %s); it is only for test stand-ins", imdsTokenURL)
	}
	switch {
	case u.Scheme == "http" && u.Hostname() == imdsHost && (u.Port() == "" || u.Port() == "80"):
		return nil
	case u.Scheme == "https" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("`managed_identity.endpoint` %q is refused: only the Instance Metadata Service (%s, the default) or an https stand-in on loopback may hand out tokens; leave it empty", quote.Value(u.Redacted()), imdsTokenURL)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// metadataTarget is where tokens come from and how to ask.
type metadataTarget struct {
	kind   string
	url    string
	secret string // App Service's IDENTITY_HEADER: a credential of its own
}

// resolveMetadataTarget picks the endpoint: managed_identity.endpoint when set, else what the
// environment of App Service (IDENTITY_ENDPOINT and IDENTITY_HEADER) or of the Azure Arc agent
// (IDENTITY_ENDPOINT and IMDS_ENDPOINT) says, else the Instance Metadata Service. Both
// platforms serve their endpoint on the machine itself, so their plain HTTP is accepted on
// loopback only.
func resolveMetadataTarget(m *ManagedIdentityConfig, getenv func(string) string) (metadataTarget, error) {
	if m.Endpoint != "" {
		return metadataTarget{kind: metadataIMDS, url: m.Endpoint}, nil
	}
	endpoint := getenv("IDENTITY_ENDPOINT")
	var t metadataTarget
	switch {
	case endpoint == "":
		return metadataTarget{kind: metadataIMDS, url: imdsTokenURL}, nil
	case getenv("IDENTITY_HEADER") != "":
		t = metadataTarget{kind: metadataAppService, url: endpoint, secret: getenv("IDENTITY_HEADER")}
	case getenv("IMDS_ENDPOINT") != "":
		t = metadataTarget{kind: metadataArc, url: endpoint}
		if m.ClientID != "" || m.ResourceID != "" {
			return t, errors.New("`managed_identity.client_id`/`resource_id` is set, but this is an Azure Arc server (IDENTITY_ENDPOINT and IMDS_ENDPOINT are set), which has only its system-assigned identity: remove them")
		}
	default:
		return metadataTarget{kind: metadataIMDS, url: imdsTokenURL}, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.User != nil || !offTheWire(u) {
		return t, errors.New("`managed_identity`: the environment's IDENTITY_ENDPOINT is neither https nor on loopback; the receiver sends no identity request in clear text over the network (unset IDENTITY_ENDPOINT to use the Instance Metadata Service)")
	}
	return t, nil
}

// offTheWire says whether a request to u crosses no network in clear text: TLS, or plain
// HTTP that stays on this machine.
func offTheWire(u *url.URL) bool {
	return u.Scheme == "https" || (u.Scheme == "http" && isLoopbackHost(u.Hostname()))
}

// metadataSource asks the managed identity endpoint for one token per call; tokenProvider
// caches and renews it like a login's.
type metadataSource struct {
	ctx        context.Context
	http       *http.Client
	target     metadataTarget
	resource   string // the API's root: Graph, or https://outlook.office365.com
	clientID   string
	resourceID string
	now        func() time.Time
	arcKeyDir  string // where the Arc agent writes challenge keys; a seam for tests
}

// defaultArcKeyDir is the only directory an Arc challenge may point at: the agent writes its
// keys there, readable by root and the himds group.
func defaultArcKeyDir() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("ProgramData"), "AzureConnectedMachineAgent", "Tokens")
	}
	return "/var/opt/azcmagent/tokens"
}

func (s *metadataSource) Token() (*oauth2.Token, error) {
	resp, err := s.get("")
	if err != nil {
		return nil, err
	}
	key := ""
	if s.target.kind == metadataArc && resp.StatusCode == http.StatusUnauthorized {
		challenge := resp.Header.Get("WWW-Authenticate")
		drain(resp)
		if key, err = s.arcKey(challenge); err != nil {
			return nil, err
		}
		if resp, err = s.get(key); err != nil {
			return nil, err
		}
	}
	defer drain(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBody+1))
	if err != nil {
		return nil, fmt.Errorf("managed identity endpoint (%s): reading the answer: %w", s.target.kind, err)
	}
	if len(body) > maxMetadataBody {
		return nil, fmt.Errorf("managed identity endpoint (%s): the answer is larger than %d KiB", s.target.kind, maxMetadataBody>>10)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, s.refusal(resp.StatusCode, body, s.target.secret, key)
	}
	return s.parse(body)
}

// get sends one token request; arcKey is the Arc challenge's answer, "" on the first try.
func (s *metadataSource) get(arcKey string) (*http.Response, error) {
	q := url.Values{"resource": {s.resource}}
	switch s.target.kind {
	case metadataAppService:
		q.Set("api-version", "2019-08-01")
		if s.clientID != "" {
			q.Set("client_id", s.clientID)
		}
		if s.resourceID != "" {
			q.Set("mi_res_id", s.resourceID)
		}
	case metadataArc:
		q.Set("api-version", "2020-06-01")
	default:
		q.Set("api-version", "2018-02-01")
		if s.clientID != "" {
			q.Set("client_id", s.clientID)
		}
		if s.resourceID != "" {
			q.Set("msi_res_id", s.resourceID)
		}
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, s.target.url+"?"+q.Encode(), http.NoBody)
	if err != nil {
		return nil, &setupError{msg: "managed identity: cannot build the token request; check managed_identity.endpoint and IDENTITY_ENDPOINT"}
	}
	if s.target.kind == metadataAppService {
		req.Header.Set("X-IDENTITY-HEADER", s.target.secret)
	} else {
		req.Header.Set("Metadata", "true")
	}
	if arcKey != "" {
		req.Header.Set("Authorization", "Basic "+arcKey)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		var se *setupError
		if errors.As(err, &se) { // a refused redirect
			return nil, se
		}
		return nil, fmt.Errorf("managed identity endpoint (%s) unreachable: %w", s.target.kind, stripURLError(err))
	}
	return resp, nil
}

// arcKey reads the key file an Arc agent's challenge names. The file must lie in the agent's
// key directory and be small: the challenge comes from whatever answers on the port, and the
// content is sent back to it.
func (s *metadataSource) arcKey(challenge string) (string, error) {
	_, path, ok := strings.Cut(challenge, "Basic realm=")
	if !ok {
		return "", &setupError{msg: "the Azure Arc identity endpoint answered 401 without a Basic realm challenge; check that IDENTITY_ENDPOINT is the Arc agent's (himds)"}
	}
	path = filepath.Clean(strings.Trim(strings.TrimSpace(path), `"`))
	dir := s.arcKeyDir
	if dir == "" {
		dir = defaultArcKeyDir()
	}
	if filepath.Dir(path) != filepath.Clean(dir) || filepath.Ext(path) != ".key" {
		return "", &setupError{msg: "the Azure Arc identity endpoint's challenge names a file outside " + dir + ": refused; check that IDENTITY_ENDPOINT is the Arc agent's (himds)"}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", &setupError{msg: "cannot read the Azure Arc challenge key " + path + ": " + unwrapPathError(err).Error() + "; run the collector as a member of the himds group (or root)"}
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxArcKeyBytes+1))
	if err != nil || len(raw) == 0 || len(raw) > maxArcKeyBytes {
		return "", &setupError{msg: "the Azure Arc challenge key " + path + " is unreadable, empty or larger than 4 KiB; check the Arc agent"}
	}
	return strings.TrimSpace(string(raw)), nil
}

// refusal classifies an error answer. 400 is Microsoft's "identity not found" (no such
// user-assigned identity on this machine, or no system-assigned one): a setup problem. 404,
// 410 (the service is updating), 429 and 5xx pass. What the endpoint said is scrubbed of the
// credentials the request carried (App Service's header, Arc's key) before it is quoted.
func (s *metadataSource) refusal(status int, body []byte, sent ...string) error {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	said := ""
	if json.Unmarshal(body, &e) == nil && (e.Error != "" || e.Description != "") {
		said = "; it said: " + quote.Text(scrub(firstLine(strings.TrimSpace(e.Error+" "+e.Description)), sent...))
	}
	switch status {
	case http.StatusBadRequest:
		return &setupError{tenantSide: true, msg: fmt.Sprintf("the managed identity endpoint (%s) answered 400: this machine has no such identity%s. "+
			"Assign the identity to the VM (or turn on its system-assigned identity) and check managed_identity.client_id or resource_id", s.target.kind, said)}
	case http.StatusUnauthorized, http.StatusForbidden:
		return &setupError{msg: fmt.Sprintf("the managed identity endpoint (%s) answered %d%s; check managed_identity and the platform's identity settings", s.target.kind, status, said)}
	}
	return fmt.Errorf("managed identity endpoint (%s) answered HTTP %d", s.target.kind, status)
}

// flexNumber is a number the metadata service may send as a JSON string ("3599") or number.
type flexNumber string

func (f *flexNumber) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexNumber(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexNumber(n)
	return nil
}

func (f flexNumber) seconds() (int64, bool) {
	n, err := strconv.ParseInt(string(f), 10, 64)
	return n, err == nil
}

// parse checks an answer before believing it: a token, for the resource asked for, with a
// bounded lifetime.
func (s *metadataSource) parse(body []byte) (*oauth2.Token, error) {
	var a struct {
		AccessToken string     `json:"access_token"`
		TokenType   string     `json:"token_type"`
		ExpiresIn   flexNumber `json:"expires_in"`
		ExpiresOn   flexNumber `json:"expires_on"`
		Resource    string     `json:"resource"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.AccessToken == "" {
		return nil, fmt.Errorf("managed identity endpoint (%s) answered 200 without a token", s.target.kind)
	}
	if a.TokenType != "" && !strings.EqualFold(a.TokenType, "Bearer") {
		return nil, fmt.Errorf("managed identity endpoint (%s) answered a %q token, not Bearer", s.target.kind, quote.Value(a.TokenType))
	}
	if a.Resource != "" && !strings.EqualFold(strings.TrimRight(a.Resource, "/"), strings.TrimRight(s.resource, "/")) {
		return nil, fmt.Errorf("managed identity endpoint (%s) answered a token for %q, not for %s", s.target.kind, quote.Value(a.Resource), s.resource)
	}
	var lifetime time.Duration
	if secs, ok := a.ExpiresIn.seconds(); ok {
		// Compared before multiplying: a huge number would overflow into a negative lifetime.
		lifetime = time.Duration(min(secs, int64(maxMetadataTokenLifetime/time.Second))) * time.Second
	} else if on, ok := a.ExpiresOn.seconds(); ok {
		lifetime = time.Unix(on, 0).Sub(s.now()) // Sub saturates instead of overflowing
	}
	if lifetime <= 0 {
		return nil, fmt.Errorf("managed identity endpoint (%s) answered a token lifetime of %v: a token must live at least 1s", s.target.kind, lifetime)
	}
	lifetime = min(lifetime, maxMetadataTokenLifetime)
	// Expiry on the wall clock, as x/oauth2 sets it: tokenProvider measures from there.
	return &oauth2.Token{AccessToken: a.AccessToken, TokenType: "Bearer", Expiry: time.Now().Add(lifetime)}, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetadataBody))
	_ = resp.Body.Close()
}

// metadataResource is the resource a managed identity token is asked for: the API's scope
// without /.default.
func metadataResource(scope string) string { return strings.TrimSuffix(scope, "/.default") }
