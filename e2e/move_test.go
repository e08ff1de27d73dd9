//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// checkpointFile is file_storage's file for the receiver of testdata/e2e/graph.yaml.
const checkpointFile = "receiver_office365_message_trace_"

// docs/scaling.md: a tenant moves to another collector without repeats when its receiver's
// storage file moves with it (same receiver name); without the file it starts afresh and repeats.
func TestTenantMovesWithItsCheckpointFile(t *testing.T) {
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	src := rows(41, 200)
	e.st.Tenant.AddRows(src...)
	oldState := filepath.Join(t.TempDir(), "old")
	e.extra = append(e.extra, "STATE_DIR="+oldState)
	c := e.run("graph.yaml")
	e.deliverAll(c, stack.Keys(src), time.Minute, false)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// The new collector gets only the receiver's file, not the old exporter queue.
	newState := filepath.Join(t.TempDir(), "new")
	if err := os.MkdirAll(newState, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(oldState, checkpointFile))
	if err != nil {
		t.Fatalf("no checkpoint file in the old state directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(newState, checkpointFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := e.st.Sink.EventCount()
	e.extra = append(e.extra, "STATE_DIR="+newState)
	c = e.run("graph.yaml")
	time.Sleep(4 * time.Second) // several poll intervals (graph.yaml polls every second)
	if n := e.st.Sink.EventCount(); n != before {
		t.Fatalf("the moved tenant re-sent %d events although its checkpoint file moved with it", n-before)
	}
	// And it goes on: rows received after the move arrive once (graph.yaml's early pass reads
	// them 10 s later).
	more := msgtracetest.Generate(42, 20, time.Now().Add(-5*time.Second), time.Now().Add(-time.Second),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 2})
	e.st.Tenant.AddRows(more...)
	e.deliverAll(c, append(stack.Keys(src), stack.Keys(more)...), time.Minute, false)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Control: a collector without the file starts from initial_lookback and repeats rows.
	before = e.st.Sink.EventCount()
	e.extra = append(e.extra, "STATE_DIR="+filepath.Join(t.TempDir(), "empty"))
	e.run("graph.yaml") // stopped by the harness at the end of the test, as before
	deadline := time.Now().Add(time.Minute)
	for e.st.Sink.EventCount() == before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if e.st.Sink.EventCount() == before {
		t.Fatal("without the checkpoint file the tenant was not read again: the check above proves nothing")
	}
}
