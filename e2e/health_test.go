//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// healthGate turns health_check's component-status mode on; deploy/ starts the collector with it.
const healthGate = "--feature-gates=+extension.healthcheck.useComponentStatus"

// observed is a collector started on graph.yaml + health.yaml, with its health and metrics ports.
type observed struct {
	c           *stack.Collector
	health      string
	metricsPort int
}

func (e *env) runObserved(overlays ...string) *observed {
	e.t.Helper()
	o := &observed{health: "127.0.0.1:" + strconv.Itoa(freePort(e.t)), metricsPort: freePort(e.t)}
	e.extra = append(e.extra, "HEALTH_ENDPOINT="+o.health, "METRICS_PORT="+strconv.Itoa(o.metricsPort))
	args := []string{
		"--config", filepath.Join("..", "testdata", "e2e", "graph.yaml"),
		"--config", filepath.Join("..", "testdata", "e2e", "health.yaml"),
	}
	for _, o := range overlays {
		args = append(args, "--config", filepath.Join("..", "testdata", "e2e", o))
	}
	c, err := stack.StartCollectorArgs(binary(e.t), append(args, healthGate), e.environ(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	o.c = c
	stopAtCleanup(e.t, c, "collector")
	return o
}

// healthOf asks health_check and returns its HTTP status and the receiver's component status.
func (o *observed) healthOf() (int, string, error) {
	resp, err := http.Get("http://" + o.health + "/?verbose")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return resp.StatusCode, "", fmt.Errorf("health body %q: %w", raw, err)
	}
	st := findStatus(body, "receiver:office365_message_trace")
	if st == "" {
		return resp.StatusCode, "", fmt.Errorf("no receiver status in %s", raw)
	}
	return resp.StatusCode, st, nil
}

// findStatus finds the status of the component named key anywhere in health_check's tree.
func findStatus(node map[string]any, key string) string {
	comps, _ := node["components"].(map[string]any)
	for name, v := range comps {
		child, _ := v.(map[string]any)
		if name == key {
			s, _ := child["status"].(string)
			return s
		}
		if s := findStatus(child, key); s != "" {
			return s
		}
	}
	return ""
}

// waitHealth waits until health_check answers code with the receiver in status.
func (o *observed) waitHealth(t *testing.T, code int, status string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var gotCode int
	var got string
	var err error
	for time.Now().Before(deadline) {
		if gotCode, got, err = o.healthOf(); err == nil && gotCode == code && got == status {
			t.Logf("health %d, receiver %s", code, status)
			return
		}
		if o.c.Exited() {
			t.Fatalf("the collector exited: %v", o.c.ExitErr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("health_check did not answer %d with the receiver %s within %v; last: %d %q (%v)", code, status, within, gotCode, got, err)
}

// Each transition of the receiver's component status shows on health_check: a Microsoft
// outage (5xx) and throttling (429) are recoverable errors that make it unhealthy once they
// last longer than recovery_duration and healthy again at the next page; a refused login is a
// permanent error that keeps it unhealthy (the missing service principal, which heals by
// itself: TestHealthRecoversWhenServicePrincipalAppears).
func TestHealthFollowsReceiverStatus(t *testing.T) {
	parallel(t)
	t.Run("outage and throttling recover", func(t *testing.T) {
		e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
		now := time.Now()
		e.st.Tenant.AddRows(msgtracetest.Generate(31, 20, now.Add(-2*24*time.Hour), now.Add(-time.Hour), msgtracetest.GenerateOptions{})...)
		o := e.runObserved()
		o.waitHealth(t, http.StatusOK, "StatusOK", 30*time.Second)

		for range 6 {
			e.st.Tenant.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultServerError})
		}
		o.waitHealth(t, http.StatusInternalServerError, "StatusRecoverableError", 15*time.Second)
		o.waitHealth(t, http.StatusOK, "StatusOK", 30*time.Second)

		for range 6 {
			e.st.Tenant.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultThrottle, RetryAfter: time.Second})
		}
		o.waitHealth(t, http.StatusInternalServerError, "StatusRecoverableError", 15*time.Second)
		o.waitHealth(t, http.StatusOK, "StatusOK", 30*time.Second)
	})
	// A refused login (a wrong secret) needs a change of the configuration, and so a restart:
	// it stays a permanent error, even once the receiver reads again.
	t.Run("refused login AADSTS7000215", func(t *testing.T) {
		parallel(t)
		e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
		now := time.Now()
		src := msgtracetest.Generate(33, 5, now.Add(-2*24*time.Hour), now.Add(-time.Hour), msgtracetest.GenerateOptions{})
		e.st.Tenant.AddRows(src...)
		fault := msgtracetest.Fault{Kind: msgtracetest.FaultTokenError, AADSTS: "AADSTS7000215"}
		e.st.Tenant.InjectFaults(fault) // the first login only; the retry a minute later succeeds
		o := e.runObserved()
		o.waitHealth(t, http.StatusInternalServerError, "StatusPermanentError", 30*time.Second)
		// The receiver retries (after its setup back-off, a minute) and reads; the status
		// stays, as the collector has no way back from a permanent error.
		e.waitDelivered(o.c, stack.Keys(src), 3*time.Minute)
		if code, st, err := o.healthOf(); err != nil || code != http.StatusInternalServerError || st != "StatusPermanentError" {
			t.Fatalf("after the permanent error: %d %q (%v)", code, st, err)
		}
	})
}

// Microsoft provisions the service principal hours after it was created, and the setup guide
// says to start the collector meanwhile: health says 500 while it is missing (once it has
// lasted recovery_duration) and 200 again at the first page read after it appeared, in the
// same collector process, without a restart.
func TestHealthRecoversWhenServicePrincipalAppears(t *testing.T) {
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	now := time.Now()
	src := msgtracetest.Generate(34, 20, now.Add(-2*24*time.Hour), now.Add(-time.Hour), msgtracetest.GenerateOptions{})
	e.st.Tenant.AddRows(src...)
	e.st.Tenant.SetServicePrincipalMissing(true)
	start := time.Now()
	o := e.runObserved()
	pid := o.c.PID()

	o.waitHealth(t, http.StatusInternalServerError, "StatusRecoverableError", 30*time.Second)
	unhealthy := time.Since(start)
	// Still missing: still unhealthy (the receiver retries a minute later at the earliest).
	time.Sleep(3 * time.Second)
	if code, st, err := o.healthOf(); err != nil || code != http.StatusInternalServerError || st != "StatusRecoverableError" {
		t.Fatalf("while the principal is missing: %d %q (%v)", code, st, err)
	}
	if got := len(e.st.Sink.Events()); got != 0 {
		t.Fatalf("%d events delivered while the principal is missing", got)
	}

	e.st.Tenant.SetServicePrincipalMissing(false)
	appeared := time.Since(start)
	o.waitHealth(t, http.StatusOK, "StatusOK", 3*time.Minute)
	healthy := time.Since(start)
	e.waitDelivered(o.c, stack.Keys(src), 30*time.Second)
	if o.c.Exited() || o.c.PID() != pid {
		t.Fatalf("the collector did not keep running as one process")
	}
	t.Logf("collector started at 0s; health 500 (receiver StatusRecoverableError) at %v; principal appeared at %v; health 200 (StatusOK) at %v, %v after it appeared; pid %d throughout",
		unhealthy.Round(100*time.Millisecond), appeared.Round(100*time.Millisecond), healthy.Round(100*time.Millisecond), (healthy - appeared).Round(100*time.Millisecond), pid)
}
