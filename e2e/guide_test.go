//go:build e2e

package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The set-up guide's rehearsal (docs/setup.md, section 0) run as written: its shell blocks, with
// only the scratch directory, the Devo stand-in's port and the path of the binary replaced (so
// the test neither writes into the checkout nor collides with a port in use). `make build` is
// left out: make e2e runs after it.
func TestSetupGuideRehearsal(t *testing.T) {
	blocks := rehearsalBlocks(t)
	if len(blocks) != 4 {
		t.Fatalf("docs/setup.md section 0 has %d sh blocks, this test expects 4 (tenant, Devo, collector, check)", len(blocks))
	}
	bin, err := filepath.Abs(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	scratch := filepath.Join(t.TempDir(), "rehearsal")
	port := strconv.Itoa(freeLoopbackPort(t))
	adapt := func(block string) string {
		block = strings.ReplaceAll(block, ".rehearsal", scratch)
		block = strings.ReplaceAll(block, "127.0.0.1:6514", "127.0.0.1:"+port)
		block = strings.ReplaceAll(block, "bin/otelcol-msgtrace", bin)
		return regexp.MustCompile(`(?m)^make build$`).ReplaceAllString(block, "")
	}
	for i, b := range blocks[:3] {
		if adapt(b) == b {
			t.Fatalf("block %d of the rehearsal changed shape: nothing to adapt in\n%s", i+1, b)
		}
	}

	tenant := startBlock(t, "tenant", adapt(blocks[0]))
	devo := startBlock(t, "devo", adapt(blocks[1]))
	// go run compiles the stand-ins first; the collector's block reads tenant.env.
	waitFor(t, 3*time.Minute, "the fake tenant's tenant.env", func() bool {
		_, err := os.Stat(filepath.Join(scratch, "tenant", "tenant.env"))
		return err == nil
	}, tenant, devo)
	waitFor(t, 3*time.Minute, "the Devo stand-in listening", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, tenant, devo)
	collector := startBlock(t, "collector", adapt(blocks[2]))

	events := filepath.Join(scratch, "devo-events.jsonl")
	waitFor(t, 2*time.Minute, "events at the Devo stand-in", func() bool {
		b, _ := os.ReadFile(events)
		return strings.Count(string(b), "\n") >= 100
	}, tenant, devo, collector)
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", adapt(blocks[3])).CombinedOutput()
	if err != nil {
		t.Fatalf("the guide's check block failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"tag":"cloud.office365.messagetracing"`, `MessageTraceId`, `Received`, `SenderAddress`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the guide says the events show %s; they do not:\n%s", want, out)
		}
	}
	if !strings.Contains(collector.output(), "Pull summary: range complete") {
		t.Error("the collector did not log the Pull summary lines the guide tells to look for")
	}
}

// rehearsalBlocks returns the ```sh blocks of section 0 of docs/setup.md.
func rehearsalBlocks(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", "setup.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n## 0. Rehearse")
	end := strings.Index(doc, "\n## 1. ")
	if start < 0 || end < start {
		t.Fatal("docs/setup.md has no section 0 (rehearsal) before section 1")
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc[start:end], -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// shellBlock is one of the guide's terminals, running in its own process group.
type shellBlock struct {
	name string
	cmd  *exec.Cmd
	out  *syncWriter
	done chan struct{}
}

func (b *shellBlock) output() string { return b.out.String() }

func (b *shellBlock) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func startBlock(t *testing.T, name, script string) *shellBlock {
	t.Helper()
	b := &shellBlock{name: name, out: &syncWriter{}, done: make(chan struct{})}
	b.cmd = exec.Command("bash", "-euo", "pipefail", "-c", script)
	b.cmd.Dir = ".."
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		// The whole group: go run's child and the collector exec'd by bash.
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
		if t.Failed() {
			out := b.output()
			if len(out) > 3000 {
				out = "...\n" + out[len(out)-3000:]
			}
			t.Logf("%s terminal:\n%s", name, out)
		}
	})
	return b
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, running ...*shellBlock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		for _, b := range running {
			if b.exited() {
				t.Fatalf("waiting for %s: the %s terminal exited", what, b.name)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s within %v", what, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// syncWriter collects a terminal's output; exec writes stdout and stderr from two goroutines.
type syncWriter struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// freeLoopbackPort is a loopback TCP port nobody listens on right now.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
