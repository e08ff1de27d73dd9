package devoexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadatatest"
	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

func TestSegmenterHalvesOnFailureAndGrowsBack(t *testing.T) {
	s := newSegmenter(64, 8192)
	assert.Equal(t, 8192, s.size(), "starts at the largest segment")
	assert.Equal(t, 4096, s.failed(8192))
	assert.Equal(t, 2048, s.failed(4096))
	// A push whose segment was already small (end of a request) halves what failed.
	assert.Equal(t, 150, s.failed(300))
	for range 10 {
		s.failed(100)
	}
	assert.Equal(t, 64, s.size(), "never below min_segment_records")
	// segmentGrowAfter confirmed segments in a row double it, up to the maximum.
	for i := 1; i < segmentGrowAfter; i++ {
		assert.Equal(t, 64, s.confirmed())
	}
	assert.Equal(t, 128, s.confirmed())
	s.failed(128)
	assert.Equal(t, 64, s.size(), "a failure restarts the streak")
	for range 100 {
		s.confirmed()
	}
	assert.Equal(t, 8192, s.size(), "never above max_segment_records")
}

func TestSegmentEndSkipsDroppedRecords(t *testing.T) {
	p := plan{tags: []string{"a", "", "a", "a", "", "", "a", "a"}}
	assert.Equal(t, 3, p.segmentEnd(0, 2))
	assert.Equal(t, 7, p.segmentEnd(3, 2))
	assert.Equal(t, 8, p.segmentEnd(7, 5))
	assert.Equal(t, 2, p.sendableIn(0, 3))
}

// numbered builds n records whose bodies start with their number.
func numbered(from, n int) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	pad := strings.Repeat("x", 100)
	for i := from; i < from+n; i++ {
		lrs.AppendEmpty().Body().SetStr(fmt.Sprintf("id-%07d %s", i, pad))
	}
	return ld
}

// pushUntilDone plays exporterhelper's part: a partial failure is retried with only the data
// it hands back. It returns how many pushes it took.
func pushUntilDone(t *testing.T, e *devoExporter, ld plog.Logs, maxPushes int) int {
	t.Helper()
	for push := 1; push <= maxPushes; push++ {
		err := e.pushLogs(context.Background(), ld)
		if err == nil {
			return push
		}
		require.False(t, consumererror.IsPermanent(err), "%v", err)
		var partial consumererror.Logs
		if errors.As(err, &partial) {
			ld = partial.Data()
		}
	}
	t.Fatalf("not delivered within %d pushes", maxPushes)
	return 0
}

func countIDs(s *devotest.Sink) map[string]int {
	seen := map[string]int{}
	for _, ev := range s.Events() {
		seen[strings.Fields(ev.Message)[0]]++
	}
	return seen
}

// Resets every 2,000 and every 500 events: with one connection per whole push of 8,192
// records every push would fail whole, forever. Segments let every record through, and the
// duplicates stay within what the failed connections carried.
func TestConfirmedSegmentsMakeProgressUnderFrequentResets(t *testing.T) {
	for _, every := range []int{2000, 500} {
		t.Run(fmt.Sprintf("reset every %d events", every), func(t *testing.T) {
			s, files := newSink(t, devotest.Options{})
			s.ResetEvery(every)
			cfg := sinkConfig(t, s, files)
			e, tt := startExporter(t, cfg)
			const records = 20000
			pushes := 0
			for from := 0; from < records; from += 8192 {
				pushes += pushUntilDone(t, e, numbered(from, min(8192, records-from)), 200)
			}
			seen := countIDs(s)
			require.Len(t, seen, records, "every record arrives")
			st := s.Stats()
			dups := st.Events - records
			unconfirmed := counter(t, tt, "devo_exporter_events_unconfirmed")
			t.Logf("reset every %d: %d events for %d records, %d duplicates, %d events on reset connections (exporter counted %d unconfirmed), %d resets, %d pushes, segment size now %d",
				every, st.Events, records, dups, st.EventsOnFailedConns, unconfirmed, st.Resets, pushes, e.seg.size())
			assert.Positive(t, st.Resets)
			assert.LessOrEqual(t, dups, st.EventsOnFailedConns, "duplicates only from connections that failed")
			assert.LessOrEqual(t, int64(st.EventsOnFailedConns), unconfirmed, "the exporter's metric bounds the duplicates")
			// Each failure repeats at most one segment: what a reset connection carried is
			// at most one segment of at most max_segment_records.
			assert.LessOrEqual(t, st.EventsOnFailedConns, st.Resets*every)
			assert.Less(t, e.seg.size(), cfg.MaxSegmentRecords, "segments shrank")
		})
	}
}

