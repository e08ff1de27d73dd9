//go:build e2e

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

// Issue 11: the built distribution under hostile and malformed input.

// waitOutput waits until the collector printed want.
func waitOutput(t *testing.T, c *stack.Collector, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(c.Output(), want) {
		if c.Exited() {
			t.Fatalf("collector exited (%v) before printing %q", c.ExitErr(), want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector did not print %q within %v", want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Rows 1 and 2: a redirect of the token request (307, which would re-post the client secret)
// or of an API call (302, which would resend the bearer token) to a plain-HTTP listener on
// another port: the listener receives nothing, and the collector logs the refusal.
func TestRedirectsNeverCarryCredentials(t *testing.T) {
	for _, tt := range []struct {
		name   string
		fault  msgtracetest.FaultKind
		status string
	}{
		{"token endpoint", msgtracetest.FaultTokenRedirect, "HTTP 307"},
		{"API", msgtracetest.FaultRedirect, "HTTP 302"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			trap, err := msgtracetest.NewTrap()
			if err != nil {
				t.Fatal(err)
			}
			defer trap.Close()
			e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
			e.st.Tenant.AddRows(rows(111, 50)...)
			location := trap.URL() + "/" + e.st.Tenant.Options().TenantID + "/oauth2/v2.0/token"
			if tt.fault == msgtracetest.FaultRedirect {
				location = trap.URL() + "/v1.0/admin/exchange/tracing/messageTraces?$top=5000"
			}
			e.st.Tenant.InjectFaults(msgtracetest.Fault{Kind: tt.fault, Location: location})
			c := e.run("graph.yaml")
			refusal := tt.status + " with a redirect to " + trap.URL()
			// Until the refusal is logged or something reaches the listener.
			for deadline := time.Now().Add(time.Minute); !strings.Contains(c.Output(), refusal) && trap.Connections() == 0; {
				if c.Exited() || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // a request on its way to the listener lands
			if err := c.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			for _, q := range trap.Requests() {
				if q.HasCredential() {
					t.Errorf("a credential reached the plain-HTTP listener: %s %s", q.Method, q.Path)
				}
			}
			if n := trap.Connections(); n != 0 {
				t.Fatalf("%d connections reached the listener the redirect pointed at", n)
			}
			if !strings.Contains(c.Output(), refusal) {
				t.Fatalf("the collector did not log the refusal %q", refusal)
			}
			if strings.Contains(c.Output(), e.st.Secret) {
				t.Fatal("the client secret appears in the collector output")
			}
			for _, ev := range e.st.Sink.Events() {
				if strings.Contains(ev.Message, "trap@example.com") {
					t.Fatal("the listener's answer was taken as data")
				}
			}
			t.Logf("FIGURES %s: trap connections=0 requests=%d", t.Name(), len(trap.Requests()))
		})
	}
}

// Row 3: a row with a malformed receivedDateTime stays in the tenant. Every other row is
// delivered once, the bad row is delivered raw with its parse-error attribute, and the receiver
// keeps polling: a row added afterwards arrives too.
func TestBadRowDeliveredRawAndPollingGoesOn(t *testing.T) {
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	src := rows(112, 400)
	const badDate = "2026-13-45T99:99:99Z"
	src[100].Corrupt = map[string]string{"receivedDateTime": `"` + badDate + `"`}
	e.st.Tenant.AddRows(src...)
	good := append(append([]msgtracetest.Row{}, src[:100]...), src[101:]...)

	// graph.yaml plus the debug exporter, which prints attributes: Devo only sees the body.
	base, err := os.ReadFile(filepath.Join("..", "testdata", "e2e", "graph.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(base), "exporters:\n  devo:", "exporters:\n  debug:\n    verbosity: detailed\n  devo:", 1)
	cfg = strings.Replace(cfg, "exporters: [devo]", "exporters: [devo, debug]", 1)
	if cfg == string(base) {
		t.Fatal("the configuration was not changed")
	}
	c, err := stack.StartCollector(binary(t), writeConfig(t, cfg), e.environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stopAtCleanup(t, c, "collector")

	// split separates the raw bad row from the rows delivered as records.
	split := func() (map[string]int, []string) {
		got := map[string]int{}
		var raw []string
		for _, ev := range e.st.Sink.Events() {
			if strings.Contains(ev.Message, badDate) {
				raw = append(raw, ev.Message)
				continue
			}
			k, err := stack.RowKey(ev.Message)
			if err != nil {
				t.Fatalf("malformed event at the sink: %v", err)
			}
			got[k]++
		}
		return got, raw
	}
	wait := func(keys []string, what string) {
		deadline := time.Now().Add(time.Minute)
		for {
			got, raw := split()
			missing := 0
			for _, k := range keys {
				if got[k] == 0 {
					missing++
				}
			}
			if missing == 0 && len(raw) > 0 {
				return
			}
			if c.Exited() || time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d rows missing, %d raw rows (exited %v)", what, missing, len(keys), len(raw), c.Exited())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait(stack.Keys(good), "first poll")
	e.settle(time.Second)
	got, raw := split()
	e.report(stack.Keys(good), got, false)
	if len(raw) != 1 || !strings.HasPrefix(raw[0], "{") || !strings.Contains(raw[0], `"id":"`+src[100].ID+`"`) {
		t.Fatalf("the bad row was not delivered once, raw: %q", raw)
	}
	waitOutput(t, c, "exchange.message_trace.parse_error", 10*time.Second)
	waitOutput(t, c, `receivedDateTime \"`+badDate+`\" is not an RFC 3339 time`, 10*time.Second)

	// The receiver keeps polling: a row received after the first polls arrives as well.
	// Received now: the early pass emits it once it is early_delay (10s) old.
	later := msgtracetest.Generate(113, 1, time.Now().Add(-2*time.Second), time.Now().Add(-time.Second), msgtracetest.GenerateOptions{MaxRecipients: 1})
	e.st.Tenant.AddRows(later...)
	wait(append(stack.Keys(good), stack.Keys(later)...), "later poll")
	e.settle(time.Second)
	got, raw = split()
	e.report(append(stack.Keys(good), stack.Keys(later)...), got, false)
	if len(raw) != 1 {
		t.Fatalf("the bad row was delivered %d times", len(raw))
	}
}

// Row 10: print-config shows the proxy without its password (the client secret was already
// redacted).
func TestPrintConfigRedactsProxyPassword(t *testing.T) {
	cfg := writeConfig(t, `receivers:
  office365_message_trace:
    tenant_id: contoso.onmicrosoft.com
    client_id: 7a3c1d2e-0000-4000-8000-000000000001
    client_secret: s3cr3t-value
    proxy_url: http://user:pr0xy-pa55@proxy.internal:3128
exporters:
  debug: {}
service:
  pipelines:
    logs:
      receivers: [office365_message_trace]
      exporters: [debug]
`)
	out, err := run(t, "print-config", "--config", cfg)
	if err != nil {
		t.Fatalf("print-config: %v\n%s", err, out)
	}
	if !strings.Contains(out, "proxy_url: http://user:xxxxx@proxy.internal:3128") {
		t.Fatalf("the proxy is not printed redacted:\n%s", out)
	}
	if strings.Contains(out, "pr0xy-pa55") || strings.Contains(out, "s3cr3t-value") {
		t.Fatalf("a password or secret is printed:\n%s", out)
	}
}

// Row 9: weak settings are refused by `validate`, naming the key, unless opted into; the
// opt-in validates.
func TestWeakSettingsAreRefused(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "    storage: file_storage\n"
	for _, tt := range []struct {
		name, add, want string
	}{
		{"http endpoint", "    endpoint: http://graph.example\n", "allow_insecure_http"},
		{"http login endpoint", "    login_endpoint: http://login.example\n", "allow_insecure_http"},
		{"tls 1.0", "    tls:\n      min_version: \"1.0\"\n", "tls.min_version"},
		{"http with the opt-in", "    endpoint: http://graph.example\n    allow_insecure_http: true\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(string(base), anchor, anchor+tt.add, 1)
			if body == string(base) {
				t.Fatal("the configuration was not changed")
			}
			out, err := run(t, "validate", "--config", writeConfig(t, body))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v\n%s", err, out)
			case tt.want != "" && (err == nil || !strings.Contains(out, tt.want)):
				t.Fatalf("not refused naming %q (err %v):\n%s", tt.want, err, out)
			}
		})
	}
}

// procStatusBytes reads a kB field of /proc/<pid>/status (VmRSS, VmHWM) in bytes.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// Issue 20 item 4 on the built binary: answers without a length, chunked or gzip of 300 MiB of
// spaces (about 300 KB on the wire), one after the other: each is refused at the 64 MiB body
// limit naming it, the collector's peak RSS stays within the body limit of what the same
// collector peaks at reading the same rows without them (it reached 298-491 MB before), and
// once the answers are sane again every row arrives once.
func TestBodiesWithoutLengthKeepTheCollectorSmall(t *testing.T) {
	peak := func(answers int) int64 {
		e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
		src := rows(114, 200)
		e.st.Tenant.AddRows(src...)
		for i := range answers {
			kind := msgtracetest.FaultChunkedBody
			if i%2 == 1 {
				kind = msgtracetest.FaultGzipBody
			}
			e.st.Tenant.InjectFaults(msgtracetest.Fault{Kind: kind})
		}
		c := e.run("graph.yaml")
		for deadline := time.Now().Add(3 * time.Minute); e.st.Tenant.PendingFaults() > 0; {
			if c.Exited() || time.Now().After(deadline) {
				t.Fatalf("%d hostile answers not requested (exited %v)", e.st.Tenant.PendingFaults(), c.Exited())
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.deliverAll(c, stack.Keys(src), 2*time.Minute, false)
		if answers > 0 {
			waitOutput(t, c, "over the limit of 67108864 bytes (more than 67108864 bytes read, decompressed)", 10*time.Second)
		}
		hwm, err := procStatusBytes(c.PID(), "VmHWM")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		return hwm
	}
	const answers = 6
	control, hostile := peak(0), peak(answers)
	t.Logf("FIGURES %s: peak RSS (VmHWM) %d MB without hostile answers, %d MB with %d answers of 300 MiB without a length",
		t.Name(), control/1e6, hostile/1e6, answers)
	// One body limit of chunks, and the decompressor's and runtime's slack.
	if limit := control + 64<<20 + 32<<20; hostile > limit {
		t.Fatalf("peak RSS %d MB while refusing bodies without a length, over %d MB", hostile/1e6, limit/1e6)
	}
}
