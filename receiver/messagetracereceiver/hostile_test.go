package messagetracereceiver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadatatest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// The tests of issue 11: the receiver under hostile and malformed input. Each names the row of
// the table it covers.

func newTrap(t *testing.T) *msgtracetest.Trap {
	t.Helper()
	trap, err := msgtracetest.NewTrap()
	require.NoError(t, err)
	t.Cleanup(trap.Close)
	return trap
}

// requireNothingReached fails when any connection or credential reached the trap.
func requireNothingReached(t *testing.T, trap *msgtracetest.Trap) {
	t.Helper()
	for _, q := range trap.Requests() {
		assert.False(t, q.HasCredential(), "a credential reached %s %s", q.Method, q.Path)
	}
	require.Zero(t, trap.Connections(), "the receiver connected to where a redirect pointed")
}

// Row 1: a redirect of an API call, to another port, to plain http or to another host, is
// refused before anything is sent there, with an error naming the location; the redirect's
// target is never taken as a page.
func TestAPIRedirectIsRefused(t *testing.T) {
	trap := newTrap(t)
	path := "/v1.0/admin/exchange/tracing/messageTraces?$top=5000"
	for name, location := range map[string]string{
		"another port, plain http": trap.URL() + path,
		"another port, https":      "https://" + trap.Addr() + path,
		"another host":             "https://graph.example.invalid" + path,
	} {
		t.Run(name, func(t *testing.T) {
			rows := rowsIn(101, 20, msgtracetest.GenerateOptions{})
			h := newHarness(t, msgtracetest.Options{}, rows)
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			before := r.state.cp.Done
			h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultRedirect, Location: location})
			err := r.poll(ctx)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "redirect to "+location[:40], "the location is named (cut to a short prefix)")
			assert.Contains(t, err.Error(), "HTTP 302")
			var se *setupError
			assert.ErrorAs(t, err, &se, "a redirect is a setup problem, backed off in minutes: %v", err)
			assert.Zero(t, sink.LogRecordCount(), "nothing from the redirect target is delivered")
			assert.Equal(t, before, r.state.cp.Done)
			requireNothingReached(t, trap)

			// Once the server answers normally again, the rows are read as usual.
			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
		})
	}
}

// Row 2: a redirect of the token request (307 re-posts the body) is refused: neither the
// client secret nor the client assertion is sent anywhere else.
func TestTokenRedirectIsRefused(t *testing.T) {
	trap := newTrap(t)
	for _, cert := range []bool{false, true} {
		t.Run(map[bool]string{false: "client secret", true: "client assertion"}[cert], func(t *testing.T) {
			opts := msgtracetest.Options{}
			var cc *msgtracetest.ClientCert
			if cert {
				var err error
				cc, err = msgtracetest.NewClientCert("message trace app")
				require.NoError(t, err)
				opts.ClientCert = cc.Cert
			}
			h := newHarness(t, opts, rowsIn(102, 5, msgtracetest.GenerateOptions{}))
			if cert {
				certFile, keyFile, err := cc.WriteFiles(t.TempDir())
				require.NoError(t, err)
				h.cfg.ClientSecret = ""
				h.cfg.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
			}
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultTokenRedirect, Location: trap.URL() + "/common/oauth2/v2.0/token"})
			err := r.poll(ctx)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "HTTP 307 with a redirect to "+trap.URL()+"/common/oauth2/v2.0/token")
			assert.True(t, isPermanent(err), "refused, not retried at once: %v", err)
			assert.Zero(t, sink.LogRecordCount())
			requireNothingReached(t, trap)
		})
	}
}

// receiverWithTelemetry is h.receiver with self-metrics recorded.
func receiverWithTelemetry(t *testing.T, h *harness) (*messageTraceReceiver, context.Context, *consumertest.LogsSink, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiverWith(metadatatest.NewSettings(tel), sink)
	return r, ctx, sink, tel
}

func metricSum(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err, name)
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	return total
}

