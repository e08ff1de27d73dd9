package messagetracereceiver

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/details"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// detailRecords groups the detail records a sink received by row key, and counts row records.
func detailRecords(sink *consumertest.LogsSink) (map[string][]plog.LogRecord, int) {
	out := map[string][]plog.LogRecord{}
	rows := 0
	for _, ld := range sink.AllLogs() {
		forEachRecord(ld, func(lr plog.LogRecord) {
			if lr.EventName() != detailEventName {
				rows++
				return
			}
			id, _ := lr.Attributes().Get("email.local_id")
			to, _ := lr.Attributes().Get("email.to.address")
			out[id.Str()+"|"+strings.ToLower(to.Str())] = append(out[id.Str()+"|"+strings.ToLower(to.Str())], lr)
		})
	}
	return out, rows
}

// detailFetches counts the details requests the tenant answered per row key (any status).
func detailFetches(t *testing.T, srv *msgtracetest.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range srv.DetailRequests() {
		p := r.Path
		i := strings.Index(p, "/getDetailsByRecipient(recipientAddress='")
		require.Positive(t, i, p)
		id := p[strings.LastIndexByte(p[:i], '/')+1 : i]
		rcpt := strings.ReplaceAll(p[i+len("/getDetailsByRecipient(recipientAddress='"):len(p)-2], "''", "'")
		out[id+"|"+strings.ToLower(rcpt)]++
	}
	return out
}

func chosenRows(rows []msgtracetest.Row, statuses ...string) []msgtracetest.Row {
	var out []msgtracetest.Row
	for _, r := range rows {
		for _, s := range statuses {
			if r.Status == s {
				out = append(out, r)
			}
		}
	}
	return out
}

func enableDetails(cfg *Config) {
	cfg.Details.Enabled = true
	cfg.Details.MaxPerPoll = 1000
	cfg.Details.MaxRequestsPerWindow = 80
	cfg.RequestBudget = RequestBudgetConfig{Requests: 90, Interval: time.Minute}
}

func TestDetailsOffByDefault(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.False(t, cfg.Details.Enabled)
	assert.Equal(t, []string{"failed", "quarantined", "filteredAsSpam"}, cfg.Details.Statuses)
	assert.Equal(t, 20, cfg.Details.MaxRequestsPerWindow)

	rows := rowsIn(30, 200, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	details, n := detailRecords(sink)
	assert.Empty(t, details)
	assert.Equal(t, len(rows), n)
	assert.Empty(t, h.srv.DetailRequests(), "no details request without details.enabled")
	assert.Zero(t, h.logs.FilterMessageSnippet("details enrichment is on").Len())
}

func TestDetailsConfigValidate(t *testing.T) {
	cfg, err := loadConfig(t, "details")
	require.NoError(t, err)
	assert.True(t, cfg.Details.Enabled)
	assert.Equal(t, []string{"quarantined"}, cfg.Details.Statuses)
	assert.Equal(t, 10, cfg.Details.MaxRequestsPerWindow)
	assert.Equal(t, 5, cfg.Details.MaxPerPoll)
	assert.Equal(t, 6*time.Hour, cfg.Details.MaxWait)

	for _, tc := range []struct {
		name string
		edit func(*DetailsConfig)
		want string
	}{
		{"share takes the whole budget", func(d *DetailsConfig) { d.MaxRequestsPerWindow = 90 }, "`details.max_requests_per_window` 90 is out of range: use 1 to 89"},
		{"unknown status", func(d *DetailsConfig) { d.Statuses = []string{"bounced"} }, "`details.statuses` has \"bounced\""},
		{"no status", func(d *DetailsConfig) { d.Statuses = nil }, "`details.statuses` is empty"},
		{"per poll", func(d *DetailsConfig) { d.MaxPerPoll = 0 }, "`details.max_per_poll` 0"},
		{"wait", func(d *DetailsConfig) { d.MaxWait = time.Second }, "`details.max_wait` 1s"},
		{"pending", func(d *DetailsConfig) { d.MaxPending = 0 }, "`details.max_pending` 0"},
		{"pending bytes", func(d *DetailsConfig) { d.MaxPendingBytes = 10 }, "`details.max_pending_bytes` 10"},
		{"attempts", func(d *DetailsConfig) { d.MaxAttempts = 0 }, "`details.max_attempts` 0"},
		{"tag", func(d *DetailsConfig) { d.Tag = "a b" }, "`details.tag`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig().(*Config)
			c.TenantID, c.ClientID, c.ClientSecret = "contoso.onmicrosoft.com", "7a3c1d2e-0000-4000-8000-000000000001", "x"
			c.Details.Enabled = true
			tc.edit(&c.Details)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			c.Details.Enabled = false
			assert.NoError(t, c.Validate(), "a disabled block is not checked")
		})
	}
}

