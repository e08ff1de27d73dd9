package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// distribution is the binary built by `make build`; `make check-deploy` sets OTELCOL_MSGTRACE_BIN.
func distribution(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_MSGTRACE_BIN")
	if bin == "" {
		bin = filepath.Join("..", "bin", "otelcol-msgtrace")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("distribution binary not found at %s (run make build, or make check-deploy): %v", abs, err)
	}
	return abs
}

// runBinary runs the distribution with only the given environment (plus PATH), so nothing from
// the developer's shell stands in for what the deployment provides.
func runBinary(t *testing.T, bin string, environ []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}
