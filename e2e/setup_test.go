//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// 6. Certificate authentication end to end.
func TestCertificateAuthentication(t *testing.T) {
	cc, err := msgtracetest.NewClientCert("otelcol-msgtrace e2e")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1, ClientCert: cc.Cert}, devotest.Options{})
	certFile, keyFile, err := cc.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := rows(6, 500)
	e.st.Tenant.AddRows(src...)
	e.extra = append(e.extra, "APP_CERT="+certFile, "APP_KEY="+keyFile)
	c := e.run("certificate.yaml")
	e.deliverAll(c, stack.Keys(src), time.Minute, false)
}

// 7. Changing reset_checkpoint re-reads from initial_lookback.
func TestResetCheckpoint(t *testing.T) {
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	src := rows(7, 400)
	e.st.Tenant.AddRows(src...)
	c := e.run("graph.yaml")
	e.waitDelivered(c, stack.Keys(src), time.Minute)
	e.settle(time.Second)
	first := e.st.Sink.EventCount()

	// Same value: the checkpoint holds, nothing is read again.
	c = e.restartSendsNothing(c, "graph.yaml")
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	e.extra = append(e.extra, "RESET_CHECKPOINT=2026-11-21")
	c = e.run("graph.yaml")
	deadline := time.Now().Add(time.Minute)
	for e.st.Sink.EventCount() < 2*first {
		if time.Now().After(deadline) {
			t.Fatalf("after reset only %d of %d rows re-read", e.st.Sink.EventCount()-first, first)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.settle(time.Second)
	got, _ := stack.Delivered(e.st.Sink.Events())
	for _, k := range stack.Keys(src) {
		if got[k] != 2 {
			t.Fatalf("row %s delivered %d times, want 2 (once before and once after the reset)", k, got[k])
		}
	}
	if !strings.Contains(c.Output(), "reset_checkpoint changed") {
		t.Fatal("the reset is not logged")
	}
	t.Logf("FIGURES %s: rows=%d delivered before reset=%d after=%d", t.Name(), len(src), first, e.st.Sink.EventCount()-first)
}

// 8. A debug-level run prints no secret, token or assertion.
func TestDebugOutputHasNoSecrets(t *testing.T) {
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	src := rows(8, 200)
	e.st.Tenant.AddRows(src...)
	e.st.Tenant.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultUnauthorized}, msgtracetest.Fault{Kind: msgtracetest.FaultServerError})
	e.extra = append(e.extra, "LOG_LEVEL=debug")
	c := e.run("graph.yaml")
	e.waitDelivered(c, stack.Keys(src), time.Minute)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	out := c.Output()
	if !strings.Contains(out, "debug") {
		t.Fatal("the run was not at debug level")
	}
	secrets := append([]string{e.st.Secret}, e.st.Tenant.IssuedTokens()...)
	if len(secrets) < 3 {
		t.Fatalf("expected at least two tokens (one revoked), got %d", len(secrets)-1)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("a secret or token appears in the collector output")
		}
	}
	if strings.Contains(out, "client_assertion") || strings.Contains(out, "Bearer ") {
		t.Fatal("credential material appears in the collector output")
	}
	t.Logf("FIGURES %s: %d bytes of debug output, %d secrets checked", t.Name(), len(out), len(secrets))
}