func TestDetailsURLQuotesRecipient(t *testing.T) {
	base, _ := url.Parse("https://graph.example")
	c := &apiClient{api: graphAPI{}, base: base}
	p := &pendingDetail{TraceID: "9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4", Recipient: "o'brien/x#y?z@contoso.com"}
	got := c.detailsURL(p, time.Now())
	assert.Equal(t, "https://graph.example/v1.0/admin/exchange/tracing/messageTraces/9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4/getDetailsByRecipient(recipientAddress='o''brien%2Fx%23y%3Fz@contoso.com')", got)
	u, err := url.Parse(got)
	require.NoError(t, err)
	assert.Empty(t, u.RawQuery, "nothing of the address leaks into the query")
	assert.True(t, strings.HasSuffix(u.Path, "'o''brien/x#y?z@contoso.com')"), u.Path)

	recv := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	c = &apiClient{api: legacyAPI{}, base: base}
	got = c.detailsURL(&pendingDetail{TraceID: p.TraceID, Recipient: "o'brien@contoso.com", Received: recv}, recv.Add(time.Hour))
	u, err = url.Parse(got)
	require.NoError(t, err)
	assert.Equal(t, legacyDetailPath, u.Path)
	assert.Equal(t, "MessageTraceId eq guid'9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4' and RecipientAddress eq 'o''brien@contoso.com' and StartDate eq datetime'2026-11-20T07:00:00Z' and EndDate eq datetime'2026-11-20T09:00:00Z'", u.Query().Get("$filter"))
}

// Details arrive for the configured statuses only, once per row, linked to their row, within
// the quota.
func TestDetailsForConfiguredStatusesOnly(t *testing.T) {
	rows := rowsIn(31, 300, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	enableDetails(h.cfg)
	h.cfg.Details.Statuses = []string{"quarantined", "failed"}
	r, ctx, sink, tel := receiverWithTelemetry(t, h)
	require.NoError(t, r.poll(ctx))

	chosen := chosenRows(rows, msgtracetest.StatusQuarantined, msgtracetest.StatusFailed)
	require.NotEmpty(t, chosen)
	require.NotEmpty(t, chosenRows(rows, msgtracetest.StatusFilteredAsSpam), "the sample holds a status that is not chosen")
	details, n := detailRecords(sink)
	assert.Equal(t, len(rows), n, "every row is still delivered")
	assert.Len(t, details, len(chosen))
	fetches := detailFetches(t, h.srv)
	for _, row := range chosen {
		key := row.ID + "|" + strings.ToLower(row.Recipient)
		assert.Equal(t, 1, fetches[key], key)
		recs := details[key]
		want := msgtracetest.DetailsFor(&row)
		require.Len(t, recs, len(want), key)
		for i, lr := range recs {
			ev, _ := lr.Attributes().Get(detailAttrPrefix + "event")
			assert.Equal(t, want[i].Event, ev.Str())
			mid, _ := lr.Attributes().Get("email.message_id")
			assert.Equal(t, row.MessageID, mid.Str())
			st, _ := lr.Attributes().Get("exchange.message_trace.status")
			assert.Equal(t, row.Status, st.Str())
			tag, _ := lr.Attributes().Get(devoTagAttribute)
			assert.Equal(t, defaultDetailsTag, tag.Str())
			assert.Equal(t, want[i].Time, lr.Timestamp().AsTime())
			host, ok := lr.Attributes().Get(detailDataAttribute + ".server_host_name")
			if want[i].Event == "Receive" {
				assert.True(t, ok && host.Str() != "", "known data keys become attributes")
			}
			assert.Equal(t, want[i].Description, lr.Body().Map().AsRaw()["description"])
		}
	}
	assert.Len(t, fetches, len(chosen), "no details for other statuses")
	assert.Zero(t, h.srv.QuotaViolations())
	assert.Equal(t, int64(len(chosen)), metricSum(t, tel, "otelcol_receiver_message_trace_details_fetched"))
	assert.Empty(t, detailsOf(r).run.Pending().Entries())
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("details enrichment is on").FilterLevelExact(zapcore.WarnLevel).Len(), "warned at start")
}

