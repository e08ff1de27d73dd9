//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// The built collector warns at start about a --config file and a ${file:...} secret that every
// user can read (0644), naming each once, and says nothing about them at 0600; the secret
// read through ${file:...} logs in (rows arrive) either way.
func TestWorldReadableConfigAndSecretAreWarned(t *testing.T) {
	parallel(t)
	const warning = "a file holding the configuration or a credential is readable by every user of this machine"
	for _, mode := range []os.FileMode{0o600, 0o644} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
			src := rows(51, 20)
			e.st.Tenant.AddRows(src...)
			secret := ""
			for _, kv := range e.environ() {
				if v, ok := strings.CutPrefix(kv, "O365_CLIENT_SECRET="); ok {
					secret = v
				}
			}
			if secret == "" {
				t.Fatal("the stand-ins set no O365_CLIENT_SECRET")
			}
			dir := t.TempDir()
			secretFile := filepath.Join(dir, "client-secret")
			base, err := os.ReadFile(filepath.Join("..", "testdata", "e2e", "graph.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			body := strings.Replace(string(base), "${env:O365_CLIENT_SECRET}", "${file:"+secretFile+"}", 1)
			config := filepath.Join(dir, "config.yaml")
			for path, content := range map[string]string{secretFile: secret, config: body} {
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
			}
			c := e.startShipped(config)
			waitEvents(t, e.st.Sink, len(src), time.Minute)
			out := c.Output()
			lines := 0
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, warning) {
					lines++
				}
			}
			if mode == 0o600 {
				if lines != 0 {
					t.Errorf("%d warnings about files only the owner can read", lines)
				}
				return
			}
			if lines != 2 {
				t.Errorf("%d warnings, want 2 (the config and the secret)", lines)
			}
			for _, path := range []string{config, secretFile} {
				if !strings.Contains(out, path) {
					t.Errorf("no warning names %s", path)
				}
			}
		})
	}
}
