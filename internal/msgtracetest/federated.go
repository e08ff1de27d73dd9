package msgtracetest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultFederatedAudience is the audience Entra ID expects in federated tokens.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

// FederatedCredential is one federated identity credential of the app: which tokens of an
// outside issuer (a Kubernetes cluster's service-account issuer, AKS's OIDC issuer) the tenant
// accepts as the app's client assertion.
//
// What the stand-in checks: iss, sub and aud against the credentials (AADSTS700211, 700213,
// 700212; 70021 when the app has none), exp (and nbf) against Options.Now (AADSTS700024), and,
// when Key is set, the RS256 signature (AADSTS50013). Entra fetches the issuer's keys by OIDC
// discovery; here the key is handed over directly, which tests the same property (a token the
// issuer did not sign is refused) without a JWKS endpoint.
type FederatedCredential struct {
	Issuer  string
	Subject string
	// Audience defaults to DefaultFederatedAudience.
	Audience string
	// Key, if set, is the issuer's public key; the token must carry its RS256 signature.
	Key *rsa.PublicKey
}

// isFederated says whether a client assertion is a federated token rather than the app's own
// private_key_jwt: the app's assertions name its certificate (x5t, x5t#S256), an outside
// issuer's do not, and their iss is not the client id.
func isFederated(assertion, clientID string) bool {
	claims, err := jwtClaims(assertion)
	if err != nil {
		return false
	}
	iss, _ := claims["iss"].(string)
	if iss == "" || strings.EqualFold(iss, clientID) {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(assertion, ".", 2)[0])
	var hdr map[string]any
	if err != nil || json.Unmarshal(raw, &hdr) != nil {
		return false
	}
	_, x5t := hdr["x5t"]
	_, x5tS256 := hdr["x5t#S256"]
	return !x5t && !x5tS256
}

func jwtClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var cl map[string]any
	if err := dec.Decode(&cl); err != nil {
		return nil, err
	}
	return cl, nil
}

// federatedVars are the claims Entra quotes in its federated errors.
func federatedVars(assertion string) map[string]string {
	cl, _ := jwtClaims(assertion)
	iss, _ := cl["iss"].(string)
	sub, _ := cl["sub"].(string)
	aud := fmt.Sprint(cl["aud"])
	if a, ok := cl["aud"].([]any); ok && len(a) > 0 {
		aud = fmt.Sprint(a[0])
	}
	return map[string]string{"issuer": iss, "subject": sub, "audience": aud}
}

// verifyFederated checks a federated client assertion. It returns 0 and the token's jti (or
// subject) when accepted, else the AADSTS code and a reason.
func (s *Server) verifyFederated(assertion string, now time.Time) (int, string, string) {
	cl, err := jwtClaims(assertion)
	if err != nil {
		return 50027, "malformed JWT", ""
	}
	iss, _ := cl["iss"].(string)
	sub, _ := cl["sub"].(string)
	if len(s.opts.FederatedCredentials) == 0 {
		return 70021, "the app has no federated credentials", ""
	}
	var byIssuer, bySubject []FederatedCredential
	for _, fc := range s.opts.FederatedCredentials {
		if fc.Issuer == iss {
			byIssuer = append(byIssuer, fc)
		}
	}
	if len(byIssuer) == 0 {
		return 700211, "no credential with issuer " + iss, ""
	}
	for _, fc := range byIssuer {
		if fc.Subject == sub {
			bySubject = append(bySubject, fc)
		}
	}
	if len(bySubject) == 0 {
		return 700213, "no credential with subject " + sub, ""
	}
	var match *FederatedCredential
	for i, fc := range bySubject {
		aud := fc.Audience
		if aud == "" {
			aud = DefaultFederatedAudience
		}
		if audMatches(cl["aud"], aud) {
			match = &bySubject[i]
			break
		}
	}
	if match == nil {
		return 700212, "no credential with the token's audience", ""
	}
	exp, ok := numericDate(cl["exp"])
	if !ok {
		return 700024, "exp missing", ""
	}
	if !now.Before(exp) {
		return 700024, "federated token expired", ""
	}
	if v, present := cl["nbf"]; present {
		if nbf, ok := numericDate(v); !ok || nbf.After(now.Add(assertionSkew)) {
			return 700024, "federated token not yet valid", ""
		}
	}
	if match.Key != nil {
		parts := strings.Split(assertion, ".")
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err != nil || rsa.VerifyPKCS1v15(match.Key, crypto.SHA256, digest[:], sig) != nil {
			return 50013, "bad signature", ""
		}
	}
	id, _ := cl["jti"].(string)
	if id == "" {
		id = sub
	}
	return 0, "", id
}

// FederatedIssuer is a stand-in for a workload's token issuer (a Kubernetes service-account
// issuer): it signs tokens the way a projected service-account token is signed.
type FederatedIssuer struct {
	URL string
	key *rsa.PrivateKey
}

// NewFederatedIssuer makes an issuer with a fresh RSA key.
func NewFederatedIssuer(issuerURL string) (*FederatedIssuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("msgtracetest: issuer key: %w", err)
	}
	return &FederatedIssuer{URL: issuerURL, key: key}, nil
}

// Credential is the federated credential that trusts this issuer's tokens for subject, with
// the default audience and the issuer's key.
func (fi *FederatedIssuer) Credential(subject string) FederatedCredential {
	return FederatedCredential{Issuer: fi.URL, Subject: subject, Key: &fi.key.PublicKey}
}

// Token is a signed token for subject and audience ("" = DefaultFederatedAudience), valid from
// now until exp, with a fresh jti, which it also returns.
func (fi *FederatedIssuer) Token(subject, audience string, now, exp time.Time) (token, jti string) {
	if audience == "" {
		audience = DefaultFederatedAudience
	}
	jti = newUUID()
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "msgtracetest"})
	claims, _ := json.Marshal(map[string]any{
		"iss": fi.URL, "sub": subject, "aud": []string{audience}, "jti": jti,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
	})
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, fi.key, crypto.SHA256, digest[:])
	if err != nil {
		panic(err) // cannot happen with a valid key
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), jti
}
