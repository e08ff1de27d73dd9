//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary returns the distribution under test; `make e2e` sets OTELCOL_MSGTRACE_BIN.
func binary(t *testing.T) string {
	t.Helper()
	return builtBinary(t, "OTELCOL_MSGTRACE_BIN", "otelcol-msgtrace", "make build")
}

// builtBinary is the binary named by the environment variable, or bin/<name>; the test fails,
// naming the make target that builds it, when it is missing.
func builtBinary(t *testing.T, envVar, name, target string) string {
	t.Helper()
	timed(t)
	bin := os.Getenv(envVar)
	if bin == "" {
		bin = filepath.Join("..", "bin", name)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found at %s (run %s): %v", name, bin, target, err)
	}
	return bin
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestComponentsListed(t *testing.T) {
	out, err := run(t, "components")
	if err != nil {
		t.Fatalf("components failed: %v\n%s", err, out)
	}
	for _, name := range []string{
		// v0.162.0 lists the OTLP exporters as otlp_grpc and otlp_http; the familiar otlp and
		// otlphttp still work as aliases (TestValidateAlongsideOtherPipelines).
		"office365_message_trace", "devo", "otlp", "otlp_grpc", "otlp_http", "debug", "batch",
		"memory_limiter", "file_storage", "health_check", "pprof", "zpages",
		// What a SIEM team adds next to message traces (testdata/examples). v0.165 lists the
		// filelog receiver as file_log; `filelog` still works (TestValidateExamples).
		"file_log", "syslog", "redaction", "resource", "kafka",
	} {
		if !strings.Contains(out, "name: "+name+"\n") {
			t.Errorf("component %q is not in the distribution:\n%s", name, out)
		}
	}
}

func TestValidateMinimalPipeline(t *testing.T) {
	out, err := run(t, "validate", "--config", "testdata/minimal.yaml")
	if err != nil {
		t.Fatalf("validate testdata/minimal.yaml failed: %v\n%s", err, out)
	}
}

func TestValidateAlongsideOtherPipelines(t *testing.T) {
	out, err := run(t, "validate", "--config", "testdata/alongside.yaml", healthGate)
	if err != nil {
		t.Fatalf("validate testdata/alongside.yaml failed: %v\n%s", err, out)
	}
}

func TestValidateRejectsMisspelledKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "typo.yaml")
	body, err := os.ReadFile("../testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typo := strings.Replace(string(body), "tenant_id:", "tennant_id:", 1)
	if err := os.WriteFile(cfg, []byte(typo), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "validate", "--config", cfg)
	if err == nil {
		t.Fatalf("validate accepted a misspelled key:\n%s", out)
	}
	if !strings.Contains(out, "tennant_id") {
		t.Fatalf("error does not name the misspelled key:\n%s", out)
	}
}
