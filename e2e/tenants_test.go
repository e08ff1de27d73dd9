//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// tenantID and clientID of the i-th generated tenant.
func tenantID(i int) string   { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1) }
func clientID(i int) string   { return fmt.Sprintf("10000000-0000-4000-8000-%012d", i+1) }
func tenantName(i int) string { return fmt.Sprintf("t%03d", i) }

// writeTenants writes the tenants file and one secret file per tenant, the documented way:
// tenants.csv is what a person maintains, secrets stay in files the configuration only names.
func writeTenants(t *testing.T, dir string, n int, shard func(int) int, secret func(int) string) (csv, secrets string) {
	t.Helper()
	secrets = filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("name,tenant_id,client_id,shard\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,%s,%s,%d\n", tenantName(i), tenantID(i), clientID(i), shard(i))
		if err := os.WriteFile(filepath.Join(secrets, tenantName(i)), []byte(secret(i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	csv = filepath.Join(dir, "tenants.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return csv, secrets
}

// generate runs the documented generator and returns the --config arguments of one collector.
func generate(t *testing.T, csv, secrets, out string, shard int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./internal/cmd/tenantconfig",
		"-tenants", csv, "-out", out, "-shard", strconv.Itoa(shard),
		"-secret", "${file:"+secrets+"/{name}}", "-common", "testdata/e2e/tenants-common.yaml")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tenantconfig: %v\n%s", err, b)
	}
	files, err := filepath.Glob(filepath.Join(out, "tenant-*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no tenant files in %s: %v", out, err)
	}
	return append([]string{filepath.Join("..", "testdata", "e2e", "tenants-base.yaml")}, files...)
}

func configArgs(cmd string, configs []string) []string {
	args := []string{cmd}
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	return args
}

// A 300-tenant configuration written the documented way (tenants file -> one file per tenant,
// secrets in files) is accepted by the binary, and a missing secret file is named.
func TestThreeHundredTenantConfigValidates(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	csv, secrets := writeTenants(t, dir, n, func(int) int { return 0 }, func(i int) string { return fmt.Sprintf("secret-%d", i) })
	configs := generate(t, csv, secrets, filepath.Join(dir, "conf.d"), -1)
	if len(configs) != n+1 {
		t.Fatalf("%d configuration files, want base + %d", len(configs), n)
	}
	env := append(os.Environ(), "STATE_DIR="+filepath.Join(dir, "state"), "MSGTRACE_URL=https://127.0.0.1:1", "MSGTRACE_CA=/nonexistent/ca.pem",
		"DEVO_ENDPOINT=127.0.0.1:1", "DEVO_CA=/nonexistent/ca.pem", "DEVO_CERT=/nonexistent/c.pem", "DEVO_KEY=/nonexistent/k.pem")
	validate := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary(t), configArgs("validate", configs)...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	started := time.Now()
	if out, err := validate(); err != nil {
		t.Fatalf("validate of %d tenants failed: %v\n%s", n, err, out)
	}
	t.Logf("FIGURES %s: tenants=%d files=%d validate=%v", t.Name(), n, len(configs), time.Since(started).Round(10*time.Millisecond))
	// The secrets are really read: without one of them the configuration is refused.
	if err := os.Remove(filepath.Join(secrets, tenantName(123))); err != nil {
		t.Fatal(err)
	}
	out, err := validate()
	if err == nil || !strings.Contains(out, tenantName(123)) {
		t.Fatalf("validate with a missing secret file: %v\n%s", err, out)
	}
}

// Two collectors on disjoint tenant lists (one shard each) against one stand-in: every tenant's
// rows arrive exactly once, every tenant is read (none missed) and by exactly one collector
// (one login per tenant, its checkpoint only in that collector's state directory).
func TestTwoCollectorsOnDisjointTenantLists(t *testing.T) {
	const n = 8
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	dir := t.TempDir()
	secret := func(i int) string { return fmt.Sprintf("secret-%d-%d", i, time.Now().UnixNano()) }
	secrets := make([]string, n)
	for i := range n {
		secrets[i] = secret(i)
	}
	var opts []msgtracetest.Options
	for i := range n {
		opts = append(opts, msgtracetest.Options{TenantID: tenantID(i), ClientID: clientID(i), ClientSecret: secrets[i], QuotaRequests: -1})
	}
	ms, err := msgtracetest.NewMultiServer("", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.Close)
	ca, err := ms.CAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for i := range n {
		src := rows(int64(200+i), 100+10*i)
		ms.Tenant(i).AddRows(src...)
		all = append(all, stack.Keys(src)...)
	}
	csv, secretDir := writeTenants(t, dir, n, func(i int) int { return i % 2 }, func(i int) string { return secrets[i] })
	var collectors []*stack.Collector
	for shard := range 2 {
		configs := generate(t, csv, secretDir, filepath.Join(dir, fmt.Sprintf("conf-%d", shard)), shard)
		env := append(e.environ(), "MSGTRACE_URL="+ms.URL(), "MSGTRACE_CA="+ca, "STATE_DIR="+filepath.Join(dir, fmt.Sprintf("state-%d", shard)))
		c, err := stack.StartCollectorMerged(binary(t), configs, env, nil)
		if err != nil {
			t.Fatal(err)
		}
		stopAtCleanup(t, c, fmt.Sprintf("collector %d", shard))
		collectors = append(collectors, c)
	}
	e.waitDelivered(collectors[0], all, 2*time.Minute)
	e.settle(2 * time.Second)
	got, _ := stack.Delivered(e.st.Sink.Events())
	e.report(all, got, false)
	for i := range n {
		tn := ms.Tenant(i)
		if tn.APIRequestCount() == 0 {
			t.Errorf("tenant %d was never read", i)
		}
		// Each collector logs in once per tenant it polls (the token lasts an hour).
		if tn.TokensIssued() != 1 {
			t.Errorf("tenant %d issued %d tokens, want 1: read by both collectors, or logged in again", i, tn.TokensIssued())
		}
		mine := filepath.Join(dir, fmt.Sprintf("state-%d", i%2), "receiver_office365_message_trace_"+tenantName(i))
		other := filepath.Join(dir, fmt.Sprintf("state-%d", 1-i%2), "receiver_office365_message_trace_"+tenantName(i))
		if _, err := os.Stat(mine); err != nil {
			t.Errorf("tenant %d: no checkpoint in its own collector's state: %v", i, err)
		}
		if _, err := os.Stat(other); err == nil {
			t.Errorf("tenant %d: a checkpoint in the other collector's state %s", i, other)
		}
	}
	t.Logf("FIGURES %s: tenants=%d collectors=2 rows=%d violations=%d", t.Name(), n, len(all), ms.QuotaViolations())
}
