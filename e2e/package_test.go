//go:build e2e && image

package e2e

import (
	"fmt"
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

// The .deb of `make release` in a clean Debian with systemd (the container of
// deploy/image/systemd-host.sh), as README "Install" has a user do it: install, see that the
// placeholder configuration does not start, set the secret and the configuration (here: the
// stand-ins), enable, rows at the Devo stand-in; upgrade to the next patch's package: the edited
// configuration and the checkpoint kept, the service restarted, no row sent twice (rows the
// tenant publishes late are the receiver's own tests' business); remove keeps state and
// configuration; purge removes them. `make check-packages` sets the variables.
func TestDebPackageInstallUpgradeRemovePurge(t *testing.T) {
	host, deb, next := os.Getenv("OTELCOL_MSGTRACE_SYSTEMD_IMAGE"), os.Getenv("OTELCOL_MSGTRACE_DEB"), os.Getenv("OTELCOL_MSGTRACE_DEB_NEXT")
	if host == "" || deb == "" || next == "" {
		t.Fatal("OTELCOL_MSGTRACE_SYSTEMD_IMAGE, OTELCOL_MSGTRACE_DEB and OTELCOL_MSGTRACE_DEB_NEXT must be set: run make check-packages")
	}
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	now := time.Now()
	first := msgtracetest.Generate(61, 60, now.Add(-5*24*time.Hour), now.Add(-3*24*time.Hour),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 2})
	e.st.Tenant.AddRows(first...)

	files := worldReadableDir(t)
	for from, to := range map[string]string{
		e.st.SinkFiles.CA: "chain.crt", e.st.SinkFiles.ClientCert: "domain.crt", e.st.SinkFiles.ClientKey: "domain.key",
		e.st.TenantCA: "tenant-ca.crt", deb: "this.deb", next: "next.deb",
	} {
		copyReadable(t, from, filepath.Join(files, to))
	}
	if err := os.WriteFile(filepath.Join(files, "standins.yaml"), []byte(standinsOverlay), 0o644); err != nil {
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
	if err := os.WriteFile(filepath.Join(files, "env"), []byte(env.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	name := fmt.Sprintf("otelcol-msgtrace-deb-e2e-%d", time.Now().UnixNano())
	out, err := podman(t, time.Minute, "run", "-d", "--privileged", "--name", name, "--systemd=always", "--network", "host",
		"-v", files+":/release:ro", host, "/sbin/init")
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	sh := func(script string) (string, error) {
		return podman(t, 2*time.Minute, "exec", name, "sh", "-c", script)
	}
	must := func(script string) string {
		t.Helper()
		out, err := sh(script)
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return out
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := sh("systemctl status --no-pager -n 0 otelcol-msgtrace; journalctl -u otelcol-msgtrace --no-pager -n 40")
			t.Logf("in the container:\n%s", logs)
		}
		_, _ = podman(t, time.Minute, "rm", "-f", "-v", "-t", "5", name)
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if state, _ := sh("systemctl is-system-running"); state == "running" || state == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("systemd in the container did not boot")
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Install: user, files, modes; the service neither enabled nor started, and it refuses to
	// start on the placeholder configuration without a secret.
	must("dpkg -i /release/this.deb")
	if got := must("stat -c '%U:%G %a' /etc/otelcol-msgtrace/env /etc/otelcol-msgtrace/config.yaml /var/lib/otelcol-msgtrace"); got !=
		"root:otelcol-msgtrace 640\nroot:otelcol-msgtrace 640\notelcol-msgtrace:otelcol-msgtrace 750" {
		t.Errorf("owners and modes of env, config.yaml, the state directory:\n%s", got)
	}
	must("test -f /usr/share/doc/otelcol-msgtrace/setup.md && test -x /usr/bin/otelcol-msgtrace-tenantconfig")
	must("grep -qx 'Documentation=file:///usr/share/doc/otelcol-msgtrace/setup.md' /usr/lib/systemd/system/otelcol-msgtrace.service")
	if got, _ := sh("systemctl is-enabled otelcol-msgtrace; systemctl is-active otelcol-msgtrace"); got != "disabled\ninactive" {
		t.Errorf("after install the service is %q, want disabled and inactive", got)
	}
	if out, err := sh("systemctl start otelcol-msgtrace"); err == nil {
		t.Errorf("the service started on the placeholder configuration with no secret:\n%s", out)
	}
	if logs, _ := sh("journalctl -u otelcol-msgtrace --no-pager"); !strings.Contains(logs, "client_secret") {
		t.Errorf("the refusal does not name client_secret:\n%s", logs)
	}

	// Configure as the README says (secret in env, Devo's files, the configuration edited: here
	// the stand-ins' addresses as a second --config), enable.
	must(`set -e; systemctl reset-failed otelcol-msgtrace
install -m 0640 -g otelcol-msgtrace /release/env /etc/otelcol-msgtrace/env
install -m 0640 -g otelcol-msgtrace /release/chain.crt /release/domain.crt /release/domain.key /etc/otelcol-msgtrace/devo/
mkdir -p /etc/otelcol-msgtrace/standin && install -m 0644 /release/standins.yaml /release/tenant-ca.crt /etc/otelcol-msgtrace/standin/
echo '# edited by the operator' >> /etc/otelcol-msgtrace/config.yaml
mkdir -p /etc/systemd/system/otelcol-msgtrace.service.d
printf '[Service]\nExecStart=\nExecStart=/usr/bin/otelcol-msgtrace --config=/etc/otelcol-msgtrace/config.yaml --config=/etc/otelcol-msgtrace/standin/standins.yaml ` + healthGate + `\n' > /etc/systemd/system/otelcol-msgtrace.service.d/standins.conf
systemctl daemon-reload
systemctl enable --now otelcol-msgtrace`)
	e.deliverAll(nil, stack.Keys(first), 2*time.Minute, false)
	checkpoint := "/var/lib/otelcol-msgtrace/receiver_office365_message_trace_"
	must("test -s " + checkpoint)

	// Upgrade to the next patch: the edited configuration and the checkpoint stay, the running
	// service is restarted, nothing is sent again, new rows arrive once.
	before := e.st.Sink.EventCount()
	must("dpkg -i /release/next.deb")
	v := must("dpkg-query -W -f '${Version}' otelcol-msgtrace")
	if v == must("dpkg-deb -f /release/this.deb Version") {
		t.Fatalf("next.deb has the same version %s", v)
	}
	// The binary itself was replaced: it reports the next version (check-packages builds it so).
	if got, want := must("/usr/bin/otelcol-msgtrace --version"), "otelcol-msgtrace version "+strings.TrimSuffix(v, "-1"); got != want {
		t.Fatalf("after the upgrade /usr/bin/otelcol-msgtrace --version says %q, want %q", got, want)
	}
	must("grep -qx '# edited by the operator' /etc/otelcol-msgtrace/config.yaml && test -s " + checkpoint)
	if got, _ := sh("systemctl is-active otelcol-msgtrace"); got != "active" {
		t.Errorf("after the upgrade the service is %q, want active", got)
	}
	e.settle(4 * time.Second)
	if n := e.st.Sink.EventCount(); n != before {
		t.Fatalf("the upgraded service re-sent %d events", n-before)
	}
	// Every row still exactly once after the upgraded service has polled again.
	if out, err := sh("systemctl show otelcol-msgtrace -p NRestarts -p ActiveState"); err != nil || !strings.Contains(out, "ActiveState=active") {
		t.Fatalf("after the upgrade: %v\n%s", err, out)
	}
	e.deliverAll(nil, stack.Keys(first), time.Minute, false)

	// Remove keeps configuration and state; purge removes both.
	must("dpkg -r otelcol-msgtrace")
	must("test ! -e /usr/bin/otelcol-msgtrace && test -f /etc/otelcol-msgtrace/config.yaml && test -s " + checkpoint)
	if got, _ := sh("systemctl is-active otelcol-msgtrace"); got == "active" {
		t.Error("the service still runs after dpkg -r")
	}
	must("dpkg -P otelcol-msgtrace")
	must("test ! -e /etc/otelcol-msgtrace && test ! -e /var/lib/otelcol-msgtrace")
}
