package messagetracereceiver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

const (
	testIssuer  = "https://oidc.prod-aks.azure.com/tenant/cluster/"
	testSubject = "system:serviceaccount:observability:otelcol-msgtrace"
)

// federatedHarness is a tenant whose app trusts testIssuer's tokens for testSubject, and a
// receiver configuration that logs in with a token file holding one of them.
func federatedHarness(t *testing.T, rows []msgtracetest.Row, trusted ...msgtracetest.FederatedCredential) (*harness, *msgtracetest.FederatedIssuer, string) {
	t.Helper()
	issuer, err := msgtracetest.NewFederatedIssuer(testIssuer)
	require.NoError(t, err)
	if trusted == nil {
		trusted = []msgtracetest.FederatedCredential{issuer.Credential(testSubject)}
	}
	h := newHarness(t, msgtracetest.Options{FederatedCredentials: trusted}, rows)
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	tok, _ := issuer.Token(testSubject, "", time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, os.WriteFile(file, []byte(tok), 0o600))
	h.cfg.ClientSecret = ""
	h.cfg.FederatedTokenFile = file
	return h, issuer, file
}

// replaceFile swaps the file's content the way the kubelet does: a new file renamed over it.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func federatedLogins(srv *msgtracetest.Server) []string {
	var out []string
	for _, rq := range srv.Requests() {
		if rq.Kind == msgtracetest.KindToken && rq.Status == 200 {
			out = append(out, rq.Federated)
		}
	}
	return out
}

func TestFederatedLoginReadsTheFileAtEveryLogin(t *testing.T) {
	for _, api := range []string{apiGraph, apiLegacy} {
		t.Run(api, func(t *testing.T) {
			rows := rowsIn(41, 40, msgtracetest.GenerateOptions{})
			h, issuer, file := federatedHarness(t, rows)
			h.cfg.API = api
			first, _ := os.ReadFile(file)
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
			logins := federatedLogins(h.srv)
			require.Len(t, logins, 1)

			// The kubelet rotates the token; the cached access token is revoked, so the next
			// request logs in again and must present the new token.
			second, jti := issuer.Token(testSubject, "", time.Now(), time.Now().Add(time.Hour))
			replaceFile(t, file, second)
			h.srv.RevokeTokens()
			more := rowsIn(42, 10, msgtracetest.GenerateOptions{})
			h.srv.AddRows(more...)
			r.state.cp.Done = time.Now().Add(-48 * time.Hour).Truncate(time.Second)
			require.NoError(t, r.poll(ctx))
			logins = federatedLogins(h.srv)
			require.Len(t, logins, 2)
			assert.Equal(t, jti, logins[1], "the second login presented the replaced token")
			assert.NotEqual(t, logins[0], logins[1])
			for _, e := range h.logs.All() {
				line := fmt.Sprint(e.Message, e.ContextMap())
				assert.NotContains(t, line, string(first))
				assert.NotContains(t, line, second)
			}
		})
	}
}

func TestFederatedRefusalsSayWhatToFix(t *testing.T) {
	other, err := msgtracetest.NewFederatedIssuer("https://other-issuer.example/")
	require.NoError(t, err)
	tests := []struct {
		name    string
		trusted func(*msgtracetest.FederatedIssuer) []msgtracetest.FederatedCredential
		want    string
	}{
		{"no federated credential", func(*msgtracetest.FederatedIssuer) []msgtracetest.FederatedCredential {
			return []msgtracetest.FederatedCredential{}
		}, "AADSTS70021"},
		{"other issuer", func(*msgtracetest.FederatedIssuer) []msgtracetest.FederatedCredential {
			return []msgtracetest.FederatedCredential{other.Credential(testSubject)}
		}, "AADSTS700211"},
		{"other subject", func(i *msgtracetest.FederatedIssuer) []msgtracetest.FederatedCredential {
			return []msgtracetest.FederatedCredential{i.Credential("system:serviceaccount:default:default")}
		}, "AADSTS700213"},
		{"other audience", func(i *msgtracetest.FederatedIssuer) []msgtracetest.FederatedCredential {
			c := i.Credential(testSubject)
			c.Audience = "api://something-else"
			return []msgtracetest.FederatedCredential{c}
		}, "AADSTS700212"},
		{"signed by another key", func(*msgtracetest.FederatedIssuer) []msgtracetest.FederatedCredential {
			c := other.Credential(testSubject)
			c.Issuer = testIssuer
			return []msgtracetest.FederatedCredential{c}
		}, "AADSTS50013"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer, err := msgtracetest.NewFederatedIssuer(testIssuer)
			require.NoError(t, err)
			h := newHarness(t, msgtracetest.Options{FederatedCredentials: tt.trusted(issuer)}, rowsIn(43, 5, msgtracetest.GenerateOptions{}))
			file := filepath.Join(t.TempDir(), "token")
			tok, _ := issuer.Token(testSubject, "", time.Now(), time.Now().Add(time.Hour))
			require.NoError(t, os.WriteFile(file, []byte(tok), 0o600))
			h.cfg.ClientSecret, h.cfg.FederatedTokenFile = "", file
			r, ctx := h.receiver(new(consumertest.LogsSink))
			err = r.poll(ctx)
			require.ErrorContains(t, err, tt.want)
			assert.Contains(t, err.Error(), "federated")
			assert.NotContains(t, err.Error(), tok)
			assert.True(t, isSetupProblem(err), "a refused federated login waits minutes")
		})
	}
}

