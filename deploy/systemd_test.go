//go:build systemd

package deploy

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const unitName = "otelcol-msgtrace.service"

// maxExposure is the highest `systemd-analyze security` exposure the unit may have: "OK" ends at
// 3.9 on systemd's 0-10 scale; the unit scores 1.5 today, so a dropped hardening option fails.
const maxExposure = 2.0

func systemdTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: `make check-systemd` installs it (apt-get install systemd, as root)", name)
	}
	return p
}

// unitRoot lays out a filesystem root for `systemd-analyze --root`: the unit where an
// administrator installs it, the built binary where ExecStart finds it, and the system's own
// units (sysinit.target, network-online.target, ...) that the unit's dependencies name.
func unitRoot(t *testing.T, unitText string) string {
	t.Helper()
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc", "systemd", "system")
	binDir := filepath.Join(root, "usr", "local", "bin")
	for _, d := range []string{unitDir, binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(unitDir, unitName), []byte(unitText), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := distribution(t)
	if err := os.Link(bin, filepath.Join(binDir, "otelcol-msgtrace")); err != nil {
		copyFile(t, bin, filepath.Join(binDir, "otelcol-msgtrace"), 0o755)
	}
	systemUnits := ""
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(d, "sysinit.target")); err == nil {
			systemUnits = d
			break
		}
	}
	if systemUnits == "" {
		t.Fatal("the system's units (sysinit.target) are not installed: `make check-deploy` installs systemd")
	}
	dst := filepath.Join(root, "usr", "lib", "systemd", "system")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(systemUnits)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".target") || strings.HasSuffix(e.Name(), ".service") ||
			strings.HasSuffix(e.Name(), ".socket") || strings.HasSuffix(e.Name(), ".slice") || strings.HasSuffix(e.Name(), ".mount")) {
			copyFile(t, filepath.Join(systemUnits, e.Name()), filepath.Join(dst, e.Name()), 0o644)
		}
	}
	return root
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func readUnit(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("systemd", unitName))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// verify runs `systemd-analyze verify`; any message (an unknown key is only a warning with exit
// status 0) counts as a failure.
func verify(t *testing.T, unitText string) (string, error) {
	t.Helper()
	root := unitRoot(t, unitText)
	out, err := exec.Command(systemdTool(t, "systemd-analyze"), "verify", "--root="+root, unitName).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestSystemdUnitVerifies(t *testing.T) {
	out, err := verify(t, readUnit(t))
	if err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The check above sees mistakes: a misspelled key and a missing executable both fail it.
func TestSystemdVerifyCatchesMistakes(t *testing.T) {
	unit := readUnit(t)
	for _, bad := range [][2]string{
		{"RestartSec=", "RestartSecs="},
		{"ExecStart=/usr/local/bin/otelcol-msgtrace", "ExecStart=/usr/local/bin/otelcol-msgtrace-missing"},
	} {
		mutated := strings.Replace(unit, bad[0], bad[1], 1)
		if mutated == unit {
			t.Fatalf("the unit has no %q", bad[0])
		}
		if out, err := verify(t, mutated); err == nil && out == "" {
			t.Errorf("verify accepted the unit with %q", bad[1])
		}
	}
}

var exposureLine = regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(unitName) + `: ([0-9.]+)`)

// The unit is hardened: systemd's own review of its sandboxing rates it at most maxExposure.
func TestSystemdUnitIsHardened(t *testing.T) {
	root := unitRoot(t, readUnit(t))
	out, err := exec.Command(systemdTool(t, "systemd-analyze"), "security", "--offline=yes", "--no-pager",
		"--root="+root, unitName).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposureLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	if level > maxExposure {
		t.Fatalf("exposure level %.1f is above %.1f: a hardening option was dropped\n%s", level, maxExposure, out)
	}
	t.Logf("exposure level %.1f", level)
}

// The unit runs as the user its sysusers.d file creates, keeps its state where the shared
// configuration puts file_storage, and starts that configuration.
func TestSystemdUnitMatchesConfigAndUser(t *testing.T) {
	keys := unitKeys(t, readUnit(t))
	sysusers, err := os.ReadFile(filepath.Join("systemd", "otelcol-msgtrace.sysusers"))
	if err != nil {
		t.Fatal(err)
	}
	var user string
	for _, l := range strings.Split(string(sysusers), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "u" {
			user = f[1]
		}
	}
	if user == "" || keys["User"] != user || keys["Group"] != user {
		t.Errorf("User=%q Group=%q, the sysusers.d file creates %q", keys["User"], keys["Group"], user)
	}
	if keys["ProtectSystem"] != "strict" {
		t.Errorf("ProtectSystem=%q, want strict", keys["ProtectSystem"])
	}
	if !strings.HasPrefix(keys["Restart"], "on-") && keys["Restart"] != "always" {
		t.Errorf("Restart=%q: the unit must restart after a failure", keys["Restart"])
	}
	cfg, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := regexp.MustCompile(`(?m)^\s*directory:\s*(\S+)`).FindSubmatch(cfg)
	if dir == nil || "/var/lib/"+keys["StateDirectory"] != string(dir[1]) {
		t.Errorf("StateDirectory=%q, but config.yaml keeps file_storage in %q", keys["StateDirectory"], dir)
	}
	if !strings.Contains(keys["ExecStart"], "--config=/etc/otelcol-msgtrace/config.yaml") {
		t.Errorf("ExecStart=%q does not start /etc/otelcol-msgtrace/config.yaml", keys["ExecStart"])
	}
	for _, k := range []string{"ExecStart", "ExecStartPre"} {
		if !strings.Contains(keys[k], healthGate) {
			t.Errorf("%s=%q lacks %s: health_check would not report component status (and validate would refuse its configuration)", k, keys[k], healthGate)
		}
	}
	// The sysusers.d line is well-formed for systemd itself.
	// (The file is given by absolute path: with --root, systemd-sysusers resolves it in the root.)
	sysusersFile, err := filepath.Abs(filepath.Join("systemd", "otelcol-msgtrace.sysusers"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(systemdTool(t, "systemd-sysusers"), "--dry-run", "--root="+t.TempDir(), sysusersFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Creating user '"+user+"'") {
		t.Errorf("systemd-sysusers --dry-run: %v\n%s", err, out)
	}
}

// unitKeys returns the last value of each Key= line (enough for the keys checked above).
func unitKeys(t *testing.T, unit string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			keys[k] = v
		}
	}
	return keys
}