// Immediate retries of a failed segment are bounded: a connection that resets at every event
// costs 1+segmentRetries attempts, then the push goes back to exporterhelper's back-off.
func TestConfirmedImmediateRetriesAreBounded(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	e, tt := startExporter(t, cfg)
	s.ResetEvery(1)
	err := e.pushLogs(context.Background(), numbered(0, 100))
	require.Error(t, err)
	assert.Equal(t, int64(1+segmentRetries), counter(t, tt, "devo_exporter_segment_failures"))
	assert.Equal(t, 1+segmentRetries, s.Stats().Resets)
	assert.Equal(t, cfg.MinSegmentRecords, e.seg.size(), "half of the failed 100-record segment, at least the minimum")
}

// When the retries of a segment run out, the push hands back exactly the records that were not
// confirmed, so exporterhelper's retry repeats nothing that Devo already has.
func TestConfirmedHandsBackOnlyTheUnconfirmedRest(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.MaxSegmentRecords, cfg.MinSegmentRecords = 1000, 1000
	e, tt := startExporter(t, cfg)
	e.segRetries = 0 // the first failure ends the push
	// Segments 1 and 2 confirmed; then a reset at the 500th event of segment 3.
	s.ResetEvery(2500)
	err := e.pushLogs(context.Background(), numbered(0, 3000))
	require.Error(t, err)
	var partial consumererror.Logs
	require.ErrorAs(t, err, &partial)
	rest := partial.Data()
	require.Equal(t, 1000, rest.LogRecordCount())
	lrs := rest.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	assert.True(t, strings.HasPrefix(lrs.At(0).Body().Str(), "id-0002000 "))
	assert.True(t, strings.HasPrefix(lrs.At(999).Body().Str(), "id-0002999 "))
	assert.Equal(t, int64(1), counter(t, tt, "devo_exporter_segment_failures"))
	assert.Equal(t, int64(2), counter(t, tt, "devo_exporter_confirmed_pushes"), "two segments confirmed")
	assert.Equal(t, int64(2000), counter(t, tt, "devo_exporter_events_sent"))

	s.ResetEvery(0)
	require.NoError(t, e.pushLogs(context.Background(), rest))
	seen := countIDs(s)
	assert.Len(t, seen, 3000)
	for id, n := range seen {
		if id < "id-0002000" {
			assert.Equal(t, 1, n, "%s was confirmed and must not be sent again", id)
		}
	}
}

// A Devo that cannot be reached at all is not hammered with immediate retries: the push ends
// at the first failed connection and exporterhelper's back-off paces the next attempt.
func TestConfirmedUnreachableEndsThePushAtOnce(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	e, tt := startExporter(t, cfg)
	s.RefuseFor(time.Hour)
	require.Error(t, e.pushLogs(context.Background(), numbered(0, 100)))
	assert.Equal(t, 1, s.Stats().Refused)
	assert.Zero(t, counter(t, tt, "devo_exporter_segment_failures"), "not the segment's fault: its size stays")
	assert.Equal(t, cfg.MaxSegmentRecords, e.seg.size())
}

// statusHost records the component status events the exporter reports.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []componentstatus.Status
	for _, ev := range h.events {
		out = append(out, ev.Status())
	}
	return out
}

