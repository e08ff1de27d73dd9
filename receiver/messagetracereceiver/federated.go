package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// maxFederatedTokenBytes caps what is read from federated_token_file. A Kubernetes projected
// service-account token is 1-2 KiB; anything far larger is not a token, and reading it whole
// at every login would let a wrong path (a log file, a device) cost memory.
const maxFederatedTokenBytes = 16 << 10

// readFederatedToken reads the workload's token for one login. The file is read again every
// time because its issuer (the kubelet, the AKS webhook) replaces it before it expires. The
// checks are those that save a doomed login and name the cause: size, emptiness, JWT shape
// and expiry; whether Entra trusts issuer, subject and audience only Entra can say (AADSTS70021,
// 700211, 700212, 700213). No error quotes the content: it is a credential.
func readFederatedToken(path string, now time.Time) (string, error) {
	if path == "" {
		return "", errFederatedTokenFileEmpty
	}
	f, err := os.Open(path) //nolint:gosec // G304: federated_token_file is the operator's configured path; reading it is the job
	if err != nil {
		return "", fmt.Errorf("`federated_token_file` %s cannot be read: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return "", fmt.Errorf("`federated_token_file` %s is not a regular file: point it at the token file itself", path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxFederatedTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("`federated_token_file` %s cannot be read: %w", path, unwrapPathError(err))
	}
	if len(raw) > maxFederatedTokenBytes {
		return "", fmt.Errorf("`federated_token_file` %s is larger than %d KiB: it does not hold a token; point it at the projected service-account token", path, maxFederatedTokenBytes>>10)
	}
	token := string(bytes.TrimSpace(raw))
	if token == "" {
		return "", fmt.Errorf("`federated_token_file` %s is empty: the token's issuer has not written it (yet); check the projected service-account token volume", path)
	}
	exp, err := jwtExpiry(token)
	if err != nil {
		return "", fmt.Errorf("`federated_token_file` %s does not hold a JWT (%w): point it at the projected service-account token", path, err)
	}
	if !exp.IsZero() && !now.Before(exp) {
		return "", fmt.Errorf("`federated_token_file` %s holds a token that expired at %s: its issuer no longer renews it (on Kubernetes the kubelet rewrites a projected token well before expiry; check the pod's volume and the kubelet)", path, exp.UTC().Format(time.RFC3339))
	}
	return token, nil
}

// jwtExpiry returns the exp claim of a compact JWT, zero when it has none. The signature is
// Entra's to check.
func jwtExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("not three dot-separated parts")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, errors.New("the claims are not base64url")
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, errors.New("the claims are not a JSON object")
	}
	if claims.Exp == nil {
		return time.Time{}, nil
	}
	secs, err := claims.Exp.Float64()
	if err != nil || secs <= 0 || secs > 1e11 {
		return time.Time{}, errors.New("the exp claim is not a time")
	}
	return time.Unix(int64(secs), 0), nil
}
