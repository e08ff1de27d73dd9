//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// Every example in testdata/examples validates with the built binary, and each component the
// distribution adds for SIEM teams has an example that uses it (under the name users know).
func TestValidateExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	uses := map[string]string{ // example -> a component id it must configure
		"filelog.yaml":   "  filelog/app:\n",
		"syslog.yaml":    "  syslog:\n",
		"redaction.yaml": "  redaction/addresses:\n",
		"resource.yaml":  "  resource/contoso:\n",
		"kafka.yaml":     "  kafka:\n",
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := uses[name]; ok && !strings.Contains(string(body), want) {
				t.Fatalf("%s does not configure %q", name, strings.TrimSpace(want))
			}
			out, err := run(t, "validate", "--config", filepath.Join("testdata", "examples", name))
			if err != nil {
				t.Fatalf("validate %s failed: %v\n%s", name, err, out)
			}
		})
	}
	for name := range uses {
		if !seen[name] {
			t.Errorf("testdata/examples/%s is missing", name)
		}
	}
}

// The redaction example, unchanged, runs against the stand-ins (testdata/e2e/stand-ins.yaml only
// redirects its receiver and exporter): every row reaches Devo, with the local part of sender
// and recipient masked, the domains and the Message-ID kept, and no original address anywhere.
func TestRedactionExampleMasksAddresses(t *testing.T) {
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	now := time.Now()
	// One recipient per message: with the recipient masked, id|recipient still names one row.
	src := msgtracetest.Generate(21, 300, now.Add(-9*24*time.Hour), now.Add(-2*time.Minute),
		msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})
	e.st.Tenant.AddRows(src...)

	c, err := stack.StartCollectorMerged(binary(t), []string{
		filepath.Join("..", "testdata", "examples", "redaction.yaml"),
		filepath.Join("..", "testdata", "e2e", "stand-ins.yaml"),
	}, e.environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !c.Exited() {
			_ = c.Stop(10 * time.Second)
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", tail(c.Output(), 6000))
		}
	})

	masked := func(addr string) string { return "redacted@" + addr[strings.LastIndexByte(addr, '@')+1:] }
	want := make([]string, len(src))
	byID := make(map[string]msgtracetest.Row, len(src))
	for i, r := range src {
		want[i] = r.ID + "|" + strings.ToLower(masked(r.Recipient))
		byID[r.ID] = r
	}
	e.deliverAll(c, want, time.Minute, false)

	for _, ev := range e.st.Sink.Events() {
		var body struct {
			ID        string `json:"MessageTraceId"`
			MessageID string `json:"MessageId"`
			Sender    string `json:"SenderAddress"`
			Recipient string `json:"RecipientAddress"`
		}
		if err := json.Unmarshal([]byte(ev.Message), &body); err != nil {
			t.Fatalf("event is not JSON: %v: %.200s", err, ev.Message)
		}
		r, ok := byID[body.ID]
		if !ok {
			t.Fatalf("event for an unknown row: %.200s", ev.Message)
		}
		if body.Sender != masked(r.Sender) || body.Recipient != masked(r.Recipient) {
			t.Fatalf("addresses not masked: sender %q recipient %q (were %q, %q)", body.Sender, body.Recipient, r.Sender, r.Recipient)
		}
		if body.MessageID != r.MessageID {
			t.Fatalf("Message-ID changed: %q, want %q", body.MessageID, r.MessageID)
		}
		// Every string in the body, decoded (JSON escapes the quotes of "john doe"@...).
		var all any
		if err := json.Unmarshal([]byte(ev.Message), &all); err != nil {
			t.Fatal(err)
		}
		for _, v := range jsonStrings(all) {
			for _, addr := range []string{r.Sender, r.Recipient} {
				if strings.Contains(strings.ToLower(v), strings.ToLower(addr)) {
					t.Fatalf("original address %q reached Devo: %.300s", addr, ev.Message)
				}
			}
		}
		if ev.Tag != "cloud.office365.messagetracing" {
			t.Fatalf("event sent to tag %q", ev.Tag)
		}
	}
}

// jsonStrings are the string values in a decoded JSON document.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}

// exampleReceiver finds the office365_message_trace receivers an example configures.
var exampleReceiver = regexp.MustCompile(`(?m)^  (office365_message_trace(?:/[A-Za-z0-9_-]+)?):\s*$`)

