//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
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
			ID        string `json:"id"`
			MessageID string `json:"messageId"`
			Sender    string `json:"senderAddress"`
			Recipient string `json:"recipientAddress"`
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