// unparsedRecords returns the records delivered raw, by their synthetic id.
func unparsedRecords(sink *consumertest.LogsSink) map[string]plog.LogRecord {
	out := map[string]plog.LogRecord{}
	for _, ld := range sink.AllLogs() {
		forEachRecord(ld, func(lr plog.LogRecord) {
			if _, ok := lr.Attributes().Get(parseErrorAttribute); ok {
				id, _ := lr.Attributes().Get("email.local_id")
				out[id.Str()] = lr
			}
		})
	}
	return out
}

// goodKeys drops the unparsed rows' keys.
func goodKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, tracepage.UnparsedIDPrefix) {
			out = append(out, k)
		}
	}
	return out
}

// Row 3: a row with a malformed receivedDateTime and one without an id, both in the tenant for
// good, no longer stall it: every other row is delivered once, the two are delivered raw with
// the reason, counted, and the checkpoint moves past them; later polls go on.
func TestBadRowsAreDeliveredRawAndTheTenantMovesOn(t *testing.T) {
	rows := rowsIn(103, 300, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	rows[40].Corrupt = map[string]string{"receivedDateTime": `"2026-13-45T99:99:99Z"`}
	rows[41].Corrupt = map[string]string{"id": ""}
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	r, ctx, sink, tel := receiverWithTelemetry(t, h)

	require.NoError(t, r.poll(ctx))
	good := append(append([]msgtracetest.Row{}, rows[:40]...), rows[42:]...)
	requireExactlyOnce(t, good, goodKeys(delivered(sink)))
	bad := unparsedRecords(sink)
	require.Len(t, bad, 2)
	reasons := []string{}
	for id, lr := range bad {
		assert.True(t, strings.HasPrefix(id, tracepage.UnparsedIDPrefix))
		reason, _ := lr.Attributes().Get(parseErrorAttribute)
		reasons = append(reasons, reason.Str())
		assert.True(t, strings.HasPrefix(lr.Body().Str(), "{"), "the body is the raw row: %s", lr.Body().Str())
		assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	}
	assert.ElementsMatch(t, []string{`receivedDateTime "2026-13-45T99:99:99Z" is not an RFC 3339 time`, "no id"}, reasons)
	assert.Equal(t, int64(2), metricSum(t, tel, "otelcol_receiver_message_trace_unparsed_rows"))
	assert.Equal(t, r.settled.planner.limit(r.now()), r.state.cp.Done, "the checkpoint moved past the bad rows")
	logged := int64(0)
	for _, e := range h.logs.FilterMessageSnippet("could not be parsed; delivered them raw").All() {
		logged += e.ContextMap()["rows"].(int64)
	}
	assert.Equal(t, int64(2), logged)

	// The next polls send nothing again and go on with what is new.
	count := sink.LogRecordCount()
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, count, sink.LogRecordCount())
	newRow := msgtracetest.Generate(104, 1, r.now().Add(-50*time.Minute), r.now().Add(-40*time.Minute), msgtracetest.GenerateOptions{MaxRecipients: 1})
	h.srv.AddRows(newRow...)
	later := r.now().Add(time.Hour)
	r.now = func() time.Time { return later }
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, count+1, sink.LogRecordCount())
}

// Row 3, two passes: an unparsed row is remembered by the hash of its bytes, so the settled
// pass does not emit again what the early pass emitted, bad rows included.
func TestUnparsedRowsAreNotEmittedAgainByTheSettledPass(t *testing.T) {
	now := time.Now()
	rows := msgtracetest.Generate(105, 40, now.Add(-50*time.Minute), now.Add(-15*time.Minute), msgtracetest.GenerateOptions{MaxRecipients: 2})
	rows[7].Corrupt = map[string]string{"receivedDateTime": `"yesterday"`}
	rows[20].Corrupt = map[string]string{"size": `"big"`}
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.EarlyDelay = 10 * time.Minute
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	first := delivered(sink)
	require.Len(t, first, len(rows), "the early pass delivered every row, two of them raw")
	require.Len(t, unparsedRecords(sink), 2)

	// The settled pass catches up with the same rows, as if the hour of `delay` had passed.
	r.settled.planner.delay = 5 * time.Minute
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, first, delivered(sink), "the settled pass emitted nothing again")
	assert.True(t, r.state.cp.Done.After(now.Add(-15*time.Minute)), "the settled pass read the rows' range")
}