func TestOutageIsWarnedOnceAndReportedAsStatus(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	core, logs := observer.New(zap.InfoLevel)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	set.Logger = zap.New(core)
	e, err := newExporter(set, cfg)
	require.NoError(t, err)
	host := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, e.start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })

	s.RefuseFor(time.Hour)
	for range 3 {
		require.Error(t, e.pushLogs(context.Background(), numbered(0, 10)))
	}
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses(), "one status change for the outage")
	assert.Equal(t, 1, logs.FilterMessageSnippet("Devo is not taking rows").Len(), "one warning, not one per retry")
	since := gauge(t, tt, "devo_exporter_time_since_last_delivery")
	assert.GreaterOrEqual(t, since, 0.02, "time since the last delivery keeps growing during the outage")

	s.RefuseFor(0)
	require.NoError(t, e.pushLogs(context.Background(), numbered(10, 10)))
	require.NoError(t, e.pushLogs(context.Background(), numbered(20, 10)))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
	back := logs.FilterMessageSnippet("Devo takes rows again").All()
	require.Len(t, back, 1)
	assert.Equal(t, zapcore.WarnLevel, back[0].Level)
	outage, ok := back[0].ContextMap()["outage"].(time.Duration)
	require.True(t, ok, "the outage's length is logged: %v", back[0].ContextMap())
	assert.GreaterOrEqual(t, outage, 20*time.Millisecond)
	assert.Less(t, gauge(t, tt, "devo_exporter_time_since_last_delivery"), since)
}

func TestRiskySettingsAreWarnedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		risky bool
	}{{"defaults", false}, {"risky", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, files := newSink(t, devotest.Options{})
			cfg := sinkConfig(t, s, files)
			if tc.risky {
				cfg.Delivery = DeliveryFast
				cfg.BackOff.MaxElapsedTime = time.Minute
				q := cfg.Queue.Get()
				q.WaitForResult, q.BlockOnOverflow = false, false
			}
			core, logs := observer.New(zap.WarnLevel)
			set := metadatatest.NewSettings(componenttest.NewTelemetry())
			set.Logger = zap.New(core)
			e, err := newExporter(set, cfg)
			require.NoError(t, err)
			require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
			warned := map[string]bool{}
			for _, l := range logs.FilterMessageSnippet("weakens the delivery guarantee").All() {
				warned[l.ContextMap()["key"].(string)] = true
			}
			if !tc.risky {
				assert.Empty(t, warned)
				return
			}
			assert.Equal(t, map[string]bool{
				"delivery": true, "retry_on_failure::max_elapsed_time": true,
				"sending_queue::wait_for_result": true, "sending_queue::block_on_overflow": true,
			}, warned)
		})
	}
}

// With the defaults ConsumeLogs returns only when Devo confirmed the rows, which is when the
// receiver moves its checkpoint; while Devo is down it blocks (backpressure) and never drops.
func TestDefaultsConsumeLogsWaitsForConfirmation(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.BackOff.InitialInterval, cfg.BackOff.MaxInterval = 50*time.Millisecond, 100*time.Millisecond
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	s.RefuseFor(time.Hour)
	returned := make(chan error, 1)
	go func() { returned <- exp.ConsumeLogs(context.Background(), numbered(0, 300)) }()
	select {
	case err := <-returned:
		t.Fatalf("ConsumeLogs returned (%v) while Devo refused every connection", err)
	case <-time.After(time.Second):
	}
	assert.Equal(t, int64(300), upDown(t, tt, "devo_exporter_records_in_flight"), "the waiting records are visible")
	s.RefuseFor(0)
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("ConsumeLogs did not return after Devo came back")
	}
	assert.Equal(t, 300, s.EventCount(), "returned only after every record was confirmed")
	assert.Zero(t, upDown(t, tt, "devo_exporter_records_in_flight"))

	// Shutdown with a push blocked: the caller's context ends the wait with an error, so a
	// receiver does not move its checkpoint.
	s.RefuseFor(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { returned <- exp.ConsumeLogs(ctx, numbered(300, 10)) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-returned:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled ConsumeLogs kept waiting")
	}
	require.NoError(t, exp.Shutdown(context.Background()))
}

func gauge(t *testing.T, tt *componenttest.Telemetry, name string) float64 {
	t.Helper()
	m, err := tt.GetMetric("otelcol_" + name)
	require.NoError(t, err)
	g, ok := m.Data.(metricdata.Gauge[float64])
	require.True(t, ok, "%s is not a float64 gauge", name)
	require.NotEmpty(t, g.DataPoints)
	return g.DataPoints[0].Value
}

func upDown(t *testing.T, tt *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tt.GetMetric("otelcol_" + name)
	require.NoError(t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}