// Details use their share of the budget and only what the list leaves free; with no room they
// wait (pending) and the list's progress is untouched.
func TestDetailsStayWithinShareAndLeftover(t *testing.T) {
	rows := rowsIn(32, 400, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.Details.Enabled = true
	h.cfg.Details.MaxPerPoll = 1000
	h.cfg.Details.MaxRequestsPerWindow = 3
	h.cfg.RequestBudget = RequestBudgetConfig{Requests: 10, Interval: time.Hour}
	sink := new(consumertest.LogsSink)
	r, ctx := h.receiver(sink)
	require.NoError(t, r.poll(ctx))
	chosen := chosenRows(rows, "failed", "quarantined", "filteredAsSpam")
	require.Greater(t, len(chosen), 3)
	assert.Len(t, h.srv.DetailRequests(), 3, "the share (3 per window) caps details even with max_per_poll 1000")
	assert.Len(t, detailsOf(r).run.Pending().Entries(), len(chosen)-3, "the others wait")
	require.NoError(t, r.poll(ctx))
	assert.Len(t, h.srv.DetailRequests(), 3, "still the same window")

	// The list's budget full: details take nothing, even with share left.
	h.cfg.Details.MaxRequestsPerWindow = 9
	detailsOf(r).share = newRequestBudget(9, time.Hour, time.Now)
	for !r.client.budget.full() {
		_, _ = r.client.budget.tryAcquire()
	}
	require.NoError(t, r.poll(ctx))
	assert.Len(t, h.srv.DetailRequests(), 3, "no request the list's budget does not have free")
	assert.Zero(t, h.srv.QuotaViolations())
}

// A restart resumes the pending rows without fetching any twice; a refused delivery keeps the
// row pending.
func TestDetailsRestartNeitherLosesNorRepeats(t *testing.T) {
	rows := rowsIn(33, 300, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	enableDetails(h.cfg)
	h.cfg.Details.MaxPerPoll = 4
	chosen := chosenRows(rows, "failed", "quarantined", "filteredAsSpam")
	require.Greater(t, len(chosen), 10)

	first := new(consumertest.LogsSink)
	r1, ctx1 := h.receiver(first)
	require.NoError(t, r1.poll(ctx1))
	require.Len(t, h.srv.DetailRequests(), 4)
	// The pipeline refuses the next details: they stay pending (fetched again, never lost).
	r1.next = consumerFunc(func(context.Context, plog.Logs) error { return errors.New("downstream unavailable") })
	require.NoError(t, r1.poll(ctx1))
	require.Len(t, h.srv.DetailRequests(), 5, "one try, then the turn ends")
	require.NoError(t, r1.Shutdown(context.Background()))

	second := new(consumertest.LogsSink)
	r2, ctx2 := h.receiver(second)
	require.Len(t, detailsOf(r2).run.Pending().Entries(), len(chosen)-4, "the pending rows came back from storage")
	for i := 0; i < 20 && len(detailsOf(r2).run.Pending().Entries()) > 0; i++ {
		require.NoError(t, r2.poll(ctx2))
	}
	require.Empty(t, detailsOf(r2).run.Pending().Entries())
	fetches := detailFetches(t, h.srv)
	d1, _ := detailRecords(first)
	d2, _ := detailRecords(second)
	refused := 0
	for _, row := range chosen {
		key := row.ID + "|" + strings.ToLower(row.Recipient)
		_, in1 := d1[key]
		_, in2 := d2[key]
		assert.NotEqual(t, in1, in2, "row %s delivered in exactly one run (%v, %v)", key, in1, in2)
		if fetches[key] == 2 {
			refused++
			assert.True(t, in2, "the refused row was fetched again after the restart")
		} else {
			assert.Equal(t, 1, fetches[key], "row %s fetched %d times", key, fetches[key])
		}
	}
	assert.Equal(t, 1, refused)
	_, rowsAgain := detailRecords(second)
	assert.Zero(t, rowsAgain, "the restart read no row again")
}

// Failed requests are retried up to max_attempts, rows over the bounds or past max_wait are
// counted and logged, never silently dropped.
func TestDetailsNotFetchedAreCounted(t *testing.T) {
	rows := rowsIn(34, 300, msgtracetest.GenerateOptions{})
	chosen := chosenRows(rows, "failed", "quarantined", "filteredAsSpam")
	require.Greater(t, len(chosen), 5)

	t.Run("failed", func(t *testing.T) {
		h := newHarness(t, msgtracetest.Options{DetailsFailEvery: 1, QuotaRequests: -1}, rows)
		enableDetails(h.cfg)
		h.cfg.RequestBudget.Requests = 1000
		h.cfg.Details.MaxRequestsPerWindow = 999
		h.cfg.Details.MaxAttempts = 2
		r, ctx, _, tel := receiverWithTelemetry(t, h)
		require.NoError(t, r.poll(ctx))
		require.NoError(t, r.poll(ctx))
		assert.Empty(t, detailsOf(r).run.Pending().Entries())
		assert.Len(t, h.srv.DetailRequests(), 2*len(chosen))
		assert.Equal(t, int64(len(chosen)), metricSum(t, tel, "otelcol_receiver_message_trace_details_not_fetched"))
		assert.Equal(t, len(chosen), h.logs.FilterMessageSnippet("details not fetched").Len())
	})
	t.Run("overflow", func(t *testing.T) {
		h := newHarness(t, msgtracetest.Options{}, rows)
		enableDetails(h.cfg)
		h.cfg.Details.MaxPending = 2
		h.cfg.Details.MaxRequestsPerWindow = 1
		r, ctx, _, tel := receiverWithTelemetry(t, h)
		require.NoError(t, r.poll(ctx))
		assert.LessOrEqual(t, len(detailsOf(r).run.Pending().Entries()), 2)
		assert.Equal(t, int64(len(chosen)-2), metricSum(t, tel, "otelcol_receiver_message_trace_details_not_fetched"))
		assert.Positive(t, h.logs.FilterMessageSnippet("is full").Len())
	})
	t.Run("expired", func(t *testing.T) {
		h := newHarness(t, msgtracetest.Options{}, rows)
		enableDetails(h.cfg)
		h.cfg.Details.MaxRequestsPerWindow = 1
		r, ctx, _, tel := receiverWithTelemetry(t, h)
		require.NoError(t, r.poll(ctx))
		left := len(detailsOf(r).run.Pending().Entries())
		require.Equal(t, len(chosen)-1, left)
		later := r.now().Add(h.cfg.Details.MaxWait + time.Minute)
		r.now = func() time.Time { return later }
		r.details.turn(ctx)
		assert.Empty(t, detailsOf(r).run.Pending().Entries())
		assert.Equal(t, int64(left), metricSum(t, tel, "otelcol_receiver_message_trace_details_not_fetched"))
		assert.Equal(t, 1, h.logs.FilterMessageSnippet("max_wait").Len(), "one line for all of them")
	})
}

func TestDetailsLegacyAPI(t *testing.T) {
	rows := rowsIn(35, 150, msgtracetest.GenerateOptions{})
	for _, env := range []string{msgtracetest.EnvelopeLight, msgtracetest.EnvelopeVerbose} {
		t.Run(env, func(t *testing.T) {
			h := newHarness(t, msgtracetest.Options{LegacyEnvelope: env}, rows)
			h.cfg.API = apiLegacy
			h.cfg.LegacyFieldNames = true
			enableDetails(h.cfg)
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			require.NoError(t, r.poll(ctx))
			chosen := chosenRows(rows, "failed", "quarantined", "filteredAsSpam")
			details, _ := detailRecords(sink)
			require.Len(t, details, len(chosen))
			row := chosen[0]
			recs := details[row.ID+"|"+strings.ToLower(row.Recipient)]
			want := msgtracetest.DetailsFor(&row)
			require.Len(t, recs, len(want))
			body := recs[len(recs)-1].Body().Map().AsRaw()
			assert.Equal(t, want[len(want)-1].Event, body["Event"])
			assert.Equal(t, want[len(want)-1].Description, body["Detail"])
			assert.Equal(t, legacyStatus(row.Status), body["Status"])
			assert.Equal(t, want[len(want)-1].Time.Truncate(time.Millisecond), recs[len(recs)-1].Timestamp().AsTime().Truncate(time.Millisecond))
			assert.Zero(t, h.srv.QuotaViolations())
		})
	}
}

// Stored pending rows are checked before they are believed: entries that could not be asked
// about are counted and dropped, the bounds hold whatever the file says.
func TestDetailsStoredPendingChecked(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	enableDetails(h.cfg)
	h.cfg.Details.MaxPending = 2
	// A checkpoint of this configuration first, so the pending set is resumed, not reset.
	r0, ctx0 := h.receiver(new(consumertest.LogsSink))
	require.NoError(t, r0.poll(ctx0))
	require.NoError(t, r0.Shutdown(context.Background()))
	client, err := h.storage.GetClient(context.Background(), component.KindReceiver, component.NewIDWithName(metadata.Type, "tenant"), "")
	require.NoError(t, err)
	good := `{"id":"9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4","rcpt":"a@b","st":"failed","recv":"2026-11-20T00:00:00Z","added":"2026-11-20T00:00:00Z"}`
	bad := `{"id":"../../admin","rcpt":"a@b","st":"failed"}`
	third := strings.Replace(good, "c4", "c5", 1)
	fourth := strings.Replace(good, "c4", "c6", 1)
	require.NoError(t, client.Set(context.Background(), detailsPendingKey, []byte(`{"v":1,"pending":[`+good+`,`+bad+`,`+third+`,`+fourth+`]}`)))
	require.NoError(t, client.Close(context.Background()))

	r, _ := h.receiver(new(consumertest.LogsSink))
	require.Len(t, detailsOf(r).run.Pending().Entries(), 2)
	logged := h.logs.FilterMessageSnippet("stored rows waiting for details failed their checks").All()
	require.Len(t, logged, 1)
	assert.Equal(t, int64(2), logged[0].ContextMap()["rows"], "the bad entry and the one over max_pending, counted as not fetched")
}

// Rows of statuses the details do not want are dropped before a details.Row is built for them:
// a page of them costs no more allocations than an empty page; a wanted row is still queued.
func TestDetailsQueueFiltersBeforeBuildingRows(t *testing.T) {
	telemetry, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	w := &detailsWiring{run: details.New(details.Settings{
		Config:  details.Config{Wants: func(status string) bool { return status == "failed" }},
		Pending: details.NewSet(100, 1<<20), Now: func() time.Time { return now },
		Logger: zap.NewNop(), Telemetry: telemetry,
	})}
	ctx := context.Background()
	row := tracepage.Row{ID: "1c7f4d5f-9a5b-4d52-8e6f-3a2b8c0d1e22", Recipient: "bob@example.com", Received: now}
	unwanted := make([]traceRecord, 100)
	for i := range unwanted {
		unwanted[i] = traceRecord{row: &row, status: "delivered"}
	}
	empty := testing.AllocsPerRun(100, func() { w.queue(ctx, nil) })
	assert.Equal(t, empty, testing.AllocsPerRun(100, func() { w.queue(ctx, unwanted) }))
	assert.Empty(t, w.run.Pending().Entries())

	w.queue(ctx, append(unwanted, traceRecord{row: &row, status: "failed"}))
	require.Len(t, w.run.Pending().Entries(), 1)
	assert.Equal(t, "failed", w.run.Pending().Entries()[0].Status)
}
