//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// TestVersionHasChangelogEntry: the version the built binary reports has an entry in
// CHANGELOG.md, so no build goes out whose changes nobody wrote down.
func TestVersionHasChangelogEntry(t *testing.T) {
	out, err := run(t, "--version")
	if err != nil {
		t.Fatalf("--version failed: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^otelcol-msgtrace version (\S+)\n?$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("--version printed %q, want \"otelcol-msgtrace version X.Y.Z\"", out)
	}
	v := m[1]
	changelog, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(changelog), "\n## ["+v+"] ") {
		t.Fatalf("the binary reports version %s, which has no \"## [%s] - date\" entry in CHANGELOG.md", v, v)
	}
}

// TestServiceVersionOnOwnTelemetry: the collector's own telemetry carries the same version as
// service.version (the Prometheus endpoint's target_info), so a dashboard shows which release
// runs.
func TestServiceVersionOnOwnTelemetry(t *testing.T) {
	out, err := run(t, "--version")
	if err != nil {
		t.Fatalf("--version failed: %v\n%s", err, out)
	}
	v := strings.TrimSpace(strings.TrimPrefix(out, "otelcol-msgtrace version "))
	e := newEnv(t, msgtracetest.Options{}, devotest.Options{})
	o := e.runObserved()
	want := `service_version="` + v + `"`
	deadline := time.Now().Add(30 * time.Second)
	for {
		var raw string
		if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(o.metricsPort) + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			raw = string(b)
		}
		if strings.Contains(raw, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics endpoint has no %s:\n%s", want, raw)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