// standInOverlay points every receiver of an example, its devo exporter and file_storage at
// the stand-ins (what stand-ins.yaml does for the unnamed receiver only) and keeps the
// pipelines off what the stand-ins cannot offer: the Kafka brokers, port 5514.
func standInOverlay(t *testing.T, name, example string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`extensions:
  file_storage:
    directory: ${env:STATE_DIR}
exporters:
  devo:
    endpoint: ${env:DEVO_ENDPOINT}
    tls:
      ca_file: ${env:DEVO_CA}
      cert_file: ${env:DEVO_CERT}
      key_file: ${env:DEVO_KEY}
    timeout: 5s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
      max_elapsed_time: 0
receivers:
`)
	for _, m := range exampleReceiver.FindAllStringSubmatch(example, -1) {
		fmt.Fprintf(&b, `  %s:
    tenant_id: ${env:MSGTRACE_TENANT}
    client_id: ${env:MSGTRACE_CLIENT_ID}
    client_secret: ${env:O365_CLIENT_SECRET}
    login_endpoint: ${env:MSGTRACE_URL}
    endpoint: ${env:MSGTRACE_URL}
    tls:
      ca_file: ${env:MSGTRACE_CA}
    timeout: 5s
    poll_interval: 1s
    delay: 1m
    early_delay: 10s
    initial_lookback: 240h
`, m[1])
	}
	switch name {
	case "syslog.yaml":
		fmt.Fprintf(&b, "  syslog:\n    tcp:\n      listen_address: 127.0.0.1:%d\n", freePort(t))
	case "kafka.yaml":
		b.WriteString("service:\n  pipelines:\n    logs:\n      exporters: [devo]\n")
	}
	return writeConfig(t, b.String())
}

// Every example that writes to Devo's message trace table fills its columns: run unchanged
// against the stand-ins, each one's rows reach Devo in the Reporting Web Service names the
// table's parser reads (MessageTraceId, SenderAddress, ...), never in Graph's, and the
// exporter never has to warn about it.
func TestExamplesFillDevoMessageTraceColumns(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), "cloud.office365.messagetracing") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
			now := time.Now()
			src := msgtracetest.Generate(23, 40, now.Add(-2*24*time.Hour), now.Add(-2*time.Minute), msgtracetest.GenerateOptions{})
			e.st.Tenant.AddRows(src...)
			e.extra = append(e.extra, "CONTOSO_CLIENT_SECRET="+e.st.Secret, "FABRIKAM_CLIENT_SECRET="+e.st.Secret)
			c, err := stack.StartCollectorMerged(binary(t), []string{f, standInOverlay(t, name, string(raw))}, e.environ(), nil)
			if err != nil {
				t.Fatal(err)
			}
			stopAtCleanup(t, c, "collector")
			// Every receiver delivers every row (resource.yaml reads the stand-in twice); the
			// redaction example masks the recipient, so rows are counted by trace id.
			receivers := len(exampleReceiver.FindAllString(string(raw), -1))
			var events []devotest.Event
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
				events = events[:0]
				for _, ev := range e.st.Sink.Events() {
					if strings.HasPrefix(ev.Tag, "cloud.office365.messagetracing") {
						events = append(events, ev)
					}
				}
				if len(events) >= receivers*len(src) {
					break
				}
				if c.Exited() || time.Now().After(deadline) {
					t.Fatalf("%d of %d rows reached the message trace table (collector exited: %v)", len(events), receivers*len(src), c.Exited())
				}
			}
			for _, ev := range events {
				var body map[string]any
				if err := json.Unmarshal([]byte(ev.Message), &body); err != nil {
					t.Fatalf("event is not JSON: %v: %.200s", err, ev.Message)
				}
				for _, k := range []string{"MessageTraceId", "MessageId", "Received", "SenderAddress", "RecipientAddress", "Status", "Size"} {
					if _, ok := body[k]; !ok {
						t.Fatalf("row to %s lacks %s, a column of Devo's table: %.300s", ev.Tag, k, ev.Message)
					}
				}
				for _, k := range []string{"id", "messageId", "senderAddress", "recipientAddress", "status"} {
					if _, ok := body[k]; ok {
						t.Fatalf("row to %s carries Graph's %s: %.300s", ev.Tag, k, ev.Message)
					}
				}
			}
			if strings.Contains(c.Output(), "set legacy_field_names: true") {
				t.Fatalf("the exporter warned about Graph field names:\n%s", tail(c.Output(), 3000))
			}
			t.Logf("%d events at the Devo stand-in", len(events))
		})
	}
}