// 9. Bad configurations exit non-zero within seconds, naming the key.
func TestBadConfigurations(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"misspelled key", "tenant_id:", "tennant_id:", "tennant_id"},
		{"bad tenant", "tenant_id: contoso.onmicrosoft.com", "tenant_id: contoso/x", "tenant_id"},
		{"client id not a guid", "client_id: 00000000-0000-0000-0000-000000000000", "client_id: my-app", "client_id"},
		{"no credential", "    client_secret: ${env:O365_CLIENT_SECRET:-replace-me}\n", "", "client_secret"},
		{"bad api", "    storage: file_storage\n", "    storage: file_storage\n    api: rest\n", "api"},
		{"delay too long", "    storage: file_storage\n", "    storage: file_storage\n    delay: 72h\n", "delay"},
		{"page size", "    storage: file_storage\n", "    storage: file_storage\n    page_size: 9000\n", "page_size"},
		{"reset not a date", "    storage: file_storage\n", "    storage: file_storage\n    reset_checkpoint: soon\n", "reset_checkpoint"},
		{"unknown storage", "    storage: file_storage\n", "    storage: file_storage/other\n", "storage"},
		{"empty devo endpoint", "endpoint: collector-us.devo.io:443", "endpoint: \"\"", "endpoint"},
		{"devo tag with space", "tag: cloud.office365.messagetracing", "tag: \"cloud office365\"", "tag"},
		{"devo bad delivery", "    tag: cloud.office365.messagetracing\n", "    tag: cloud.office365.messagetracing\n    delivery: maybe\n", "delivery"},
		{"devo unreadable certificate", "    tag: cloud.office365.messagetracing\n", "    tag: cloud.office365.messagetracing\n    tls:\n      cert_file: /nonexistent/domain.crt\n      key_file: /nonexistent/domain.key\n", "domain.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(string(base), tt.from, tt.to, 1)
			if body == string(base) {
				t.Fatalf("test case does not change the configuration")
			}
			cfg := writeConfig(t, body)
			ctx := ctxTimeout(t, 20*time.Second)
			start := time.Now()
			cmd := exec.CommandContext(ctx, binary(t), "--config", cfg)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("collector did not exit with an error (err=%v, ctx=%v):\n%s", err, ctx.Err(), out)
			}
			if took > 10*time.Second {
				t.Fatalf("took %v to fail", took)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("error does not name %q:\n%s", tt.want, out)
			}
			t.Logf("exit after %v", took.Round(time.Millisecond))
		})
	}
}

// 10. Three tenants in one collector, each with its own checkpoint.
func TestThreeTenants(t *testing.T) {
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	second := startTenant(t, 11)
	third := startTenant(t, 12)
	src := rows(10, 300)
	e.st.Tenant.AddRows(src...)
	src2, src3 := rows(11, 400), rows(12, 500)
	second.Tenant.AddRows(src2...)
	third.Tenant.AddRows(src3...)
	e.extra = append(e.extra,
		"MSGTRACE2_URL="+second.Tenant.URL(), "MSGTRACE2_CA="+second.TenantCA, "MSGTRACE2_TENANT="+second.Tenant.Options().TenantID,
		"MSGTRACE2_CLIENT_ID="+second.Tenant.Options().ClientID, "MSGTRACE2_SECRET="+second.Secret,
		"MSGTRACE3_URL="+third.Tenant.URL(), "MSGTRACE3_CA="+third.TenantCA, "MSGTRACE3_TENANT="+third.Tenant.Options().TenantID,
		"MSGTRACE3_CLIENT_ID="+third.Tenant.Options().ClientID, "MSGTRACE3_SECRET="+third.Secret,
	)
	all := append(append(stack.Keys(src), stack.Keys(src2)...), stack.Keys(src3)...)
	c := e.run("three-tenants.yaml")
	e.waitDelivered(c, all, 2*time.Minute)
	e.settle(time.Second)
	// A restart resumes each tenant from its own checkpoint: nothing is sent again.
	e.restartSendsNothing(c, "three-tenants.yaml", second.Tenant, third.Tenant)
	got, _ := stack.Delivered(e.st.Sink.Events())
	e.report(all, got, false)
	entries, err := os.ReadDir(filepath.Join(e.st.Dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	for _, want := range []string{"receiver_office365_message_trace_tenant_a", "receiver_office365_message_trace_tenant_b", "receiver_office365_message_trace_tenant_c"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Fatalf("no checkpoint file %s in %v", want, names)
		}
	}
}

// startTenant starts another fake tenant (its sink is unused).
func startTenant(t *testing.T, seed int64) *stack.Stack {
	t.Helper()
	timed(t)
	st, err := stack.Start(stack.Options{Dir: t.TempDir(), Tenant: msgtracetest.Options{
		QuotaRequests: -1,
		TenantID:      "00000000-0000-4000-8000-0000000000" + string(rune('0'+seed/10)) + string(rune('0'+seed%10)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