// Rows 3 and 4: a 5 MB value in a bad row is neither quoted in full into an error or a log
// line nor delivered in full.
func TestHugeValueIsCutEverywhere(t *testing.T) {
	rows := rowsIn(106, 10, msgtracetest.GenerateOptions{MaxRecipients: 1})
	rows[3].Corrupt = map[string]string{"receivedDateTime": `"` + strings.Repeat("7", 5<<20) + `"`}
	h := newHarness(t, msgtracetest.Options{}, rows)
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	require.Equal(t, len(rows), sink.LogRecordCount())
	for _, e := range h.logs.All() {
		size := len(e.Message)
		for _, f := range e.Context {
			size += len(f.String) + len(f.Key)
			if err, ok := f.Interface.(error); ok {
				size += len(err.Error())
			}
		}
		assert.Less(t, size, 2048, "log line %q", e.Message)
	}
	for _, lr := range unparsedRecords(sink) {
		assert.LessOrEqual(t, len(lr.Body().Str()), tracepage.MaxRawRowBytes+32)
		reason, _ := lr.Attributes().Get(parseErrorAttribute)
		assert.Contains(t, reason.Str(), "…(5242880 bytes)")
		assert.Less(t, len(reason.Str()), 200)
	}
}

// Row 5: Retry-After is capped at 5 minutes, Microsoft's quota window, with a warning.
func TestAbsurdRetryAfterIsCapped(t *testing.T) {
	now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"9000000000":                    maxRetryAfter,
		"99999999999999999999999":       30 * time.Second, // not a number Go can hold: the default hint
		"Wed, 01 Jan 2312 00:00:00 GMT": maxRetryAfter,
		"300":                           5 * time.Minute,
		"12":                            12 * time.Second,
		"0":                             time.Second,
		"Sat, 21 Nov 2026 08:00:20 GMT": 20 * time.Second,
	} {
		assert.Equal(t, want, parseRetryAfter(v, now), v)
	}

	h := newHarness(t, msgtracetest.Options{}, rowsIn(107, 5, msgtracetest.GenerateOptions{}))
	r, ctx := h.receiver(new(consumertest.LogsSink))
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultThrottle, RawRetryAfter: "9000000000"})
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	polled := make(chan error, 1)
	go func() { polled <- r.poll(pollCtx) }()
	// Once the warning is out, the receiver is waiting out the capped 5 minutes.
	require.Eventually(t, func() bool {
		return h.logs.FilterMessageSnippet("longer than Microsoft's 5-minute quota window").Len() > 0
	}, 10*time.Second, 10*time.Millisecond)
	select {
	case err := <-polled:
		t.Fatalf("the poll ended instead of waiting: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	require.Error(t, <-polled, "ended by the cancellation, not by the wait")
	r.client.budget.mu.Lock()
	until := r.client.budget.blockedUntil
	r.client.budget.mu.Unlock()
	assert.WithinDuration(t, start.Add(maxRetryAfter), until, 10*time.Second, "paused until %v", until)
	warn := h.logs.FilterMessageSnippet("longer than Microsoft's 5-minute quota window")
	require.Equal(t, 1, warn.Len())
	assert.Equal(t, "9000000000", warn.All()[0].ContextMap()["retry_after_header"])
}

// Row 6: a body over the cap is refused (read to cap+1, not cut and parsed), with or without
// Content-Length.
func TestOversizedBodyIsRefused(t *testing.T) {
	const limit = 1000
	for _, tt := range []struct {
		name    string
		size    int
		length  int64 // Content-Length; -1 = unknown (chunked)
		refused bool
	}{
		{"at the cap", limit, limit, false},
		{"at the cap, chunked", limit, -1, false},
		{"one byte over, chunked", limit + 1, -1, true},
		{"far over, chunked", 50 * limit, -1, true},
		{"over by Content-Length", 10, 2 * limit, true},
	} {
		resp := &http.Response{Body: http.NoBody, ContentLength: tt.length}
		resp.Body = readCloser{strings.NewReader(strings.Repeat("x", tt.size))}
		body, err := readBody(context.Background(), resp, limit, nil, 0)
		if tt.refused {
			require.ErrorIs(t, err, errPageRefused, tt.name)
			assert.Nil(t, body, tt.name)
		} else {
			require.NoError(t, err, tt.name)
			assert.Len(t, body, tt.size, tt.name)
		}
	}

	// Through the receiver: refused at once (no retries spending quota), nothing delivered.
	h := newHarness(t, msgtracetest.Options{}, rowsIn(108, 20, msgtracetest.GenerateOptions{}))
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	r.client.limit = 1 << 20
	before := r.state.cp.Done
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultOversized, Size: 2 << 20})
	err := r.poll(ctx)
	require.ErrorIs(t, err, errPageRefused)
	assert.Contains(t, err.Error(), "over the limit of 1048576 bytes")
	assert.Len(t, apiRequests(h.srv), 1)
	assert.Zero(t, sink.LogRecordCount())
	assert.Equal(t, before, r.state.cp.Done)
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// Row 6: a page with more rows than $top is refused by name, before its rows are built.
func TestMoreRowsThanTopIsRefused(t *testing.T) {
	rows := rowsIn(109, 30, msgtracetest.GenerateOptions{MaxRecipients: 1})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 10
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	before := r.state.cp.Done
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultExtraRows, Rows: 500})
	err := r.poll(ctx)
	require.ErrorIs(t, err, errPageRefused)
	assert.Contains(t, err.Error(), "more than the 10 rows asked for ($top)")
	assert.Len(t, apiRequests(h.srv), 1, "not retried at once")
	assert.Zero(t, sink.LogRecordCount())
	assert.Equal(t, before, r.state.cp.Done)
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))
}

