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
// last longer than recovery_duration and healthy again at the next page; a refused login and a
// missing service principal are permanent errors that keep it unhealthy.
func TestHealthFollowsReceiverStatus(t *testing.T) {
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
	for _, tc := range []struct {
		name  string
		fault msgtracetest.Fault
	}{
		{"refused login AADSTS7000215", msgtracetest.Fault{Kind: msgtracetest.FaultTokenError, AADSTS: "AADSTS7000215"}},
		{"missing service principal", msgtracetest.Fault{Kind: msgtracetest.FaultServicePrincipalMissing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
			// The first login (or both requests of the 401 check: before and after a fresh login).
			e.st.Tenant.InjectFaults(tc.fault, tc.fault)
			o := e.runObserved()
			o.waitHealth(t, http.StatusInternalServerError, "StatusPermanentError", 30*time.Second)
			// The collector has no way back from a permanent error: it stays until a restart,
			// even though the receiver keeps retrying (docs/operations.md).
			time.Sleep(2 * time.Second)
			if code, st, err := o.healthOf(); err != nil || code != http.StatusInternalServerError || st != "StatusPermanentError" {
				t.Fatalf("after the permanent error: %d %q (%v)", code, st, err)
			}
		})
	}
}
