package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint; it identifies, it does not protect
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

const (
	// refreshEarly renews a token this long before it expires, so no API call races expiry;
	// for a token living less than four times as long, a quarter of its lifetime instead.
	refreshEarly = 5 * time.Minute
	// A stated token lifetime (expires_in) is believed within these bounds: below the minimum
	// a token is still used that long (a 401 makes the next call log in anyway), so a broken
	// endpoint cannot make every API call a login; above the maximum it is renewed sooner.
	// Entra issues 60-90 minutes.
	minTokenLifetime = time.Minute
	maxTokenLifetime = 24 * time.Hour
	// unstatedTokenLifetime is assumed when expires_in is missing, zero or negative.
	unstatedTokenLifetime = 5 * time.Minute
	// expiryMargin is how long before its expiry a cached token stops being used when its
	// renewal fails: the calls it signs must still arrive in time.
	expiryMargin = 30 * time.Second
	// assertionLifetime is the validity of a client assertion; Entra accepts 5-10 minutes.
	assertionLifetime = 10 * time.Minute
	assertionType     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// certCredential is the app's certificate and RSA key, used to sign client assertions.
type certCredential struct {
	key        *rsa.PrivateKey
	thumbprint string // base64url SHA-1 of the certificate DER (JWT header x5t)
}

// loadCertificate reads a PEM certificate and its RSA private key (PKCS#1 or PKCS#8) and checks
// that they belong together, so a mismatch fails at start-up instead of at the first login.
func loadCertificate(certFile, keyFile string) (*certCredential, error) {
	certPEM, err := os.ReadFile(certFile) //nolint:gosec // G304: cert_file is the operator's configured path; reading it is the job
	if err != nil {
		return nil, fmt.Errorf("cannot read cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile) //nolint:gosec // G304: key_file is the operator's configured path; reading it is the job
	if err != nil {
		return nil, fmt.Errorf("cannot read key_file: %w", err)
	}
	var cert *x509.Certificate
	for rest := certPEM; cert == nil; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("cert_file %s holds no PEM CERTIFICATE block", certFile)
		}
		if block.Type == "CERTIFICATE" {
			if cert, err = x509.ParseCertificate(block.Bytes); err != nil {
				return nil, fmt.Errorf("cert_file %s: %w", certFile, err)
			}
		}
	}
	key, err := parseRSAKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key_file %s: %w", keyFile, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("key_file %s does not match the certificate in cert_file %s", keyFile, certFile)
	}
	sum := sha1.Sum(cert.Raw) //nolint:gosec // see import
	return &certCredential{key: key, thumbprint: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

func parseRSAKey(keyPEM []byte) (*rsa.PrivateKey, error) {
	for rest := keyPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key block (expected RSA PRIVATE KEY or PRIVATE KEY)")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("the private key is %T; Entra client assertions need an RSA key", k)
			}
			return rk, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted: store it unencrypted with file permissions 0600")
		}
	}
}

