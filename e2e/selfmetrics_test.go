//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// scrape reads the collector's own Prometheus endpoint and returns the metric family names.
func (o *observed) scrape(t *testing.T) (map[string]bool, string) {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(o.metricsPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		if f, ok := strings.CutPrefix(l, "# TYPE "); ok {
			names[strings.Fields(f)[0]] = true
		}
	}
	return names, string(raw)
}

// documentedMetric is one metric of a component's documentation.md.
type documentedMetric struct{ name, unit, kind, monotonic string }

var metricRow = regexp.MustCompile(`(?m)^### (\S+)\n(?:.*\n)*?\| ([^|]+) \| (Gauge|Sum) \| \w+ \| (?:(true|false) \|)?`)

func documentedMetrics(t *testing.T) []documentedMetric {
	t.Helper()
	var out []documentedMetric
	for _, f := range []string{"receiver/messagetracereceiver/documentation.md", "exporter/devoexporter/documentation.md"} {
		raw, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricRow.FindAllStringSubmatch(string(raw), -1) {
			out = append(out, documentedMetric{m[1], strings.TrimSpace(m[2]), m[3], m[4]})
		}
	}
	if len(out) < 20 {
		t.Fatalf("read %d metrics from the documentation.md files; the parsing is broken", len(out))
	}
	return out
}

// notDrivenHere are documented metrics this test cannot make the collector record (a sync
// instrument shows on the endpoint only once recorded): they need a pipeline that refuses rows
// permanently, a row published late or changing status between the passes, or a record with
// an unusable Devo tag. Their recording is covered by the components' unit tests.
var notDrivenHere = map[string]bool{
	"otelcol_receiver_message_trace_rejected_rows":  true,
	"otelcol_receiver_message_trace_late_rows":      true,
	"otelcol_receiver_message_trace_status_updates": true,
	"otelcol_devo_exporter_events_dropped":          true,
}

var alertMetric = regexp.MustCompile(`\botelcol_[a-z0-9_]+`)

// The collector's own Prometheus endpoint shows every documented metric of the receiver and
// the exporter (except notDrivenHere) while rows flow through throttling, an unparsed row, a row
// dated in year 9999, details
// of which every second request fails, and
// Devo refusing connections and resetting one, under the name docs/operations.md lists; and every metric the
// example alert rules (deploy/prometheus/alerts.yaml) use is one the endpoint exports.
func TestSelfMetricsOnPrometheusEndpoint(t *testing.T) {
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1, DetailsFailEvery: 2}, devotest.Options{})
	now := time.Now()
	src := msgtracetest.Generate(41, 40, now.Add(-3*24*time.Hour), now.Add(-2*time.Hour), msgtracetest.GenerateOptions{})
	e.st.Tenant.AddRows(src...)
	// A message listed as received in year 9999: skipped and counted in out_of_range_rows.
	future := msgtracetest.Generate(42, 1, now.Add(-60*time.Hour), now.Add(-59*time.Hour), msgtracetest.GenerateOptions{})
	for i := range future {
		future[i].Corrupt = map[string]string{"receivedDateTime": `"9999-12-31T23:59:59Z"`}
	}
	e.st.Tenant.AddRows(future...)
	e.st.Tenant.InjectFaults(
		msgtracetest.Fault{Kind: msgtracetest.FaultThrottle, RetryAfter: time.Second},
		msgtracetest.Fault{Kind: msgtracetest.FaultBadRow},
		msgtracetest.Fault{Kind: msgtracetest.FaultBadRow},
		msgtracetest.Fault{Kind: msgtracetest.FaultBadRow},
		msgtracetest.Fault{Kind: msgtracetest.FaultBadRow},
	)
	// The first pushes are refused (push failures), a later connection is reset before its
	// confirmation (segment failures, reconnects, unconfirmed events).
	e.st.Sink.RefuseFor(3 * time.Second)
	e.st.Sink.ResetAfter(5)
	o := e.runObserved("details-metrics.yaml")
	e.waitDelivered(nil, stack.Keys(src), time.Minute)

	ops, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names map[string]bool
	var raw string
	deadline := time.Now().Add(30 * time.Second)
	for {
		names, raw = o.scrape(t)
		missing := 0
		for _, m := range documentedMetrics(t) {
			if !notDrivenHere[m.name] && !names[m.name] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, m := range documentedMetrics(t) {
		if !strings.Contains(string(ops), "`"+m.name+"`") {
			t.Errorf("docs/operations.md does not list `%s` (documentation.md has it): add it with its meaning and what to alert on", m.name)
		}
		if !notDrivenHere[m.name] && !names[m.name] {
			t.Errorf("the metrics endpoint does not export %s", m.name)
		}
	}
	rules, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	used := alertMetric.FindAllString(string(rules), -1)
	if len(used) < 5 {
		t.Fatalf("deploy/prometheus/alerts.yaml uses %d collector metrics; the extraction is broken", len(used))
	}
	for _, n := range used {
		if !names[n] {
			t.Errorf("deploy/prometheus/alerts.yaml uses %s, which the collector does not export", n)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", raw)
	}
}
