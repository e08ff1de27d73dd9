//go:build e2e && image

package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// The container image of deploy/Dockerfile, run with podman (`make check-image` builds it and
// sets OTELCOL_MSGTRACE_IMAGE). Only the stand-ins' addresses are layered over the configuration
// the image ships; Devo's credentials are mounted where that configuration expects them.

// standinsOverlay points the image's own configuration at the stand-ins.
const standinsOverlay = `receivers:
  office365_message_trace:
    tenant_id: ${env:MSGTRACE_TENANT}
    client_id: ${env:MSGTRACE_CLIENT_ID}
    login_endpoint: ${env:MSGTRACE_URL}
    endpoint: ${env:MSGTRACE_URL}
    tls:
      ca_file: /etc/otelcol-msgtrace/standin/tenant-ca.crt
    poll_interval: 1s
exporters:
  devo:
    endpoint: ${env:DEVO_ENDPOINT}
`

func imageUnderTest(t *testing.T) string {
	t.Helper()
	img := os.Getenv("OTELCOL_MSGTRACE_IMAGE")
	if img == "" {
		t.Fatal("OTELCOL_MSGTRACE_IMAGE is not set: run make check-image, which builds the image")
	}
	return img
}

// podman runs podman with the flags the CI container needs (see deploy/image/build.sh).
func podman(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	global := strings.Fields(os.Getenv("PODMAN_GLOBAL_FLAGS"))
	if _, set := os.LookupEnv("PODMAN_GLOBAL_FLAGS"); !set {
		global = []string{"--runtime", "runc"}
	}
	if len(args) > 0 && (args[0] == "run" || args[0] == "create") {
		limits := strings.Fields(os.Getenv("PODMAN_LIMITS"))
		if _, set := os.LookupEnv("PODMAN_LIMITS"); !set {
			limits = []string{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}
		}
		args = append([]string{args[0]}, append(limits, args[1:]...)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "podman", append(global, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// The image is non-root, declares the state volume, carries a CA bundle and runs the binary.
func TestImageShape(t *testing.T) {
	img := imageUnderTest(t)
	out, err := podman(t, time.Minute, "image", "inspect", img)
	if err != nil {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	var inspect []struct {
		Config struct {
			User       string
			Volumes    map[string]any
			Entrypoint []string
		}
		Size int64
	}
	if err := json.Unmarshal([]byte(out), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect output: %v\n%s", err, out)
	}
	cfg := inspect[0].Config
	uid, _, _ := strings.Cut(cfg.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("image user %q is not a numeric non-root user", cfg.User)
	}
	if _, ok := cfg.Volumes["/var/lib/otelcol-msgtrace"]; !ok {
		t.Errorf("image does not declare /var/lib/otelcol-msgtrace as a volume: %v", cfg.Volumes)
	}

	out, err = podman(t, time.Minute, "run", "--rm", img, "--version")
	if err != nil || !strings.Contains(out, "otelcol-msgtrace version") {
		t.Fatalf("podman run %s --version: %v\n%s", img, err, out)
	}
	out, err = podman(t, time.Minute, "run", "--rm", "-e", "O365_CLIENT_SECRET=placeholder", img, "validate", "--config=/etc/otelcol-msgtrace/config.yaml", healthGate)
	if err != nil {
		t.Fatalf("the image's own configuration does not validate: %v\n%s", err, out)
	}

	// The CA bundle: copied out of a created (not started) container and counted.
	cid, err := podman(t, time.Minute, "create", img)
	if err != nil {
		t.Fatalf("podman create: %v\n%s", err, cid)
	}
	defer func() { _, _ = podman(t, time.Minute, "rm", "-f", "-v", cid) }()
	bundle := filepath.Join(t.TempDir(), "ca.crt")
	if out, err := podman(t, time.Minute, "cp", cid+":/etc/ssl/certs/ca-certificates.crt", bundle); err != nil {
		t.Fatalf("no CA bundle in the image: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	certs := 0
	for b, rest := pem.Decode(raw); b != nil; b, rest = pem.Decode(rest) {
		if b.Type == "CERTIFICATE" {
			certs++
		}
	}
	if certs < 50 {
		t.Errorf("the image's CA bundle holds %d certificates, want a full public bundle", certs)
	}
	t.Logf("FIGURES %s: user %s, %d CA certificates, image size %d bytes", t.Name(), cfg.User, certs, inspect[0].Size)
}

// Run as the image's non-root user with the state directory on a named volume: rows flow from
// the stand-in tenant to the stand-in Devo, health_check answers, the checkpoint is written to
// the volume, and a new container on the same volume sends nothing again.
func TestImageDeliversAndKeepsStateOnItsVolume(t *testing.T) {
	img := imageUnderTest(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	now := time.Now()
	src := msgtracetest.Generate(31, 80, now.Add(-5*24*time.Hour), now.Add(-2*24*time.Hour),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	e.st.Tenant.AddRows(src...)

	// Devo's credentials where the image's configuration reads them; readable by the image's
	// user like a Kubernetes Secret mounted with fsGroup (these are throw-away test keys).
	devoDir, standinDir := worldReadableDir(t), worldReadableDir(t)
	for from, to := range map[string]string{
		e.st.SinkFiles.CA: filepath.Join(devoDir, "chain.crt"), e.st.SinkFiles.ClientCert: filepath.Join(devoDir, "domain.crt"),
		e.st.SinkFiles.ClientKey: filepath.Join(devoDir, "domain.key"), e.st.TenantCA: filepath.Join(standinDir, "tenant-ca.crt"),
	} {
		copyReadable(t, from, to)
	}
	if err := os.WriteFile(filepath.Join(standinDir, "standins.yaml"), []byte(standinsOverlay), 0o644); err != nil {
		t.Fatal(err)
	}
	volume := fmt.Sprintf("otelcol-msgtrace-e2e-%d", time.Now().UnixNano())
	if out, err := podman(t, time.Minute, "volume", "create", volume); err != nil {
		t.Fatalf("podman volume create: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = podman(t, time.Minute, "volume", "rm", "-f", volume) })
	healthPort := freeLoopbackPort(t)

	start := func(name string) {
		t.Helper()
		args := []string{
			"run", "-d", "--name", name, "--network", "host",
			"-v", volume + ":/var/lib/otelcol-msgtrace",
			"-v", devoDir + ":/etc/otelcol-msgtrace/devo:ro",
			"-v", standinDir + ":/etc/otelcol-msgtrace/standin:ro",
			"-e", "HEALTH_CHECK_ENDPOINT=127.0.0.1:" + strconv.Itoa(healthPort),
		}
		for _, kv := range e.st.Env() {
			if k, _, _ := strings.Cut(kv, "="); k == "MSGTRACE_URL" || k == "MSGTRACE_TENANT" || k == "MSGTRACE_CLIENT_ID" ||
				k == "O365_CLIENT_SECRET" || k == "DEVO_ENDPOINT" {
				args = append(args, "-e", kv)
			}
		}
		args = append(args, img, "--config=/etc/otelcol-msgtrace/config.yaml", "--config=/etc/otelcol-msgtrace/standin/standins.yaml", healthGate)
		if out, err := podman(t, time.Minute, args...); err != nil {
			t.Fatalf("podman run: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			if t.Failed() {
				logs, _ := podman(t, time.Minute, "logs", name)
				if len(logs) > 6000 {
					logs = "...\n" + logs[len(logs)-6000:]
				}
				t.Logf("container %s output:\n%s", name, logs)
			}
			_, _ = podman(t, time.Minute, "rm", "-f", "-v", "-t", "10", name)
		})
	}
	first := volume + "-first"
	start(first)
	waitDeliveredBy(t, e, first, stack.Keys(src), 2*time.Minute)
	e.settle(time.Second)
	got, _ := stack.Delivered(e.st.Sink.Events())
	e.report(stack.Keys(src), got, false)

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort))
	if err != nil {
		t.Fatalf("health_check of the container: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health_check answered %d", resp.StatusCode)
	}

	if out, err := podman(t, time.Minute, "stop", "-t", "10", first); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	// The state written by the non-root user is on the volume.
	mount, err := podman(t, time.Minute, "volume", "inspect", "--format", "{{.Mountpoint}}", volume)
	if err != nil {
		t.Fatalf("podman volume inspect: %v\n%s", err, mount)
	}
	entries, err := os.ReadDir(mount)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if !strings.Contains(strings.Join(names, " "), "receiver_office365_message_trace") {
		t.Fatalf("no receiver checkpoint on the volume: %v", names)
	}

	before := e.st.Sink.EventCount()
	start(volume + "-second")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort)); err == nil {
			r.Body.Close()
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // several poll intervals
	if n := e.st.Sink.EventCount(); n != before {
		t.Fatalf("a new container on the same volume re-sent %d events: the checkpoint did not survive", n-before)
	}
}

func worldReadableDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "files")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func copyReadable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitDeliveredBy waits until every key reached the sink, failing at once if the container stopped.
func waitDeliveredBy(t *testing.T, e *env, container string, keys []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := stack.Delivered(e.st.Sink.Events())
		if err != nil {
			t.Fatalf("malformed event at the sink: %v", err)
		}
		missing := 0
		for _, k := range keys {
			if got[k] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if state, err := podman(t, time.Minute, "inspect", "--format", "{{.State.Status}}", container); err != nil || state != "running" {
			t.Fatalf("container %s is %q (%v) with %d of %d rows missing", container, state, err, missing, len(keys))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows not delivered within %v", missing, len(keys), timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
