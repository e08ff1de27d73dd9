//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// devoTableFields are the body names Devo's cloud.office365.messagetracing parser was built for
// (the Reporting Web Service row, see docs/setup.md "Which field names go to which Devo table").
var devoTableFields = []string{"MessageTraceId", "MessageId", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "Size"}

// The README's first example, with only the stand-ins' addresses and credentials layered over
// it, delivers to cloud.office365.messagetracing the field names that table parses.
func TestMinimalDeliversWhatDevoTableParses(t *testing.T) {
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	now := time.Now()
	src := msgtracetest.Generate(21, 50, now.Add(-5*24*time.Hour), now.Add(-2*24*time.Hour),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	e.st.Tenant.AddRows(src...)

	cmd := exec.Command(binary(t),
		"--config", filepath.Join("..", "testdata", "minimal.yaml"),
		"--config", filepath.Join("..", "testdata", "e2e", "minimal-standins.yaml"))
	cmd.Env = append(cmd.Environ(), e.environ()...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", out.String())
		}
	})

	e.waitDelivered(nil, stack.Keys(src), time.Minute)
	for _, ev := range e.st.Sink.Events() {
		if ev.Tag != "cloud.office365.messagetracing" {
			t.Fatalf("event sent to tag %q, want cloud.office365.messagetracing", ev.Tag)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(ev.Message), &body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		for _, k := range devoTableFields {
			if _, ok := body[k]; !ok {
				t.Fatalf("body lacks %q, which the Devo table parses; keys: %v", k, bodyKeys(body))
			}
		}
		for _, graphName := range []string{"id", "receivedDateTime", "recipientAddress", "status"} {
			if _, ok := body[graphName]; ok {
				t.Fatalf("body carries the Graph name %q, which the Devo table does not parse", graphName)
			}
		}
		if s, _ := body["Status"].(string); s == "" || strings.ToUpper(s[:1]) != s[:1] {
			t.Fatalf("Status %q is not in the legacy PascalCase form (Delivered, FilteredAsSpam, ...)", s)
		}
	}
	t.Logf("FIGURES %s: %d events checked", t.Name(), len(e.st.Sink.Events()))
}

func bodyKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
