//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Keys copied from Devo's collector or Sumo Logic's source, and their bare-number periods, stop
// the built binary with our key, the page that maps them and the unit a duration needs, not
// with mapstructure's "has invalid keys" or a 300ns poll interval.
func TestForeignKeysRefusedWithOurs(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ add, want string }{
		{"    requests_per_second: 10\n", "`requests_per_second` is not a key of office365_message_trace: use `request_budget`"},
		{"    override_time_delay_in_seconds: 90000\n", "`override_time_delay_in_seconds` is not a key of office365_message_trace: use `delay` with a unit, e.g. delay: 90000s"},
		{"    polling_interval: 300\n", "`polling_interval` is not a key of office365_message_trace: use `poll_interval` with a unit, e.g. poll_interval: 300s"},
		{"    poll_interval: 300\n", "`poll_interval: 300` is 300ns: a duration needs a unit, e.g. 300s"},
		{"    delay: 90000\n", "`delay: 90000` is 90µs: a duration needs a unit, e.g. 90000s"},
	} {
		t.Run(strings.TrimSpace(tc.add), func(t *testing.T) {
			cfg := strings.Replace(string(base), "    storage: file_storage\n", "    storage: file_storage\n"+tc.add, 1)
			if cfg == string(base) {
				t.Fatal("testdata/minimal.yaml no longer has `storage: file_storage` under the receiver")
			}
			path, err := filepath.Abs(writeConfig(t, cfg))
			if err != nil {
				t.Fatal(err)
			}
			out, err := run(t, "validate", "--config", path)
			if err == nil {
				t.Fatalf("validate accepted %q:\n%s", tc.add, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("validate said:\n%s\nwant %q", out, tc.want)
			}
			if strings.Contains(out, "has invalid keys") {
				t.Fatalf("mapstructure's message instead of ours:\n%s", out)
			}
			if !strings.Contains(out, `error reading configuration for "office365_message_trace"`) {
				t.Fatalf("the error does not name the receiver:\n%s", out)
			}
		})
	}
}