// seedCheckpoint stores a checkpoint as a previous run would have, changed by edit.
func seedCheckpoint(t *testing.T, h *harness, edit func(cp *checkpoint, now time.Time)) {
	t.Helper()
	r, ctx := h.receiver(new(consumertest.LogsSink))
	edit(r.state.cp, r.now())
	r.disk.save(ctx)
	require.NoError(t, r.Shutdown(context.Background()))
}

// Rows 7 and 8: a stored checkpoint ahead of the clock (its done time or its open range) is
// discarded with a warning naming what was found; the receiver starts from initial_lookback
// and reads, instead of staying silent for years or being refused by the API.
func TestFutureCheckpointStartsFromInitialLookback(t *testing.T) {
	for name, edit := range map[string]func(*checkpoint, time.Time){
		"done 10 years ahead": func(cp *checkpoint, now time.Time) { cp.Done = now.AddDate(10, 0, 0) },
		"open range 5 years ahead": func(cp *checkpoint, now time.Time) {
			start := now.AddDate(5, 0, 0)
			cp.Open = &rangeProgress{Start: start, End: start.Add(time.Hour)}
		},
		"early pass ahead": func(cp *checkpoint, now time.Time) { cp.Early = &passCheckpoint{Done: now.AddDate(1, 0, 0)} },
	} {
		t.Run(name, func(t *testing.T) {
			rows := rowsIn(110, 50, msgtracetest.GenerateOptions{})
			h := newHarness(t, msgtracetest.Options{}, rows)
			seedCheckpoint(t, h, edit)
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			warn := h.logs.FilterMessageSnippet("the stored checkpoint lies in the future")
			require.Equal(t, 1, warn.Len())
			assert.Contains(t, warn.All()[0].Message, "starting from initial_lookback")
			assert.NotEmpty(t, warn.All()[0].ContextMap()["found"])
			require.NoError(t, r.poll(ctx))
			requireExactlyOnce(t, rows, delivered(sink))
			for _, q := range apiRequests(h.srv) {
				assert.Equal(t, 200, q.Status, "no query the API refuses")
			}
		})
	}
}

