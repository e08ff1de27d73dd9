package msgtracetest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// JWTBearerAssertionType is the client_assertion_type for private_key_jwt.
const JWTBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

const (
	audGraph  = "graph"
	audLegacy = "legacy"
	// assertionSkew is tolerated on nbf/iat (Entra's usual 5 minutes).
	assertionSkew = 5 * time.Minute
	// maxAssertionLifetime bounds exp relative to now.
	maxAssertionLifetime = time.Hour
)

type tokenInfo struct {
	aud     string
	expires time.Time
	revoked bool
}

// aadErr describes an AADSTS error: HTTP status, OAuth error and description text.
type aadErr struct {
	status int
	err    string
	code   int
	desc   string
}

// knownAADSTS maps codes usable with FaultTokenError to their error/status.
var knownAADSTS = map[int]aadErr{
	7000215: {http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client}'."},
	7000222: {http.StatusUnauthorized, "invalid_client", 7000222, "The provided client secret keys for app '{client}' are expired. Visit the Azure portal to create new keys for your app."},
	700027:  {http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation."},
	700024:  {http.StatusUnauthorized, "invalid_client", 700024, "Client assertion is not within its valid time range."},
	700016:  {http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."},
	90002:   {http.StatusBadRequest, "invalid_request", 90002, "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."},
	70011:   {http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."},
	50058:   {http.StatusBadRequest, "invalid_grant", 50058, "A silent sign-in request was sent but no user is signed in."},
	500011:  {http.StatusBadRequest, "invalid_resource", 500011, "The resource principal named {scope} was not found in the tenant named {tenant}."},
	90014:   {http.StatusBadRequest, "invalid_request", 90014, "The required field '{field}' is missing from the credential. Ensure that you have all the necessary parameters for the login request."},
	900144:  {http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: '{field}'."},
	7000218: {http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."},
	70003:   {http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '{field}'."},
	900561:  {http.StatusBadRequest, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a {field} request."},
	70021:   {http.StatusBadRequest, "invalid_request", 70021, "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'."},
	700211:  {http.StatusBadRequest, "invalid_request", 700211, "No matching federated identity record found for presented assertion issuer '{issuer}'."},
	700212:  {http.StatusBadRequest, "invalid_request", 700212, "No matching federated identity record found for presented assertion audience '{audience}'."},
	700213:  {http.StatusBadRequest, "invalid_request", 700213, "No matching federated identity record found for presented assertion subject '{subject}'."},
	50013:   {http.StatusUnauthorized, "invalid_client", 50013, "Assertion failed signature validation."},
	50027:   {http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."},
	50011:   {http.StatusServiceUnavailable, "temporarily_unavailable", 50011, "The service is temporarily unavailable."},
}

// parseAADSTS accepts "AADSTS7000215", "7000215" or "".
func parseAADSTS(s string) int {
	s = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "AADSTS")
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 7000215
	}
	return n
}

// aadError builds an Entra error body shaped like §3.3 of the reference.
func (s *Server) aadError(now time.Time, code int, vars map[string]string) *response {
	e, ok := knownAADSTS[code]
	if !ok {
		e = aadErr{http.StatusBadRequest, "invalid_request", code, "Error AADSTS" + strconv.Itoa(code) + "."}
	}
	desc := e.desc
	var repl []string
	for k, v := range vars { // caller values win over the defaults below
		repl = append(repl, "{"+k+"}", v)
	}
	repl = append(repl, "{client}", s.opts.ClientID, "{tenant}", s.opts.TenantID)
	desc = strings.NewReplacer(repl...).Replace(desc)
	traceID, corrID := newUUID(), newUUID()
	ts := now.UTC().Format("2006-01-02 15:04:05Z")
	full := fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code, desc, traceID, corrID, ts)
	b := []byte{'{'}
	b = appendStrField(b, "error", e.err, true, jsonStyle{})
	b = appendStrField(b, "error_description", full, false, jsonStyle{})
	b = appendKey(b, "error_codes", false)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ']')
	b = appendStrField(b, "timestamp", ts, false, jsonStyle{})
	b = appendStrField(b, "trace_id", traceID, false, jsonStyle{})
	b = appendStrField(b, "correlation_id", corrID, false, jsonStyle{})
	b = appendStrField(b, "error_uri", s.url+"/error?code="+strconv.Itoa(code), false, jsonStyle{})
	b = append(b, '}')
	resp := newResponse(e.status, "application/json; charset=utf-8", b)
	resp.header.Set("Cache-Control", "no-store, no-cache")
	resp.header.Set("Pragma", "no-cache")
	resp.header.Set("x-ms-request-id", traceID)
	return resp
}

// serveToken implements POST /{tenant}/oauth2/v2.0/token and /{tenant}/oauth2/token.
func (s *Server) serveToken(r *http.Request, rec *Request) *response {
	now := s.now()
	v2 := strings.HasSuffix(strings.ToLower(r.URL.Path), "/v2.0/token")
	if r.Method != http.MethodPost {
		return s.aadError(now, 900561, map[string]string{"field": r.Method})
	}
	tenant := strings.TrimPrefix(r.URL.Path, "/")
	if i := strings.IndexByte(tenant, '/'); i >= 0 {
		tenant = tenant[:i]
	}
	wantSuffix := "/oauth2/token"
	if v2 {
		wantSuffix = "/oauth2/v2.0/token"
	}
	if !strings.EqualFold(r.URL.Path, "/"+tenant+wantSuffix) ||
		(!strings.EqualFold(tenant, s.opts.TenantID) && !strings.EqualFold(tenant, s.opts.Organization)) {
		return s.aadError(now, 90002, map[string]string{"tenant": tenant})
	}

	if f, ok := s.popTokenFault(); ok {
		rec.Fault = string(f.Kind)
		switch f.Kind {
		case FaultTokenRedirect:
			return redirect(f.Status, f.Location)
		case FaultTokenEcho:
			return s.tokenEcho(r, now)
		}
		return s.aadError(now, parseAADSTS(f.AADSTS), map[string]string{"scope": r.PostFormValue("scope"), "field": "client_secret"})
	}

	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return s.aadError(now, 900144, map[string]string{"field": "grant_type"})
	}
	if err := r.ParseForm(); err != nil {
		return s.aadError(now, 900144, map[string]string{"field": "grant_type"})
	}
	form := r.PostForm
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return s.aadError(now, 900144, map[string]string{"field": "grant_type"})
	default:
		return s.aadError(now, 70003, map[string]string{"field": gt})
	}

	clientID := form.Get("client_id")
	secret, hasSecret := form.Get("client_secret"), form.Has("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
		bu, err1 := url.QueryUnescape(u)
		bp, err2 := url.QueryUnescape(p)
		if err1 != nil || err2 != nil || (clientID != "" && !strings.EqualFold(clientID, bu)) {
			return s.aadError(now, 7000215, nil)
		}
		clientID, secret, hasSecret = bu, bp, true
	}
	if clientID == "" {
		return s.aadError(now, 900144, map[string]string{"field": "client_id"})
	}
	if !strings.EqualFold(clientID, s.opts.ClientID) {
		return s.aadError(now, 700016, map[string]string{"client": clientID})
	}

	var aud string
	if v2 {
		scope := form.Get("scope")
		switch {
		case scope == "":
			return s.aadError(now, 900144, map[string]string{"field": "scope"})
		case scope == s.GraphScope():
			aud = audGraph
		case strings.EqualFold(scope, LegacyScope):
			aud = audLegacy
		default:
			return s.aadError(now, 70011, map[string]string{"scope": scope})
		}
	} else {
		res := strings.TrimSuffix(form.Get("resource"), "/")
		switch {
		case res == "":
			return s.aadError(now, 900144, map[string]string{"field": "resource"})
		case res == s.url:
			aud = audGraph
		case strings.EqualFold(res, LegacyResource):
			aud = audLegacy
		default:
			return s.aadError(now, 500011, map[string]string{"scope": res})
		}
	}

	assertion, hasAssertion := form.Get("client_assertion"), form.Has("client_assertion")
	switch {
	case hasSecret && hasAssertion:
		return s.aadError(now, 7000218, nil)
	case hasSecret:
		if s.opts.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
			return s.aadError(now, 7000215, nil)
		}
	case hasAssertion:
		if form.Get("client_assertion_type") != JWTBearerAssertionType {
			return s.aadError(now, 90014, map[string]string{"field": "client_assertion_type"})
		}
		if isFederated(assertion, clientID) {
			code, why, id := s.verifyFederated(assertion, now)
			if code != 0 {
				e := s.aadError(now, code, federatedVars(assertion))
				e.header.Set("X-Msgtracetest-Reason", why)
				return e
			}
			rec.Federated = id
			break
		}
		audience := s.url + r.URL.Path
		if code, why := s.verifyAssertion(assertion, clientID, audience, now); code != 0 {
			e := s.aadError(now, code, nil)
			e.header.Set("X-Msgtracetest-Reason", why)
			return e
		}
	default:
		return s.aadError(now, 7000218, nil)
	}

	tok, ttl := s.issue(aud, now)
	secs := int64(ttl / time.Second)
	if s.opts.TokenExpiresIn != nil {
		secs = *s.opts.TokenExpiresIn
	}
	b := []byte{'{'}
	b = appendStrField(b, "token_type", "Bearer", true, jsonStyle{})
	if v2 {
		b = appendIntField(b, "expires_in", secs, false)
		b = appendIntField(b, "ext_expires_in", secs, false)
	} else {
		resource := LegacyResource
		if aud == audGraph {
			resource = s.url
		}
		b = appendStrField(b, "expires_in", strconv.FormatInt(secs, 10), false, jsonStyle{})
		b = appendStrField(b, "ext_expires_in", strconv.FormatInt(secs, 10), false, jsonStyle{})
		b = appendStrField(b, "expires_on", strconv.FormatInt(now.Add(ttl).Unix(), 10), false, jsonStyle{})
		b = appendStrField(b, "not_before", strconv.FormatInt(now.Unix(), 10), false, jsonStyle{})
		b = appendStrField(b, "resource", resource, false, jsonStyle{})
	}
	b = appendStrField(b, "access_token", tok, false, jsonStyle{})
	b = append(b, '}')
	resp := newResponse(http.StatusOK, "application/json; charset=utf-8", b)
	resp.header.Set("Cache-Control", "no-store, no-cache")
	resp.header.Set("Pragma", "no-cache")
	return resp
}

// issue records a new access token for aud (audGraph or audLegacy) and returns it.
func (s *Server) issue(aud string, now time.Time) (string, time.Duration) {
	tok := randomToken()
	ttl := s.opts.TokenTTL
	s.mu.Lock()
	for k, ti := range s.tokens { // prune long-expired tokens; keeps the map bounded
		if now.Sub(ti.expires) > time.Hour {
			delete(s.tokens, k)
		}
	}
	s.tokens[tok] = &tokenInfo{aud: aud, expires: now.Add(ttl)}
	s.tokensIssued++
	s.mu.Unlock()
	if s.onToken != nil {
		s.onToken(tok)
	}
	return tok, ttl
}

// IssueToken hands out an access token for resource (the Graph root, URL(), or
// LegacyResource) as a managed identity endpoint would: the API accepts it like one from the
// login endpoint. It returns the token and its lifetime.
func (s *Server) IssueToken(resource string) (string, time.Duration, error) {
	var aud string
	switch res := strings.TrimSuffix(resource, "/"); {
	case res == s.url:
		aud = audGraph
	case strings.EqualFold(res, LegacyResource):
		aud = audLegacy
	default:
		return "", 0, fmt.Errorf("msgtracetest: no resource %q in this tenant", resource)
	}
	tok, ttl := s.issue(aud, s.now())
	return tok, ttl, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// verifyAssertion checks a private_key_jwt client assertion. It returns 0 on success,
// or the AADSTS code and a short reason.
func (s *Server) verifyAssertion(assertion, clientID, audience string, now time.Time) (int, string) {
	cert := s.opts.ClientCert
	if cert == nil {
		return 700027, "no certificate registered"
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return 700027, "registered certificate has no RSA key"
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return 700027, "malformed JWT"
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return 700027, "malformed JWT header"
	}
	var hdr map[string]any
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return 700027, "malformed JWT header"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return 700027, "malformed JWT signature"
	}
	// Thumbprints: at least one of x5t (SHA-1) / x5t#S256 (SHA-256) must be present,
	// and every one present must match the registered certificate.
	sum1 := sha1.Sum(cert.Raw) //nolint:gosec // thumbprint, not security
	sum256 := sha256.Sum256(cert.Raw)
	x5t, has1 := hdr["x5t"].(string)
	x5tS256, has256 := hdr["x5t#S256"].(string)
	if !has1 && !has256 {
		return 700027, "no x5t or x5t#S256 header"
	}
	if has1 && x5t != base64.RawURLEncoding.EncodeToString(sum1[:]) {
		return 700027, "x5t does not match a registered certificate"
	}
	if has256 && x5tS256 != base64.RawURLEncoding.EncodeToString(sum256[:]) {
		return 700027, "x5t#S256 does not match a registered certificate"
	}
	signed := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch alg, _ := hdr["alg"].(string); alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, signed[:], sig)
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, signed[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return 700027, "unsupported alg " + alg
	}
	if err != nil {
		return 700027, "bad signature"
	}

	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 700027, "malformed JWT claims"
	}
	dec := json.NewDecoder(bytes.NewReader(cb))
	dec.UseNumber()
	var cl map[string]any
	if err := dec.Decode(&cl); err != nil {
		return 700027, "malformed JWT claims"
	}
	if !audMatches(cl["aud"], audience) {
		return 700027, "aud must be " + audience
	}
	if iss, _ := cl["iss"].(string); iss != clientID {
		return 700027, "iss must be the client id"
	}
	if sub, _ := cl["sub"].(string); sub != clientID {
		return 700027, "sub must be the client id"
	}
	jti, _ := cl["jti"].(string)
	if jti == "" {
		return 700027, "jti missing"
	}
	exp, ok := numericDate(cl["exp"])
	if !ok {
		return 700024, "exp missing"
	}
	if !now.Before(exp) {
		return 700024, "assertion expired"
	}
	if exp.After(now.Add(maxAssertionLifetime + assertionSkew)) {
		return 700024, "exp too far in the future"
	}
	if v, present := cl["nbf"]; present {
		nbf, ok := numericDate(v)
		if !ok || nbf.After(now.Add(assertionSkew)) || !nbf.Before(exp) {
			return 700024, "assertion not yet valid"
		}
	}
	if v, present := cl["iat"]; present {
		iat, ok := numericDate(v)
		if !ok || iat.After(now.Add(assertionSkew)) {
			return 700024, "iat in the future"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.jtis {
		if now.After(e) {
			delete(s.jtis, k)
		}
	}
	if _, used := s.jtis[jti]; used {
		return 700027, "jti replayed"
	}
	s.jtis[jti] = exp
	return 0, ""
}

func audMatches(v any, want string) bool {
	switch a := v.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if xs, _ := x.(string); xs == want {
				return true
			}
		}
	}
	return false
}

func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0), true
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(f*1e9)), true
}

// authState is the outcome of checking the bearer token of an API request.
type authState int

const (
	authOK authState = iota
	authMissing
	authUnknown
	authExpired
	authRevoked
	authWrongAudience
)

// checkTokenLocked validates the Authorization header; s.mu must be held.
func (s *Server) checkTokenLocked(r *http.Request, aud string, now time.Time) (string, authState) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", authMissing
	}
	tok := strings.TrimSpace(h[len(prefix):])
	ti, ok := s.tokens[tok]
	switch {
	case tok == "":
		return "", authMissing
	case !ok:
		return tok, authUnknown
	case ti.revoked:
		return tok, authRevoked
	case !now.Before(ti.expires):
		return tok, authExpired
	case ti.aud != aud:
		return tok, authWrongAudience
	}
	return tok, authOK
}

// RevokeTokens marks every issued token as revoked (the next API call gets a 401).
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ti := range s.tokens {
		ti.revoked = true
	}
}

// IssuedTokens returns every access token the login endpoint handed out, so tests can check
// that none of them leaks into logs.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for tok := range s.tokens {
		out = append(out, tok)
	}
	return out
}