// assertion returns a freshly signed RS256 client assertion for one token request.
func (c *certCredential) assertion(clientID, audience string, now time.Time) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t": c.thumbprint})
	if err != nil {
		return "", err
	}
	var jti [16]byte
	if _, err = rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"aud": audience,
		"iss": clientID,
		"sub": clientID,
		"jti": formatUUID(jti),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	})
	if err != nil {
		return "", err
	}
	signingInput := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func formatUUID(b [16]byte) string {
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// loginSource fetches one token per call with x/oauth2's client-credentials flow. A certificate
// needs a new assertion per request and a federated token file is read again for each, so the
// clientcredentials.Config is rebuilt each time.
type loginSource struct {
	ctx       context.Context // long-lived: carries the HTTP client under oauth2.HTTPClient
	tokenURL  string
	clientID  string
	secret    string
	cert      *certCredential
	tokenFile string // federated_token_file: its content is the client assertion
	scope     string
	now       func() time.Time
}

func (s *loginSource) Token() (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID:  s.clientID,
		TokenURL:  s.tokenURL,
		Scopes:    []string{s.scope},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	credential := s.secret
	switch {
	case s.cert != nil:
		a, err := s.cert.assertion(s.clientID, s.tokenURL, s.now())
		if err != nil {
			return nil, fmt.Errorf("signing client assertion: %w", err)
		}
		cc.EndpointParams = url.Values{"client_assertion_type": {assertionType}, "client_assertion": {a}}
		credential = a
	case s.tokenFile != "":
		a, err := readFederatedToken(s.tokenFile, s.now())
		if err != nil {
			// A setup problem, but one that heals without a restart: the file is read again at
			// every login, and its issuer (the kubelet) rewrites it by itself after a late first
			// write, a remount or a node hiccup.
			return nil, &setupError{tenantSide: true, msg: err.Error()}
		}
		cc.EndpointParams = url.Values{"client_assertion_type": {assertionType}, "client_assertion": {a}}
		credential = a
	default:
		cc.ClientSecret = s.secret
	}
	tok, err := cc.Token(s.ctx)
	if err != nil {
		return nil, classifyLoginError(err, credential)
	}
	return tok, nil
}

// tokenProvider caches tokens, renews them refreshEarly before expiry, and can be told to
// forget the cached token (after a 401) so the next call logs in again. Renewal follows its
// own clock (a seam for tests), not the wall clock x/oauth2 reads. It is not
// oauth2.ReuseTokenSourceWithExpiry: that judges a token by x/oauth2's own wall clock with one
// fixed early expiry, so it can neither renew at a quarter of a bounded lifetime, nor keep a
// still-valid token when a renewal fails for a transient reason, nor forget its token after a
// 401 without being rebuilt, and the renewal tests could no longer run on a fake clock.
type tokenProvider struct {
	login oauth2.TokenSource
	now   func() time.Time

	mu        sync.Mutex
	tok       *oauth2.Token
	renewAt   time.Time
	usableTil time.Time // a failed renewal falls back on tok until then

	logger *zap.Logger // nil: no warnings
	warned bool        // the lifetime warning is logged once
}

// withLogger makes the provider warn (once) about a token lifetime it does not believe.
func (p *tokenProvider) withLogger(l *zap.Logger) *tokenProvider {
	p.logger = l
	return p
}

func newTokenProvider(login oauth2.TokenSource, now func() time.Time) *tokenProvider {
	return &tokenProvider{login: login, now: now}
}

// Token returns the cached token until renewAt, else logs in. Concurrent callers (the list and
// details share a client) wait for one login rather than sending one each.
func (p *tokenProvider) Token() (*oauth2.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tok != nil && p.now().Before(p.renewAt) {
		return p.tok, nil
	}
	tok, err := p.login.Token()
	if err != nil {
		// A renewal failing for a transient reason (a metadata service or login endpoint blip)
		// while the cached token is still valid costs no call: the next one tries again. A
		// setup problem (revoked secret, removed identity) is reported at once.
		if p.tok != nil && !isSetupProblem(err) && p.now().Before(p.usableTil) {
			if p.logger != nil {
				p.logger.Debug("token renewal failed; using the cached token, which is still valid", zap.Error(err), zap.Time("usable_until", p.usableTil))
			}
			return p.tok, nil
		}
		return nil, err
	}
	valid := p.validFor(tok)
	now := p.now()
	p.tok, p.renewAt, p.usableTil = tok, now.Add(valid-min(refreshEarly, valid/4)), now.Add(valid-expiryMargin)
	return tok, nil
}

// validFor is a fresh token's stated lifetime, bounded (warning once about one it does not
// believe). It is used until refreshEarly (or a quarter of it) before its end.
func (p *tokenProvider) validFor(tok *oauth2.Token) time.Duration {
	// x/oauth2 set Expiry from the wall clock when the answer arrived (zero when expires_in
	// was missing or 0); what counts is how long the token lives, measured from now.
	var lifetime time.Duration
	if !tok.Expiry.IsZero() {
		lifetime = time.Until(tok.Expiry)
	}
	stated := zap.Duration("stated", lifetime.Round(time.Second))
	switch {
	case lifetime <= 0:
		if p.warnOnce() {
			p.logger.Warn("the token endpoint stated no token lifetime, or one of zero or less (expires_in); assuming "+unstatedTokenLifetime.String(), stated)
		}
		lifetime = unstatedTokenLifetime
	case lifetime > maxTokenLifetime:
		if p.warnOnce() {
			p.logger.Warn("the token endpoint stated a token lifetime (expires_in) beyond "+maxTokenLifetime.String()+"; renewing the token after that", stated)
		}
		lifetime = maxTokenLifetime
	case lifetime < minTokenLifetime:
		lifetime = minTokenLifetime
	}
	return lifetime
}

// warnOnce reports whether the lifetime warning is still to be logged (and then not again).
func (p *tokenProvider) warnOnce() bool {
	if p.logger == nil || p.warned {
		return false
	}
	p.warned = true
	return true
}

func (p *tokenProvider) invalidate() {
	p.mu.Lock()
	p.tok = nil
	p.mu.Unlock()
}

var aadstsFixes = map[string]string{
	"AADSTS7000215": "the client secret is wrong; set client_secret to the secret's Value (not its Secret ID)",
	"AADSTS7000222": "the client secret has expired; create a new secret on the app registration and update client_secret",
	"AADSTS700027":  "the client assertion was rejected; upload the certificate in client_certificate.cert_file to the app registration (Certificates & secrets)",
	"AADSTS700024":  "the client assertion is outside its validity window; check this machine's clock (with federated_token_file: that its issuer renews the token)",
	"AADSTS70021":   "no federated credential of the app matches the token in federated_token_file; add one on the app registration (Certificates & secrets, Federated credentials) with the token's issuer, subject and audience",
	"AADSTS700211":  "no federated credential of the app has the issuer of the token in federated_token_file; set the federated credential's issuer to the cluster's OIDC issuer URL (az aks show --query oidcIssuerProfile.issuerUrl)",
	"AADSTS700212":  "no federated credential of the app has the audience of the token in federated_token_file; use audience api://AzureADTokenExchange on both sides",
	"AADSTS700213":  "no federated credential of the app has the subject of the token in federated_token_file; set the federated credential's subject to system:serviceaccount:NAMESPACE:SERVICEACCOUNT of the collector's pod",
	"AADSTS50013":   "the token in federated_token_file failed signature validation; check that the federated credential's issuer publishes the keys that signed it (OIDC discovery)",
	"AADSTS700016":  "the application was not found in the tenant; check client_id and tenant_id, and that admin consent was granted",
	"AADSTS90002":   "the tenant was not found; check tenant_id (Directory (tenant) ID or a verified domain)",
	"AADSTS70011":   "the scope is invalid; check api and endpoint",
	"AADSTS50034":   "the account does not exist in the tenant; check tenant_id",
}

// classifyLoginError turns an OAuth2 error response into a loginError naming the fix. Network
// failures and 5xx answers are left as they are: they are transient. What the endpoint sent
// back is scrubbed of the credential (a broken or hostile endpoint may echo the request) and
// cut short before it is quoted.
func classifyLoginError(err error, credential string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return fmt.Errorf("login request failed: %w", stripURLError(err))
	}
	status := re.Response.StatusCode
	if status >= 500 || status == 429 {
		return fmt.Errorf("login endpoint answered HTTP %d", status)
	}
	le := &loginError{status: status, kind: quote.Value(scrub(re.ErrorCode, credential))}
	var body struct {
		ErrorCodes []int `json:"error_codes"`
	}
	if json.Unmarshal(re.Body, &body) == nil && len(body.ErrorCodes) > 0 {
		le.code = "AADSTS" + strconv.Itoa(body.ErrorCodes[0])
	} else if i := strings.Index(re.ErrorDescription, "AADSTS"); i >= 0 {
		end := i + 6
		for end < len(re.ErrorDescription) && re.ErrorDescription[end] >= '0' && re.ErrorDescription[end] <= '9' {
			end++
		}
		le.code = re.ErrorDescription[i:end]
	}
	if fix, ok := aadstsFixes[le.code]; ok {
		le.fix = fix
	} else {
		le.fix = "check tenant_id, client_id and the credential; Microsoft said: " + quote.Text(scrub(firstLine(re.ErrorDescription), credential))
	}
	return le
}
