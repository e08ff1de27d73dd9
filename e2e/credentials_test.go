//go:build e2e

package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// newCredentialEnv is newEnv with the stack's federated issuer or metadata service.
func newCredentialEnv(t *testing.T, opts stack.Options) *env {
	t.Helper()
	timed(t)
	opts.Dir = t.TempDir()
	opts.Tenant.QuotaRequests = -1
	st, err := stack.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return &env{t: t, st: st, start: time.Now()}
}

// recentRows are messages received in the last seconds: rows added mid-run must be newer than
// the checkpoint (graph.yaml's early pass reads them 10 s later).
func recentRows(seed int64, messages int) []msgtracetest.Row {
	now := time.Now()
	return msgtracetest.Generate(seed, messages, now.Add(-5*time.Second), now.Add(-time.Second),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
}

// federatedLogins are the jtis of the federated tokens the tenant's successful logins presented.
func federatedLogins(srv *msgtracetest.Server) []string {
	var out []string
	for _, rq := range srv.Requests() {
		if rq.Kind == msgtracetest.KindToken && rq.Status == 200 {
			out = append(out, rq.Federated)
		}
	}
	return out
}

// requireNoCredentialInOutput checks the collector's (debug-level) output for every access
// token the tenant issued and for each credential, in full and by a prefix: quoting cuts long
// texts, and a cut credential is still a leak.
func requireNoCredentialInOutput(t *testing.T, out string, tenant *msgtracetest.Server, credentials ...string) {
	t.Helper()
	if err := credentialInOutput(out, append(credentials, tenant.IssuedTokens()...)); err != nil {
		t.Fatal(err)
	}
}

// debugLine is the level column the console encoder writes for a debug-level entry.
const debugLine = "\tdebug\t"

// credentialInOutput is requireNoCredentialInOutput's check. The output must hold at least one
// debug-level line: the word "debug" alone may be anywhere (a message, a configuration key).
func credentialInOutput(out string, credentials []string) error {
	if !strings.Contains(out, debugLine) {
		return errors.New("the run was not at debug level: no line has the level debug")
	}
	for _, s := range credentials {
		if strings.Contains(out, s) || (len(s) > 64 && strings.Contains(out, s[:64])) {
			return errors.New("a credential or token appears in the collector output")
		}
	}
	if strings.Contains(out, "client_assertion=") || strings.Contains(out, "Bearer ") {
		return errors.New("credential material appears in the collector output")
	}
	return nil
}

// The credential check is only as good as its run: output without a debug-level line fails it,
// even when the word "debug" appears in it.
func TestCredentialCheckNeedsADebugLine(t *testing.T) {
	info := "2026-12-07T16:00:00.000Z\tinfo\tservice@v0.165.0/service.go:1\tStarting\t{\"resource\": {}, \"debug\": false}\n" +
		"2026-12-07T16:00:00.100Z\twarn\tmsgtrace/x.go:1\tdebug-level logging is off\n"
	if err := credentialInOutput(info, nil); err == nil {
		t.Fatal("output without a debug-level line passed")
	}
	debug := info + "2026-12-07T16:00:01.000Z\tdebug\tmessagetracereceiver/x.go:1\tpage read\n"
	if err := credentialInOutput(debug, nil); err != nil {
		t.Fatal(err)
	}
	if err := credentialInOutput(debug, []string{"secret-value-1234"}); err != nil {
		t.Fatal(err)
	}
	if err := credentialInOutput(debug+"secret-value-1234\n", []string{"secret-value-1234"}); err == nil {
		t.Fatal("a credential in the output passed")
	}
}

// Workload identity federation: the token file is replaced mid-run (the kubelet's rotation);
// the next login presents the new token, and no row is lost or repeated.
func TestFederatedTokenFileRotation(t *testing.T) {
	parallel(t)
	e := newCredentialEnv(t, stack.Options{FederatedSubject: "system:serviceaccount:observability:otelcol-msgtrace"})
	first, err := os.ReadFile(e.st.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	before := rows(24, 300)
	e.st.Tenant.AddRows(before...)
	e.extra = append(e.extra, "LOG_LEVEL=debug")
	c := e.run("federated.yaml")
	e.waitDelivered(c, stack.Keys(before), time.Minute)
	logins := federatedLogins(e.st.Tenant)
	if len(logins) == 0 {
		t.Fatal("no federated login recorded")
	}

	// Rotation: a new token replaces the file; the access token is revoked, so the next API
	// call gets a 401 and the receiver logs in again.
	jti, err := e.st.WriteFederatedToken(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(e.st.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	seenBefore := len(logins)
	e.st.Tenant.RevokeTokens()
	after := recentRows(25, 100)
	e.st.Tenant.AddRows(after...)
	all := append(stack.Keys(before), stack.Keys(after)...)
	e.deliverAll(c, all, time.Minute, false)

	logins = federatedLogins(e.st.Tenant)
	if len(logins) <= seenBefore {
		t.Fatalf("no login after the token file was replaced (%d logins)", len(logins))
	}
	for i, l := range logins[seenBefore:] {
		if l != jti {
			t.Fatalf("login %d after the rotation presented %q, not the new token %q", seenBefore+i+1, l, jti)
		}
	}
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	requireNoCredentialInOutput(t, c.Output(), e.st.Tenant, string(first), string(second))
	t.Logf("FIGURES %s: rows=%d logins=%d (%d after the rotation, all with the new token)", t.Name(), len(all), len(logins), len(logins)-seenBefore)
}

// Managed identity: tokens from the fake metadata service, which then goes away (refused
// connections, then 500s) while the receiver needs a new token; it rides the outage out and
// every row arrives once.
func TestManagedIdentityOutage(t *testing.T) {
	parallel(t)
	e := newCredentialEnv(t, stack.Options{Metadata: &msgtracetest.MetadataOptions{SystemAssigned: true}})
	md := e.st.Metadata
	before := rows(26, 300)
	e.st.Tenant.AddRows(before...)
	e.extra = append(e.extra, "LOG_LEVEL=debug")
	c := e.run("managed-identity.yaml")
	e.waitDelivered(c, stack.Keys(before), time.Minute)
	if n := len(md.Requests()); n == 0 {
		t.Fatal("no token came from the metadata service")
	}

	if err := md.SetFault(msgtracetest.MetadataUnreachable, 0); err != nil {
		t.Fatal(err)
	}
	e.st.Tenant.RevokeTokens()
	after := recentRows(27, 100)
	e.st.Tenant.AddRows(after...)
	time.Sleep(4 * time.Second)
	if err := md.SetFault(msgtracetest.MetadataServerError, 0); err != nil {
		t.Fatal(err)
	}
	failedFrom := len(md.Requests())
	deadline := time.Now().Add(30 * time.Second)
	for len(md.Requests()) < failedFrom+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(md.Requests()) < failedFrom+2 {
		t.Fatal("the receiver stopped asking the metadata service during the outage")
	}
	if e.st.Sink.EventCount() != len(before) {
		t.Fatalf("%d rows arrived during the outage without a token", e.st.Sink.EventCount()-len(before))
	}
	if c.Exited() {
		t.Fatalf("the collector exited during the outage: %v", c.ExitErr())
	}
	if err := md.SetFault("", 0); err != nil {
		t.Fatal(err)
	}
	// An outage is transient: retried per retry_on_failure (at most 1m apart) and at the next
	// poll, not left for the minutes a setup problem waits (1m and more).
	cleared := time.Now()
	all := append(stack.Keys(before), stack.Keys(after)...)
	e.deliverAll(c, all, 50*time.Second, false)
	recovered := time.Since(cleared)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	out := c.Output()
	if !strings.Contains(out, "managed identity endpoint (imds) unreachable") || !strings.Contains(out, "managed identity endpoint (imds) answered HTTP 500") {
		t.Fatal("the outage is not in the collector's log")
	}
	requireNoCredentialInOutput(t, out, e.st.Tenant)
	var failed int
	for _, rq := range md.Requests() {
		if rq.Status != 200 {
			failed++
		}
	}
	t.Logf("FIGURES %s: rows=%d metadata requests=%d (%d answered 500), every row delivered %v after the outage ended", t.Name(), len(all), len(md.Requests()), failed, recovered.Round(100*time.Millisecond))
}

// A token file that is missing, empty or expired is not the configuration's fault (the kubelet
// writes and rewrites it): `validate` accepts it, and a started collector logs it as that
// tenant's setup problem, naming the file and the cause, while another tenant reads.
func TestFederatedTokenFileProblemsStayWithTheirTenant(t *testing.T) {
	e := newCredentialEnv(t, stack.Options{FederatedSubject: "system:serviceaccount:observability:otelcol-msgtrace"})
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "e2e", "federated.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := string(raw)
	start := strings.Index(base, "  office365_message_trace:\n")
	end := strings.Index(base, "\nexporters:")
	if start < 0 || end < 0 {
		t.Fatal("federated.yaml changed shape")
	}
	block := base[start:end]
	dir := t.TempDir()
	issuer, err := msgtracetest.NewFederatedIssuer("https://oidc.example/")
	if err != nil {
		t.Fatal(err)
	}
	expiredTok, _ := issuer.Token("system:serviceaccount:a:b", "", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	files := map[string]string{"missing": filepath.Join(dir, "missing"), "empty": filepath.Join(dir, "empty"), "expired": filepath.Join(dir, "expired")}
	for name, content := range map[string]string{"empty": "", "expired": expiredTok} {
		if err := os.WriteFile(files[name], []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		"missing": "`federated_token_file` " + files["missing"] + " cannot be read: no such file or directory",
		"empty":   "`federated_token_file` " + files["empty"] + " is empty",
		"expired": "`federated_token_file` " + files["expired"] + " holds a token that expired at",
	}
	var extra strings.Builder
	ids := []string{"office365_message_trace"}
	for _, name := range []string{"missing", "empty", "expired"} {
		b := strings.Replace(block, "  office365_message_trace:", "  office365_message_trace/"+name+":", 1)
		b = strings.Replace(b, "${env:AZURE_FEDERATED_TOKEN_FILE}", files[name], 1)
		extra.WriteString(b)
		ids = append(ids, "office365_message_trace/"+name)
	}
	body := strings.Replace(base, "\nexporters:", "\n"+extra.String()+"\nexporters:", 1)
	body = strings.Replace(body, "receivers: [office365_message_trace]", "receivers: ["+strings.Join(ids, ", ")+"]", 1)
	cfg := writeConfig(t, body)

	validate := exec.CommandContext(ctxTimeout(t, 30*time.Second), binary(t), "validate", "--config", cfg)
	validate.Env = e.environ()
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("validate refused a configuration whose only fault is the token files' content:\n%s", out)
	}

	good := rows(28, 200)
	e.st.Tenant.AddRows(good...)
	c := e.startShipped(cfg)
	e.deliverAll(c, stack.Keys(good), time.Minute, false)
	for name, w := range want {
		waitOutput(t, c, w, 30*time.Second)
		for _, line := range strings.Split(c.Output(), "\n") {
			if strings.Contains(line, w) && (!strings.Contains(line, "office365_message_trace/"+name) || !strings.Contains(line, "message trace setup problem")) {
				t.Fatalf("the %s token file's problem is not logged as the setup problem of office365_message_trace/%s:\n%s", name, name, line)
			}
		}
	}
	if c.Exited() {
		t.Fatalf("the collector exited: %v", c.ExitErr())
	}
	if strings.Contains(c.Output(), expiredTok[:64]) {
		t.Fatal("the collector printed a token")
	}
}

// Each credential misconfiguration is refused by `validate`, naming the key.
func TestCredentialMisconfigurations(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	issuer, err := msgtracetest.NewFederatedIssuer("https://oidc.example/")
	if err != nil {
		t.Fatal(err)
	}
	expiredTok, _ := issuer.Token("system:serviceaccount:a:b", "", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	expired := filepath.Join(dir, "expired-token")
	empty := filepath.Join(dir, "empty-token")
	validTok, _ := issuer.Token("system:serviceaccount:a:b", "", time.Now(), time.Now().Add(time.Hour))
	valid := filepath.Join(dir, "token")
	for p, c := range map[string]string{expired: expiredTok, empty: "", valid: validTok} {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := filepath.Abs(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "    client_secret: ${env:O365_CLIENT_SECRET:-replace-me}\n"
	const clientID = "    client_id: 00000000-0000-0000-0000-000000000000\n"
	tests := []struct {
		name, from, to string
		want           []string
	}{
		{"secret and token file", secret, secret + "    federated_token_file: " + valid + "\n", []string{"`client_secret` and `federated_token_file` are both set"}},
		{"secret and managed identity", clientID + secret, "    managed_identity: {}\n" + secret, []string{"`client_secret` and `managed_identity` are both set"}},
		{"token file and managed identity", clientID + secret, "    federated_token_file: " + valid + "\n    managed_identity: {}\n", []string{"`federated_token_file` and `managed_identity` are both set"}},
		{"token file variable unset", secret, "    federated_token_file: ${env:AZURE_FEDERATED_TOKEN_FILE}\n", []string{"`federated_token_file` is empty", "AZURE_FEDERATED_TOKEN_FILE"}},
		{"app client id with managed identity", secret, "    managed_identity: {}\n", []string{"`client_id` is set together with `managed_identity`"}},
		{
			"both user-assigned selectors", clientID + secret, "    managed_identity:\n      client_id: 5c0b1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4\n      resource_id: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/otelcol\n",
			[]string{"`managed_identity.client_id` and `managed_identity.resource_id` are both set"},
		},
		{"metadata endpoint in clear text", clientID + secret, "    managed_identity:\n      endpoint: http://10.0.0.4/metadata/identity/oauth2/token\n", []string{"`managed_identity.endpoint`", "is refused"}},
		{"metadata endpoint elsewhere over TLS", clientID + secret, "    managed_identity:\n      endpoint: https://metadata.example.com/token\n", []string{"`managed_identity.endpoint`", "is refused"}},
		{"unknown managed identity key", clientID + secret, "    managed_identity:\n      object_id: 1\n", []string{"object_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(string(base), tt.from, tt.to, 1)
			if body == string(base) {
				t.Fatal("test case does not change the configuration")
			}
			cfg := writeConfig(t, body)
			cmd := exec.CommandContext(ctxTimeout(t, 30*time.Second), bin, "validate", "--config", cfg)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "AZURE_FEDERATED_TOKEN_FILE=")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("validate accepted the configuration:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("validate does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), validTok[:64]) || strings.Contains(string(out), expiredTok[:64]) {
				t.Fatal("validate printed a token")
			}
		})
	}
	// The good forms pass.
	for name, to := range map[string]string{
		"token file":                       "    federated_token_file: " + valid + "\n",
		"system-assigned identity":         "    managed_identity: {}\n",
		"user-assigned identity":           "    managed_identity:\n      client_id: 5c0b1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4\n",
		"identity by resource id":          "    managed_identity:\n      resource_id: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/otelcol\n",
		"empty managed_identity key works": "    managed_identity:\n",
	} {
		t.Run("accepted "+name, func(t *testing.T) {
			from := secret
			if strings.Contains(to, "managed_identity") {
				from = clientID + secret
			}
			cfg := writeConfig(t, strings.Replace(string(base), from, to, 1))
			cmd := exec.CommandContext(ctxTimeout(t, 30*time.Second), bin, "validate", "--config", cfg)
			cmd.Dir = t.TempDir()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("validate refused it: %v\n%s", err, out)
			}
		})
	}
}
