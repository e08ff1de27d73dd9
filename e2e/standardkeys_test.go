//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 12: the built distribution takes the receiver's HTTP settings under the keys of every
// collector HTTP client and its retry policy under retry_on_failure, still refuses unknown
// keys among them, names the new place of the flat keep-alive keys, refuses what would undo
// the receiver's own login, and prints the new settings.
func TestStandardHTTPAndRetryKeys(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "    storage: file_storage\n"
	const standard = `    timeout: 30s
    headers:
      X-Route: message-trace
    keepalive:
      idle_conn_timeout: 30s
      max_idle_conns: 4
    max_conns_per_host: 2
    retry_on_failure:
      initial_interval: 1s
      multiplier: 3
      max_interval: 20s
      max_elapsed_time: 2m
`
	for _, tt := range []struct {
		name, add string
		want      []string // empty: validates
	}{
		{"standard keys", standard, nil},
		{"typo in keepalive", "    keepalive:\n      idle_conn_timout: 30s\n", []string{"idle_conn_timout"}},
		{"flat keep-alive key", "    idle_conn_timeout: 30s\n", []string{"`idle_conn_timeout` moved to `keepalive.idle_conn_timeout`"}},
		{"auth extension", "    auth:\n      authenticator: bearertokenauth\n", []string{"`auth` is not supported"}},
		{"authorization header", "    headers:\n      Authorization: Bearer x\n", []string{"`headers` must not set Authorization"}},
		{"compression", "    compression: gzip\n", []string{"`compression` \"gzip\" is not supported"}},
		{"retry multiplier", "    retry_on_failure:\n      multiplier: 0.5\n", []string{"`retry_on_failure.multiplier` 0.5"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(string(base), anchor, anchor+tt.add, 1)
			if body == string(base) {
				t.Fatal("the configuration was not changed")
			}
			out, err := run(t, "validate", "--config", writeConfig(t, body))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error naming %q:\n%s", tt.want, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("the error does not say %q:\n%s", w, out)
				}
			}
		})
	}

	t.Run("printed", func(t *testing.T) {
		body := strings.Replace(string(base), anchor, anchor+standard, 1)
		out, err := run(t, "print-config", "--config", writeConfig(t, body))
		if err != nil {
			t.Fatalf("print-config: %v\n%s", err, out)
		}
		for _, w := range []string{"max_elapsed_time: 2m0s", "idle_conn_timeout: 30s", "max_conns_per_host: 2", "timeout: 30s"} {
			if !strings.Contains(out, w) {
				t.Errorf("print-config does not show %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "message-trace") {
			t.Errorf("a header value is printed; header values are redacted like secrets:\n%s", out)
		}
	})
}
