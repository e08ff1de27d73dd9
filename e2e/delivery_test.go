//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// shippedConfig is testdata/minimal.yaml as a user gets it, with only what must point at the
// stand-ins substituted: the tenant's ids and endpoints, the Devo endpoint and certificates,
// the state directory (parallel tests must not share ./state) and the collector's own metrics
// endpoint (a free port instead of :8888, which parallel collectors would fight over; the
// test reads the exporter's metrics there). Every delivery setting is the default.
func shippedConfig(t *testing.T) (path string, metricsURL string) {
	t.Helper()
	base, err := os.ReadFile(filepath.Join("..", "testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	body := string(base)
	for _, r := range []struct{ from, to string }{
		{"directory: ./state", "directory: ${env:STATE_DIR}"},
		{"tenant_id: contoso.onmicrosoft.com", "tenant_id: ${env:MSGTRACE_TENANT}"},
		{"client_id: 00000000-0000-0000-0000-000000000000", "client_id: ${env:MSGTRACE_CLIENT_ID}"},
		{"    client_secret: ${env:O365_CLIENT_SECRET:-replace-me}\n", "    client_secret: ${env:O365_CLIENT_SECRET:-replace-me}\n" +
			"    login_endpoint: ${env:MSGTRACE_URL}\n    endpoint: ${env:MSGTRACE_URL}\n    tls:\n      ca_file: ${env:MSGTRACE_CA}\n"},
		{"    endpoint: collector-us.devo.io:443\n", "    endpoint: ${env:DEVO_ENDPOINT}\n" +
			"    tls:\n      ca_file: ${env:DEVO_CA}\n      cert_file: ${env:DEVO_CERT}\n      key_file: ${env:DEVO_KEY}\n"},
		{"service:\n", fmt.Sprintf("service:\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n"+
			"            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: %d\n", port)},
	} {
		if !strings.Contains(body, r.from) {
			t.Fatalf("testdata/minimal.yaml no longer holds %q: update the substitutions", r.from)
		}
		body = strings.Replace(body, r.from, r.to, 1)
	}
	return writeConfig(t, body), fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startShipped runs the collector with the configuration at path; cleanup stops it and, if the
// test failed, logs the end of its output.
func (e *env) startShipped(config string) *stack.Collector {
	e.t.Helper()
	c, err := stack.StartCollector(binary(e.t), config, e.environ(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	stopAtCleanup(e.t, c, "collector")
	return c
}

func scrape(url string) string {
	resp, err := http.Get(url) //nolint:noctx // a test against loopback
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue is the first sample of a metric in a Prometheus text page, "" if absent.
func metricValue(page, name string) string {
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, name) && !strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	return ""
}

// shippedRows are rows the default passes read: the early pass (10 minutes behind now) reads
// the last 25 hours, the settled pass what is older.
func shippedRows(seed int64, messages int) []msgtracetest.Row {
	now := time.Now()
	return msgtracetest.Generate(seed, messages, now.Add(-9*24*time.Hour), now.Add(-15*time.Minute),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 5})
}

// (a) Devo refuses every connection for 330 s (longer than exporterhelper's former 5-minute
// limit) in the middle of a backfill, and the collector is killed (-9) during the outage.
// With the shipped defaults every row arrives once Devo is back; while it is down the receiver
// stops fetching (no API request is spent) and the outage is visible in logs and metrics.
func TestDevoOutageLongerThanFiveMinutesWithCrash(t *testing.T) {
	soak(t)
	parallel(t)
	const outage = 330 * time.Second
	// About 5 s per 5,000-row page: Devo goes down while the backfill is still running.
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1, LatencyPer1000Rows: time.Second}, devotest.Options{})
	src := shippedRows(21, 9000)
	e.st.Tenant.AddRows(src...)
	config, metricsURL := shippedConfig(t)
	c := e.startShipped(config)
	waitEvents(t, e.st.Sink, 1, 2*time.Minute)
	e.st.Sink.RefuseFor(outage)
	outageEnds := time.Now().Add(outage)
	before := e.st.Sink.EventCount()
	if before >= len(src) {
		t.Fatalf("the backfill finished before the outage (%d rows): the test no longer tests an outage mid-backfill", before)
	}
	t.Logf("outage starts with %d of %d rows at the sink", before, len(src))

	// While the exporter retries, the rows wait and the metrics say so.
	time.Sleep(40 * time.Second)
	page := scrape(metricsURL)
	if v := metricValue(page, "otelcol_devo_exporter_records_in_flight"); v == "" || v == "0" {
		t.Errorf("records_in_flight during the outage = %q, want the waiting page's rows", v)
	}
	if metricValue(page, "otelcol_devo_exporter_time_since_last_delivery") == "" {
		t.Error("no time_since_last_delivery metric")
	}
	if !strings.Contains(c.Output(), "Devo is not taking rows") {
		t.Error("the outage was not warned about")
	}

	c.Kill()
	t.Logf("killed -9 %v into the outage", outage-time.Until(outageEnds).Round(time.Second))
	c = e.startShipped(config)
	// The restarted receiver reads from its checkpoint, hands over one page and waits: no
	// more API requests until Devo is back.
	time.Sleep(30 * time.Second)
	requests := e.st.Tenant.APIRequestCount()
	time.Sleep(time.Until(outageEnds.Add(-5 * time.Second)))
	if n := e.st.Tenant.APIRequestCount() - requests; n != 0 {
		t.Errorf("%d API requests while the exporter could not deliver: the receiver should wait", n)
	}
	if got := e.st.Sink.EventCount(); got != before {
		t.Fatalf("%d events arrived while every connection was refused", got-before)
	}

	e.deliverAll(c, stack.Keys(src), 3*time.Minute, true)
	took := time.Since(outageEnds).Round(time.Second)
	out := c.Output()
	if !strings.Contains(out, "Devo takes rows again") {
		t.Error("the end of the outage was not logged")
	}
	if strings.Contains(out, "Dropping data") {
		t.Error("exporterhelper dropped data")
	}
	t.Logf("FIGURES %s: outage %v with a kill -9, all %d rows delivered %v after it ended; refused connections %d",
		t.Name(), outage, len(src), took, e.st.Sink.Stats().Refused)
}

// (b) A relay that resets the connection every 2,000 (and every 500) events: every row
// arrives, and the duplicates stay within the events sent on the connections that failed.
func TestDevoFrequentResets(t *testing.T) {
	parallel(t)
	for _, every := range []int{2000, 500} {
		t.Run(fmt.Sprintf("every_%d_events", every), func(t *testing.T) {
			parallel(t)
			e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
			src := shippedRows(int64(30+every), 10000)
			e.st.Tenant.AddRows(src...)
			e.st.Sink.ResetEvery(every)
			config, _ := shippedConfig(t)
			c := e.startShipped(config)
			got := e.deliverAll(c, stack.Keys(src), 5*time.Minute, true)
			dups := 0
			for _, n := range got {
				dups += n - 1
			}
			s := e.st.Sink.Stats()
			t.Logf("FIGURES %s: reset every %d events: %d rows, %d duplicates (%.1f %%), %d events on reset connections, %d resets, %d connections",
				t.Name(), every, len(src), dups, 100*float64(dups)/float64(len(src)), s.EventsOnFailedConns, s.Resets, s.Connections)
			if s.Resets == 0 {
				t.Fatal("no connection was reset: the test no longer tests resets")
			}
			if dups > s.EventsOnFailedConns {
				t.Errorf("%d duplicates but only %d events were sent on connections that failed", dups, s.EventsOnFailedConns)
			}
			if strings.Contains(c.Output(), "Dropping data") {
				t.Error("exporterhelper dropped data")
			}
		})
	}
}