func TestFederatedTokenFileProblemsNameFileAndCause(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	issuer, err := msgtracetest.NewFederatedIssuer(testIssuer)
	require.NoError(t, err)
	expired, _ := issuer.Token(testSubject, "", now.Add(-2*time.Hour), now.Add(-time.Hour))
	valid, _ := issuer.Token(testSubject, "", now, now.Add(time.Hour))
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	secretish := "not-a-jwt-but-secret-" + strings.Repeat("x", 20)
	tests := []struct {
		name, path, want, content string
	}{
		{"missing", filepath.Join(dir, "missing"), "cannot be read: no such file or directory", ""},
		{"directory", dir, "is not a regular file", ""},
		{"empty", write("empty", ""), "is empty", ""},
		{"only a newline", write("newline", "\n"), "is empty", ""},
		{"too large", write("large", strings.Repeat("a", maxFederatedTokenBytes+1)), "larger than 16 KiB", ""},
		{"not a JWT", write("notjwt", secretish), "does not hold a JWT", secretish},
		{"claims not JSON", write("badclaims", "a.bm90IGpzb24.c"), "does not hold a JWT (the claims are not a JSON object)", "bm90IGpzb24"},
		{"expired", write("expired", expired), "expired at " + now.Add(-time.Hour).UTC().Format(time.RFC3339), expired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFederatedToken(tt.path, now)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "`federated_token_file` "+tt.path)
			assert.Contains(t, err.Error(), tt.want)
			if tt.content != "" {
				assert.NotContains(t, err.Error(), tt.content, "the content is a credential")
			}
			// Validate does not read the file: `validate` works away from the pod, and one
			// tenant's file stops no other. The login reports it, as that tenant's setup problem.
			cfg := validConfig()
			cfg.ClientSecret, cfg.FederatedTokenFile = "", tt.path
			assert.NoError(t, cfg.Validate())
			_, err = (&loginSource{tokenFile: tt.path, now: func() time.Time { return now }}).Token()
			require.ErrorContains(t, err, "`federated_token_file` "+tt.path)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, isSetupProblem(err) && healsWithoutRestart(err))
		})
	}
	got, err := readFederatedToken(write("valid", valid+"\n"), now)
	require.NoError(t, err)
	assert.Equal(t, valid, got, "the trailing newline of a written file is not part of the token")
}

func TestFederatedFileProblemAtLoginIsASetupProblem(t *testing.T) {
	rows := rowsIn(44, 5, msgtracetest.GenerateOptions{})
	h, _, file := federatedHarness(t, rows)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	require.NoError(t, os.Remove(file)) // after Validate: the volume went away
	err := r.poll(ctx)
	require.ErrorContains(t, err, "`federated_token_file` "+file+" cannot be read")
	assert.True(t, isSetupProblem(err))
	assert.Zero(t, h.srv.TokensIssued(), "no login was attempted without a token")
}

func TestFederatedTokenNeverLoggedAtDebug(t *testing.T) {
	rows := rowsIn(45, 30, msgtracetest.GenerateOptions{})
	h, _, file := federatedHarness(t, rows)
	tok, err := os.ReadFile(file)
	require.NoError(t, err)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultUnauthorized}, msgtracetest.Fault{Kind: msgtracetest.FaultServerError},
		msgtracetest.Fault{Kind: msgtracetest.FaultTokenEcho})
	for range 2 { // the echo is a refused login: the second poll gets through
		if err := r.poll(ctx); err != nil {
			assert.NotContains(t, err.Error(), string(tok))
			r.afterFailure(err) // logged as the receiver's loop logs it
		}
	}
	require.NoError(t, r.poll(ctx))
	access, err := r.client.tokens.Token()
	require.NoError(t, err)
	require.NotZero(t, h.logs.Len())
	for _, e := range h.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		// A prefix too: quoting cuts long texts, and a cut token is still a leak.
		assert.NotContains(t, line, string(tok[:64]))
		assert.NotContains(t, line, access.AccessToken)
	}
}
