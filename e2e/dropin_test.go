//go:build e2e

package e2e

import (
	"context"
	"fmt"
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

// dropinBinary is the user's own distribution built from testdata/dropin/builder-config.yaml;
// `make e2e` sets OTELCOL_DROPIN_BIN (`make dropin` builds it).
func dropinBinary(t *testing.T) string {
	t.Helper()
	return builtBinary(t, "OTELCOL_DROPIN_BIN", "otelcol-dropin", "make dropin")
}

// A distribution built from a user's manifest, with our receiver and exporter taken by module
// path beside core and contrib components, runs our receiver and the filelog receiver side by
// side in one collector, both delivering to the Devo stand-in, each to its own tag.
func TestDropInDistribution(t *testing.T) {
	bin := dropinBinary(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "components").CombinedOutput()
	if err != nil {
		t.Fatalf("components failed: %v\n%s", err, out)
	}
	comps := string(out)
	if !strings.Contains(comps, "command: otelcol-acme\n") {
		t.Fatalf("not the drop-in distribution:\n%s", comps)
	}
	// Each component by its own module (issue 21), at the product version.
	for name, module := range map[string]string{
		"office365_message_trace": "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver v",
		"devo":                    "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter v",
	} {
		if !strings.Contains(comps, "name: "+name+"\n      module: "+module) {
			t.Fatalf("%s is not in the drop-in distribution by its module path %s...:\n%s", name, module, comps)
		}
	}
	if !strings.Contains(comps, "module: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver v0.165.1") {
		t.Fatalf("the filelog receiver is not in the drop-in distribution:\n%s", comps)
	}

	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	src := rows(31, 300)
	e.st.Tenant.AddRows(src...)
	logDir := t.TempDir()
	logFile := filepath.Join(logDir, "app.log")
	var lines []string
	appendLines := func(from, to int) {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			l := fmt.Sprintf("2026-11-27T10:00:%02d acme-app level=info msg=\"order %d shipped\"", i%60, i)
			lines = append(lines, l)
			if _, err := f.WriteString(l + "\n"); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(0, 100) // there before the collector starts

	e.extra = append(e.extra, "APP_LOG_DIR="+logDir)
	c, err := stack.StartCollector(bin, filepath.Join("..", "testdata", "dropin", "config.yaml"), e.environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !c.Exited() {
			_ = c.Stop(10 * time.Second)
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", tail(c.Output(), 6000))
		}
	})
	time.Sleep(time.Second)
	appendLines(100, 150) // written while it runs

	const traceTag, appTag = "cloud.office365.messagetracing", "my.app.acme.logs"
	wantRows := stack.Keys(src)
	deadline := time.Now().Add(time.Minute)
	var gotRows, gotLines map[string]int
	for {
		gotRows, gotLines = map[string]int{}, map[string]int{}
		for _, ev := range e.st.Sink.Events() {
			switch ev.Tag {
			case traceTag:
				k, err := stack.RowKey(ev.Message)
				if err != nil {
					t.Fatalf("malformed message trace event: %v", err)
				}
				gotRows[k]++
			case appTag:
				gotLines[ev.Message]++
			default:
				t.Fatalf("event with unexpected tag %q: %.200s", ev.Tag, ev.Message)
			}
		}
		missingRows, missingLines := 0, 0
		for _, k := range wantRows {
			if gotRows[k] == 0 {
				missingRows++
			}
		}
		for _, l := range lines {
			if gotLines[l] == 0 {
				missingLines++
			}
		}
		if missingRows == 0 && missingLines == 0 {
			break
		}
		if c.Exited() {
			t.Fatalf("collector exited (%v): %d rows and %d lines missing", c.ExitErr(), missingRows, missingLines)
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 1m: %d of %d message trace rows and %d of %d log lines not delivered",
				missingRows, len(wantRows), missingLines, len(lines))
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.settle(time.Second)
	if n := e.st.Sink.EventCount(); n != len(wantRows)+len(lines) {
		t.Errorf("%d events at the sink, want %d rows + %d lines exactly once", n, len(wantRows), len(lines))
	}
	t.Logf("FIGURES %s: rows=%d lines=%d events=%d wall=%v", t.Name(), len(wantRows), len(lines),
		e.st.Sink.EventCount(), time.Since(e.start).Round(100*time.Millisecond))
}
