package messagetracereceiver

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

// decodeYAML decodes a receiver configuration written as in a collector file.
func decodeYAML(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	ret, err := confmap.NewRetrievedFromYAML([]byte(doc))
	require.NoError(t, err)
	conf, err := ret.AsConf()
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	return cfg, conf.Unmarshal(cfg)
}

// Each key of Devo's collector and Sumo Logic's source is answered with ours and the page.
func TestForeignKeysNameOurKey(t *testing.T) {
	for _, tc := range []struct{ doc, ours string }{
		{"requests_per_second: 10", "use `request_budget`"},
		{"request_period_in_seconds: 60", "use `poll_interval` with a unit, e.g. poll_interval: 60s"},
		{"override_time_delay_in_hours: 25", "use `delay` with a unit, e.g. delay: 25h"},
		{"override_time_delay_in_seconds: 90000", "use `delay`"},
		{"reset_persistence_auth: 2026-11-21", "use `reset_checkpoint`"},
		{"max_historic_date_cutoff_days_back: 10", "use `initial_lookback`"},
		{"max_historic_date_margin_seconds: 60", "remove it: the receiver keeps its queries inside the API's window itself"},
		{"debug: true", "set the collector's log level: service: {telemetry: {logs: {level: debug}}}"},
		{"credentials: {tenant_id: x, client_id: y, client_secret: z}", "use `tenant_id`, `client_id` and `client_secret` directly under the receiver"},
		{"app_client_id: 00000000-0000-0000-0000-000000000000", "use `client_id`"},
		{"directory_tenant_id: contoso.onmicrosoft.com", "use `tenant_id`"},
		{"authorization_code: abc", "remove it: the receiver logs in as the application (client credentials), which needs no authorization code"},
		{"polling_interval: 300", "use `poll_interval` with a unit, e.g. poll_interval: 300s"},
		{"time_offset: 3600", "use `delay`"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			_, err := decodeYAML(t, tc.doc)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "is not a key of office365_message_trace: "+tc.ours)
			assert.Contains(t, err.Error(), "(docs/migrating.md)")
			assert.NotContains(t, err.Error(), "has invalid keys")
		})
	}
	// A key nobody else has is still refused, as mapstructure does.
	_, err := decodeYAML(t, "no_such_key: 1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has invalid keys: no_such_key")
}

// A bare number for a duration is refused with the unit it needs instead of read as
// nanoseconds; 0 and durations with a unit pass.
func TestBareNumberDurationNeedsUnit(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"poll_interval: 300", "`poll_interval: 300` is 300ns: a duration needs a unit, e.g. 300s"},
		{"delay: 90000", "`delay: 90000` is 90µs: a duration needs a unit, e.g. 90000s"},
		{"early_delay: 600", "`early_delay: 600` is 600ns"},
		{"request_budget: {interval: 300}", "`request_budget.interval: 300` is 300ns"},
		{"retry_on_failure: {max_interval: 60}", "`retry_on_failure.max_interval: 60` is 60ns"},
		{"details: {max_wait: 86400}", "`details.max_wait: 86400` is 86.4µs"},
		{"timeout: 60", "`timeout: 60` is 60ns"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			_, err := decodeYAML(t, tc.doc)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	cfg, err := decodeYAML(t, "poll_interval: 300s\ndelay: 25h\nearly_delay: 0\n")
	require.NoError(t, err)
	assert.Equal(t, int64(300e9), int64(cfg.PollInterval))
	assert.Zero(t, cfg.EarlyDelay)
}

// The keys the migration page's table lists are the ones the receiver answers.
func TestMigratingPageListsEveryForeignKey(t *testing.T) {
	page := readRepoFile(t, "../../"+migratingDoc)
	for _, k := range foreignKeys {
		// `key` alone or as the end of a path, `services.<service>.key`.
		listed := regexp.MustCompile("`([a-z_<>.]+\\.)?" + k.key + "`")
		assert.Regexp(t, listed, page, "%s does not list %s", migratingDoc, k.key)
	}
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(raw)
}
