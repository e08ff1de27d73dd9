package stack // import "github.com/msgtrace/otelcol-msgtrace/internal/stack"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Collector is the distribution running as a subprocess.
type Collector struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// StartCollector runs `bin --config config` with env added to the current environment. Its
// output is kept (Output) and, when tee is not nil, copied there as well.
func StartCollector(bin, config string, env []string, tee io.Writer) (*Collector, error) {
	return StartCollectorMerged(bin, []string{config}, env, tee)
}

// StartCollectorMerged is StartCollector with several configuration files, which the collector
// merges in order (a later file's keys win): a user-facing example runs unchanged, with a
// second file pointing its receiver and exporter at the stand-ins.
func StartCollectorMerged(bin string, configs []string, env []string, tee io.Writer) (*Collector, error) {
	var args []string
	for _, cfg := range configs {
		args = append(args, "--config", cfg)
	}
	return StartCollectorArgs(bin, args, env, tee)
}

// StartCollectorArgs runs bin with the given command line (configurations and, e.g.,
// --feature-gates), otherwise like StartCollector.
func StartCollectorArgs(bin string, args []string, env []string, tee io.Writer) (*Collector, error) {
	c := &Collector{out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = append(os.Environ(), env...)
	var w io.Writer = c.out
	if tee != nil {
		w = io.MultiWriter(c.out, tee)
	}
	c.cmd.Stdout, c.cmd.Stderr = w, w
	// Own process group: a Ctrl-C in the demo reaches the demo, which stops the collector.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// Kill ends the collector with SIGKILL, like a crash, and waits for it.
func (c *Collector) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// Stop asks the collector to shut down (SIGTERM) and waits up to timeout before killing it.
func (c *Collector) Stop(timeout time.Duration) error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.ExitErr()
	case <-time.After(timeout):
		c.Kill()
		return fmt.Errorf("collector did not stop within %v", timeout)
	}
}

// Wait waits for the collector to exit by itself.
func (c *Collector) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.ExitErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exited reports whether the process has ended.
func (c *Collector) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// ExitErr is the exit error once the process ended (nil for exit code 0).
func (c *Collector) ExitErr() error {
	var ee *exec.ExitError
	if errors.As(c.err, &ee) && ee.ExitCode() == -1 {
		return fmt.Errorf("killed: %w", c.err)
	}
	return c.err
}

// Output is everything the collector printed so far.
func (c *Collector) Output() string { return c.out.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PID is the collector's process id, for measuring it from outside (/proc).
func (c *Collector) PID() int { return c.cmd.Process.Pid }