// Rows 7 and 8, the other checks on load: a slightly early clock is tolerated, and an open
// range wider than the API allows is dropped with a warning and read again from done.
func TestStoredCheckpointIsCheckedOnLoad(t *testing.T) {
	rows := rowsIn(111, 50, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	seedCheckpoint(t, h, func(cp *checkpoint, now time.Time) {
		cp.Done = now.Add(-45 * 24 * time.Hour).Truncate(time.Second)
		cp.Open = &rangeProgress{Start: cp.Done, End: now.Add(-47 * time.Hour).Truncate(time.Second)}
	})
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.Equal(t, 1, h.logs.FilterMessageSnippet("open range is empty or wider than the API allows").Len())
	assert.Nil(t, r.state.cp.Open)
	require.NoError(t, r.poll(ctx))
	requireExactlyOnce(t, rows, delivered(sink))

	// A checkpoint a little ahead (clock skew within maxClockSkew) is kept as it is.
	h2 := newHarness(t, msgtracetest.Options{}, nil)
	var seeded time.Time
	seedCheckpoint(t, h2, func(cp *checkpoint, now time.Time) { seeded = now.Add(time.Minute).UTC(); cp.Done = seeded })
	r2, _ := h2.receiver(new(consumertest.LogsSink))
	assert.True(t, seeded.Equal(r2.state.cp.Done))
	assert.Zero(t, h2.logs.FilterMessageSnippet("lies in the future").Len())
}

// Row 7 at run time: a clock that jumps back while running is said, not silent.
func TestCheckpointAheadOfTheClockIsWarned(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	r.state.cp.Done = r.now().Add(time.Hour)
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("lies ahead of this machine's clock").Len())

	// An open range ahead is not sent to the API (which refuses it with a 400 that would read
	// as a configuration problem).
	r.state.cp.Done = r.now().Add(-2 * time.Hour)
	r.state.cp.Open = &rangeProgress{Start: r.now().Add(time.Hour), End: r.now().Add(2 * time.Hour)}
	require.NoError(t, r.poll(ctx))
	assert.Equal(t, 2, h.logs.FilterMessageSnippet("lies ahead of this machine's clock").Len())
	assert.Empty(t, apiRequests(h.srv))
}

// Row 9: insecure settings are warned about when the receiver starts.
func TestInsecureSettingsAreWarnedAtStart(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	h.cfg.TLS.InsecureSkipVerify = true
	h.receiver(new(consumertest.LogsSink))
	require.Equal(t, 1, h.logs.FilterMessageSnippet("insecure setting: tls.insecure_skip_verify: true").Len())
}

// Row 11: whatever the token endpoint echoes is scrubbed of the secret or the assertion.
func TestTokenEndpointEchoIsScrubbed(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	r, ctx := h.receiver(new(consumertest.LogsSink))
	h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultTokenEcho})
	err := r.poll(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Microsoft said: AADSTS9002999: request client_secret=[REDACTED]")
	assert.Contains(t, err.Error(), "[REDACTED]")
	for _, form := range []string{testSecret, url.QueryEscape(testSecret)} {
		assert.NotContains(t, err.Error(), form)
		for _, e := range h.logs.All() {
			assert.NotContains(t, e.Message, form)
		}
	}

	assert.Equal(t, "error: [REDACTED] and [REDACTED]", scrub("error: "+"a+b/c=d"+" and "+url.QueryEscape("a+b/c=d"), "a+b/c=d"))
	assert.Equal(t, "short s", scrub("short s", "s"), "a one-letter credential would mangle the text")
}

// Row 1: a 3xx without a Location (nothing to follow) is an error too, never a page.
func TestRedirectWithoutLocationIsNotData(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, rowsIn(112, 5, msgtracetest.GenerateOptions{}))
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	for range persistentFaults {
		h.srv.InjectFaults(msgtracetest.Fault{Kind: msgtracetest.FaultRedirect, Status: http.StatusFound})
	}
	err := r.poll(ctx)
	require.ErrorContains(t, err, "HTTP 302")
	assert.Zero(t, sink.LogRecordCount())
}

