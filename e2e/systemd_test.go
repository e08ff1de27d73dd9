//go:build e2e && image

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// deploy/systemd/otelcol-msgtrace.service under a real systemd: a container booting systemd
// (deploy/image/systemd-host.sh; `make check-image` sets OTELCOL_MSGTRACE_SYSTEMD_IMAGE), with
// the unit, the sysusers.d file, the built binary and deploy/config.yaml mounted where the
// set-up guide installs them. A drop-in only adds the stand-ins' addresses as a second --config.
func TestSystemdUnitRunsHardened(t *testing.T) {
	host := os.Getenv("OTELCOL_MSGTRACE_SYSTEMD_IMAGE")
	if host == "" {
		t.Fatal("OTELCOL_MSGTRACE_SYSTEMD_IMAGE is not set: run make check-image, which builds it")
	}
	bin, err := filepath.Abs(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	now := time.Now()
	src := msgtracetest.Generate(51, 80, now.Add(-5*24*time.Hour), now.Add(-2*24*time.Hour),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	e.st.Tenant.AddRows(src...)

	devoDir, standinDir, dropIn := worldReadableDir(t), worldReadableDir(t), worldReadableDir(t)
	for from, to := range map[string]string{
		e.st.SinkFiles.CA: filepath.Join(devoDir, "chain.crt"), e.st.SinkFiles.ClientCert: filepath.Join(devoDir, "domain.crt"),
		e.st.SinkFiles.ClientKey: filepath.Join(devoDir, "domain.key"), e.st.TenantCA: filepath.Join(standinDir, "tenant-ca.crt"),
	} {
		copyReadable(t, from, to)
	}
	if err := os.WriteFile(filepath.Join(standinDir, "standins.yaml"), []byte(standinsOverlay), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dropIn, "standins.conf"), []byte("[Service]\nExecStart=\n"+
		"ExecStart=/usr/local/bin/otelcol-msgtrace --config=/etc/otelcol-msgtrace/config.yaml --config=/etc/otelcol-msgtrace/standin/standins.yaml "+healthGate+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	healthPort := freeLoopbackPort(t)
	var env strings.Builder
	for _, kv := range e.st.Env() {
		if k, _, _ := strings.Cut(kv, "="); k == "MSGTRACE_URL" || k == "MSGTRACE_TENANT" || k == "MSGTRACE_CLIENT_ID" ||
			k == "O365_CLIENT_SECRET" || k == "DEVO_ENDPOINT" {
			env.WriteString(kv + "\n")
		}
	}
	env.WriteString("HEALTH_CHECK_ENDPOINT=127.0.0.1:" + strconv.Itoa(healthPort) + "\n")
	envFile := filepath.Join(worldReadableDir(t), "env")
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}

	name := fmt.Sprintf("otelcol-msgtrace-systemd-e2e-%d", time.Now().UnixNano())
	// --privileged lets the container's systemd set up the unit's namespaces (ProtectSystem=,
	// PrivateTmp=, ...); without it systemd skips them and the checks below would fail.
	out, err := podman(t, time.Minute, "run", "-d", "--privileged", "--name", name, "--systemd=always", "--network", "host",
		"-v", bin+":/usr/local/bin/otelcol-msgtrace:ro",
		"-v", filepath.Join(repo, "deploy", "systemd", "otelcol-msgtrace.service")+":/etc/systemd/system/otelcol-msgtrace.service:ro",
		"-v", dropIn+":/etc/systemd/system/otelcol-msgtrace.service.d:ro",
		"-v", filepath.Join(repo, "deploy", "systemd", "otelcol-msgtrace.sysusers")+":/usr/lib/sysusers.d/otelcol-msgtrace.conf:ro",
		"-v", filepath.Join(repo, "deploy", "config.yaml")+":/etc/otelcol-msgtrace/config.yaml:ro",
		"-v", envFile+":/etc/otelcol-msgtrace/env:ro",
		"-v", devoDir+":/etc/otelcol-msgtrace/devo:ro",
		"-v", standinDir+":/etc/otelcol-msgtrace/standin:ro",
		host, "/sbin/init")
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	exec := func(args ...string) (string, error) {
		return podman(t, time.Minute, append([]string{"exec", name}, args...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			status, _ := exec("systemctl", "status", "--no-pager", "-n", "0", "otelcol-msgtrace")
			logs, _ := exec("journalctl", "-u", "otelcol-msgtrace", "--no-pager", "-n", "40")
			t.Logf("systemctl status:\n%s\njournal:\n%s", status, logs)
		}
		_, _ = podman(t, time.Minute, "rm", "-f", "-v", "-t", "5", name)
	})

	// Boot, create the user as the guide does, start the unit.
	deadline := time.Now().Add(time.Minute)
	for {
		state, _ := exec("systemctl", "is-system-running")
		if state == "running" || state == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd in the container did not boot: %q", state)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, cmd := range [][]string{{"systemd-sysusers"}, {"systemctl", "daemon-reload"}, {"systemctl", "start", "otelcol-msgtrace"}} {
		if out, err := exec(cmd...); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	e.deliverAll(nil, stack.Keys(src), 2*time.Minute, false)

	show, err := exec("systemctl", "show", "otelcol-msgtrace", "-p", "ActiveState", "-p", "User", "-p", "NRestarts", "-p", "MainPID")
	if err != nil {
		t.Fatalf("systemctl show: %v\n%s", err, show)
	}
	for _, want := range []string{"ActiveState=active", "User=otelcol-msgtrace", "NRestarts=0"} {
		if !strings.Contains(show, want) {
			t.Errorf("unit state lacks %s:\n%s", want, show)
		}
	}
	// The process runs as the service user, and its state is in StateDirectory, owned by it.
	pid := ""
	for _, l := range strings.Split(show, "\n") {
		if v, ok := strings.CutPrefix(l, "MainPID="); ok {
			pid = v
		}
	}
	if uid, err := exec("stat", "-c", "%U", "/proc/"+pid); err != nil || uid != "otelcol-msgtrace" {
		t.Errorf("main process %s runs as %q (%v), want otelcol-msgtrace", pid, uid, err)
	}
	if owner, err := exec("stat", "-c", "%U %a", "/var/lib/otelcol-msgtrace/receiver_office365_message_trace_"); err != nil ||
		!strings.HasPrefix(owner, "otelcol-msgtrace ") {
		t.Errorf("checkpoint in the state directory: %q (%v)", owner, err)
	}
	// ProtectSystem=strict took effect: the service sees / read-only, its state directory writable.
	mounts, err := exec("cat", "/proc/"+pid+"/mountinfo")
	if err != nil {
		t.Fatalf("mountinfo of the service: %v\n%s", err, mounts)
	}
	if opts := mountOptions(mounts, "/"); !strings.HasPrefix(opts, "ro") {
		t.Errorf("the service sees / mounted %q, want read-only (ProtectSystem=strict)", opts)
	}
	if opts := mountOptions(mounts, "/var/lib/otelcol-msgtrace"); !strings.HasPrefix(opts, "rw") {
		t.Errorf("the service sees its state directory mounted %q, want read-write (StateDirectory)", opts)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort))
	if err != nil {
		t.Fatalf("health_check of the service: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health_check answered %d", resp.StatusCode)
	}

	// A restart continues from the checkpoint in StateDirectory: nothing is sent again.
	before := e.st.Sink.EventCount()
	if out, err := exec("systemctl", "restart", "otelcol-msgtrace"); err != nil {
		t.Fatalf("systemctl restart: %v\n%s", err, out)
	}
	time.Sleep(4 * time.Second)
	if n := e.st.Sink.EventCount(); n != before {
		t.Fatalf("the restarted service re-sent %d events", n-before)
	}
	if out, err := exec("systemctl", "stop", "otelcol-msgtrace"); err != nil {
		t.Fatalf("systemctl stop: %v\n%s", err, out)
	}
	if res, _ := exec("systemctl", "show", "otelcol-msgtrace", "-p", "Result"); res != "Result=success" {
		t.Errorf("the service did not stop cleanly: %s", res)
	}
}

// mountOptions returns the per-mount options of the last mount at point in a mountinfo listing
// (the one a process sees); "" if there is none.
func mountOptions(mountinfo, point string) string {
	opts := ""
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == point {
			opts = f[5]
		}
	}
	return opts
}
