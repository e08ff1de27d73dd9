package stack

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRowKeyReadsBothNamings(t *testing.T) {
	for body, want := range map[string]string{
		`{"MessageTraceId":"A","RecipientAddress":"Kim@X"}`: "A|kim@x",
		`{"id":"B","recipientAddress":"Dan.O'Connor@X"}`:    "B|dan.o'connor@x",
	} {
		got, err := RowKey(body)
		if err != nil || got != want {
			t.Fatalf("RowKey(%s) = %q, %v; want %q", body, got, err, want)
		}
	}
	for _, bad := range []string{`not json`, `{"subject":"x"}`} {
		if _, err := RowKey(bad); err == nil {
			t.Fatalf("RowKey(%s) accepted a body without a row", bad)
		}
	}
	got, err := Delivered([]devotest.Event{{Message: `{"id":"a","recipientAddress":"x"}`}, {Message: `{"id":"a","recipientAddress":"X"}`}, {Message: `x`}})
	if err == nil || got["a|x"] != 2 {
		t.Fatalf("Delivered = %v, %v; want a|x twice and an error for the malformed event", got, err)
	}
}

func TestStartWritesWhatACollectorNeeds(t *testing.T) {
	st, err := Start(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := map[string]string{}
	for _, kv := range st.Env() {
		for i := range kv {
			if kv[i] == '=' {
				env[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	for _, k := range []string{"MSGTRACE_CA", "DEVO_CA", "DEVO_CERT", "DEVO_KEY"} {
		if _, err := os.Stat(env[k]); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if env["O365_CLIENT_SECRET"] == "" || env["MSGTRACE_URL"] != st.Tenant.URL() || env["DEVO_ENDPOINT"] != st.Sink.Addr() {
		t.Fatalf("incomplete environment: %v", env)
	}
	if filepath.Dir(env["STATE_DIR"]) != st.Dir {
		t.Fatalf("state dir %s outside %s", env["STATE_DIR"], st.Dir)
	}
}

func TestLiveTrafficAddsRowsUntilStopped(t *testing.T) {
	srv, err := msgtracetest.NewServer(msgtracetest.Options{ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	stop := LiveTraffic(srv, 1, 50, msgtracetest.GenerateOptions{})
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Rows()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	n := len(srv.Rows())
	if n == 0 {
		t.Fatal("no live rows added")
	}
	time.Sleep(1200 * time.Millisecond)
	if len(srv.Rows()) != n {
		t.Fatal("rows still added after stop")
	}
}