// Rows 1 and 2: a Location that echoes the credential it was sent does not put it in the error.
func TestRedirectLocationIsScrubbed(t *testing.T) {
	var location string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			location = "/" + tok
		} else {
			location = "/" + r.PostForm.Get("client_secret")
		}
		http.Redirect(w, r, location, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	client := &http.Client{CheckRedirect: refuseRedirect}

	req, _ := http.NewRequest(http.MethodGet, srv.URL, http.NoBody)
	req.Header.Set("Authorization", "Bearer tok3n-value")
	// The client wraps the refusal in a *url.Error quoting the location; the receiver keeps only
	// the refusal (stripURLError), as once and classifyLoginError do.
	_, err := client.Do(req)
	err = stripURLError(err)
	require.ErrorContains(t, err, "redirect to "+srv.URL+"/[REDACTED]")
	assert.NotContains(t, err.Error(), "tok3n-value")

	_, err = client.PostForm(srv.URL, url.Values{"client_secret": {"s3cr3t-value"}})
	err = stripURLError(err)
	require.ErrorContains(t, err, "redirect to "+srv.URL+"/[REDACTED]")
	assert.NotContains(t, err.Error(), "s3cr3t-value")
}

// A row the API lists twice on one page, exactly or with the recipient in another case, is
// emitted once (issue 20): the receiver compares rows by trace id and recipient,
// case-insensitively, and so does this check (delivered lower-cases the address).
func TestRowRepeatedOnOnePageIsEmittedOnce(t *testing.T) {
	for _, early := range []time.Duration{0, 30 * time.Minute} {
		t.Run("early_delay "+early.String(), func(t *testing.T) {
			rows := rowsIn(105, 50, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})
			a := rows[10]
			exact, upper := a, a
			// Other recipients in the stand-in (it keeps one row per key); on the page they
			// read as a's recipient again, as given and upper-cased.
			exact.Recipient, exact.Corrupt = "repeat-1@example.com", map[string]string{"recipientAddress": strconv.Quote(a.Recipient)}
			upper.Recipient, upper.Corrupt = "repeat-2@example.com", map[string]string{"recipientAddress": strconv.Quote(strings.ToUpper(a.Recipient))}
			h := newHarness(t, msgtracetest.Options{}, append(append([]msgtracetest.Row{}, rows...), exact, upper))
			h.cfg.EarlyDelay = early
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			require.NoError(t, r.poll(ctx))
			pages := 0
			for _, q := range apiRequests(h.srv) {
				if q.Rows > 0 {
					pages++
					require.Equal(t, len(rows)+2, q.Rows, "all rows on one page")
				}
			}
			require.Equal(t, 1, pages)
			requireExactlyOnce(t, rows, delivered(sink))
		})
	}
}

// Rows Microsoft lists with a received time no range of the receiver can hold (year 9999,
// 1601, 0001, a legacy /Date/ before year 0) were dropped without a trace (issue 20). They are
// skipped (emitting them could send them again: a later query could list them too), counted
// in out_of_range_rows and logged once per range with the first row's id; every other row is
// delivered once and the checkpoint moves past them. Both APIs, both legacy envelopes.
func TestRowsDatedWhereNoRangeReachesAreCountedAndLogged(t *testing.T) {
	graphDates := []string{`"9999-12-31T23:59:59Z"`, `"1601-01-01T00:00:00Z"`, `"0001-01-01T00:00:00Z"`}
	legacyDates := []string{`"\/Date(-99999999999999)\/"`, `"9999-12-31T23:59:59.0000000"`, `"\/Date(253402300799000)\/"`, `"0001-01-01T00:00:00"`}
	for _, tc := range []struct {
		api, envelope string
		dates         []string
	}{
		{apiGraph, "", graphDates},
		{apiLegacy, msgtracetest.EnvelopeLight, legacyDates},
		{apiLegacy, msgtracetest.EnvelopeVerbose, legacyDates},
	} {
		t.Run(tc.api+tc.envelope, func(t *testing.T) {
			rows := rowsIn(106, 120, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 2})
			member := "receivedDateTime"
			if tc.api == apiLegacy {
				member = "Received"
			}
			bad := map[string]bool{}
			for i, d := range tc.dates {
				rows[20+30*i].Corrupt = map[string]string{member: d}
				bad[keysOf(rows[20+30*i : 21+30*i])[0]] = true
			}
			h := newHarness(t, msgtracetest.Options{LegacyEnvelope: tc.envelope}, rows)
			h.cfg.API = apiLegacy
			if tc.api == apiGraph {
				h.cfg.API = apiGraph
			}
			h.cfg.PageSize = 50
			r, ctx, sink, tel := receiverWithTelemetry(t, h)
			require.NoError(t, r.poll(ctx))

			var good []msgtracetest.Row
			for _, row := range rows {
				if !bad[keysOf([]msgtracetest.Row{row})[0]] {
					good = append(good, row)
				}
			}
			requireExactlyOnce(t, good, delivered(sink))
			assert.Equal(t, int64(len(tc.dates)), metricSum(t, tel, "otelcol_receiver_message_trace_out_of_range_rows"))
			lines := h.logs.FilterMessageSnippet("Microsoft listed rows dated outside the range queried").All()
			require.Len(t, lines, 1, "one line per range, not per row")
			assert.Equal(t, int64(len(tc.dates)), lines[0].ContextMap()["rows"])
			badIDs := map[string]bool{}
			for k := range bad {
				badIDs[strings.SplitN(k, "|", 2)[0]] = true
			}
			assert.Contains(t, badIDs, lines[0].ContextMap()["first_row_id"])
			assert.Equal(t, r.settled.planner.limit(r.now()), r.state.cp.Done, "the checkpoint moved past them")
		})
	}
}

