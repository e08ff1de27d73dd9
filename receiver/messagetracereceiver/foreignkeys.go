package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// migratingDoc is the page that maps other collectors' keys to ours.
const migratingDoc = "docs/migrating.md"

// foreignKeys are the keys of Devo's Office 365 message tracing collector and of Sumo Logic's
// Microsoft Exchange Trace Logs source (their manuals in docs/migrating.md), each with what to
// write instead. A user copying one gets our key, not mapstructure's "has invalid keys".
var foreignKeys = []struct{ key, use string }{
	// Devo's collector (inputs.<name> and its services, globals).
	{"requests_per_second", "use `request_budget` (requests per interval: Graph allows 100 per 5 minutes per tenant; the default requests: 90, interval: 5m stays below it)"},
	{"request_period_in_seconds", "use `poll_interval` with a unit, e.g. poll_interval: 60s"},
	{"period_in_seconds", "use `poll_interval` with a unit, e.g. poll_interval: 60s"},
	{"override_time_delay_in_hours", "use `delay` with a unit, e.g. delay: 25h"},
	{"override_time_delay_in_seconds", "use `delay` with a unit, e.g. delay: 90000s"},
	{"time_delay_in_seconds", "use `delay` with a unit, e.g. delay: 90000s"},
	{"reset_persistence_auth", "use `reset_checkpoint` (a date, YYYY-MM-DD; changing it starts again from initial_lookback)"},
	{"max_historic_date_cutoff_days_back", "use `initial_lookback` with a unit, e.g. initial_lookback: 240h for 10 days"},
	{"max_historic_date_margin_seconds", "remove it: the receiver keeps its queries inside the API's window itself"},
	{"credentials", "use `tenant_id`, `client_id` and `client_secret` directly under the receiver, not in a credentials block"},
	{"services", "remove it: the receiver is the service; put its keys directly under office365_message_trace"},
	{"debug", "set the collector's log level: service: {telemetry: {logs: {level: debug}}}"},
	{"persistence", "use `storage` naming a storage extension, e.g. storage: file_storage"},
	// Sumo Logic's source.
	{"app_client_id", "use `client_id`"},
	{"directory_tenant_id", "use `tenant_id`"},
	{"authorization_code", "remove it: the receiver logs in as the application (client credentials), which needs no authorization code"},
	{"polling_interval", "use `poll_interval` with a unit, e.g. poll_interval: 300s"},
	{"time_offset", "use `delay` with a unit, e.g. delay: 3600s (Microsoft publishes rows up to 24 h late: 25h loses none)"},
}

// foreignKeyErrors names our key for every key of theirs the configuration sets.
func foreignKeyErrors(conf *confmap.Conf) []error {
	var errs []error
	for _, k := range foreignKeys {
		if conf.IsSet(k.key) {
			errs = append(errs, fmt.Errorf("`%s` is not a key of office365_message_trace: %s (%s)", k.key, k.use, migratingDoc))
		}
	}
	return errs
}

// durationKeys are the configuration paths (confmap's "::" form) of every time.Duration field.
var durationKeys = func() []string {
	var out []string
	walkDurations(reflect.TypeOf(Config{}), "", &out)
	sort.Strings(out)
	return out
}()

func walkDurations(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "-" {
			continue
		}
		path := prefix
		if !strings.Contains(opts, "squash") {
			if name == "" {
				continue
			}
			if path != "" {
				path += confmap.KeyDelimiter
			}
			path += name
		}
		if f.Type == reflect.TypeOf(time.Duration(0)) {
			*out = append(*out, path)
			continue
		}
		walkDurations(f.Type, path, out)
	}
}

// bareDurationErrors refuses a bare number for a duration: decoded as nanoseconds, 300 meant
// as seconds would become 300ns. 0 is the same in every unit and stays accepted.
func bareDurationErrors(conf *confmap.Conf) []error {
	var errs []error
	for _, key := range durationKeys {
		var n float64
		switch v := conf.Get(key).(type) {
		case int:
			n = float64(v)
		case int64:
			n = float64(v)
		case uint64:
			n = float64(v)
		case float64:
			n = v
		default:
			continue
		}
		if n == 0 {
			continue
		}
		name := strings.ReplaceAll(key, confmap.KeyDelimiter, ".")
		errs = append(errs, fmt.Errorf("`%s: %v` is %v: a duration needs a unit, e.g. %vs (or 5m, 25h)", name, n, time.Duration(n), n))
	}
	return errs
}