// An unparsed row next to rows dated where no range reaches borrows their time; it is placed
// at the end of the range and delivered raw, not skipped with them.
func TestUnparsedRowNextToOutOfRangeRowsIsDeliveredRaw(t *testing.T) {
	rows := rowsIn(109, 60, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})
	sort.Slice(rows, func(i, j int) bool { return rows[i].Received.Before(rows[j].Received) }) // neighbours on the page
	rows[29].Corrupt = map[string]string{"receivedDateTime": `"9999-12-31T23:59:59Z"`}
	rows[30].Corrupt = map[string]string{"receivedDateTime": `"not-a-date"`}
	rows[31].Corrupt = map[string]string{"receivedDateTime": `"9999-12-31T23:59:59Z"`}
	h := newHarness(t, msgtracetest.Options{}, rows)
	r, ctx, sink, tel := receiverWithTelemetry(t, h)
	require.NoError(t, r.poll(ctx))
	good := append(append([]msgtracetest.Row{}, rows[:29]...), rows[32:]...)
	requireExactlyOnce(t, good, goodKeys(delivered(sink)))
	require.Len(t, unparsedRecords(sink), 1)
	assert.Equal(t, int64(2), metricSum(t, tel, "otelcol_receiver_message_trace_out_of_range_rows"))
	assert.Equal(t, int64(1), metricSum(t, tel, "otelcol_receiver_message_trace_unparsed_rows"))
}

// Issue 20 item 3: one row nested deeper than the decoder allows (10,001 levels in a member
// Graph does not send) no longer fails its page on every poll: on the first poll the other 299
// rows are delivered decoded and the deep one raw, counted, and the checkpoint moves past it.
func TestRowNestedTooDeepIsDeliveredRawWithItsPage(t *testing.T) {
	rows := rowsIn(121, 300, msgtracetest.GenerateOptions{MaxRecipients: 1})
	require.Len(t, rows, 300)
	rows[150].Corrupt = map[string]string{"x": strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001)}
	h := newHarness(t, msgtracetest.Options{}, rows)
	r, ctx, sink, tel := receiverWithTelemetry(t, h)

	require.NoError(t, r.poll(ctx))
	good := append(append([]msgtracetest.Row{}, rows[:150]...), rows[151:]...)
	requireExactlyOnce(t, good, goodKeys(delivered(sink)))
	bad := unparsedRecords(sink)
	require.Len(t, bad, 1)
	for _, lr := range bad {
		reason, _ := lr.Attributes().Get(parseErrorAttribute)
		assert.Equal(t, "nested deeper than 10000 levels", reason.Str())
		assert.LessOrEqual(t, len(lr.Body().Str()), tracepage.MaxRawRowBytes+32, "bounded")
		assert.True(t, strings.HasPrefix(lr.Body().Str(), `{"id":"`+rows[150].ID+`"`), "the raw row")
	}
	assert.Equal(t, 300, sink.LogRecordCount())
	assert.Equal(t, int64(1), metricSum(t, tel, "otelcol_receiver_message_trace_unparsed_rows"))
	assert.Equal(t, r.settled.planner.limit(r.now()), r.state.cp.Done, "the checkpoint moved past the page")
}
