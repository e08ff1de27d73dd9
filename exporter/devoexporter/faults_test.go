package devoexporter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadatatest"
	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

const (
	faultRecords = 4000
	faultPerPush = 500
)

// faultScenario runs faultRecords records in pushes of faultPerPush through the real factory
// (queue with two consumers, retry, timeout) while inject breaks the sink, then waits until every
// record arrived or 25 s passed.
type faultScenario struct {
	name     string
	delivery string
	sinkIdle time.Duration                    // sink closes connections idle this long
	inject   func(s *devotest.Sink)           // before the first push
	between  func(s *devotest.Sink, push int) // before each push
	timeout  time.Duration                    // exporter `timeout`; 0 means 2 s
	wait     time.Duration                    // how long to wait for all records; 0 means 25 s
}

type faultResult struct {
	unique, received, duplicates, lost int
	pushFailures, reconnects           int64
	segmentFailures, unconfirmed       int64
}

func runFault(t *testing.T, sc faultScenario) faultResult {
	t.Helper()
	s, files := newSink(t, devotest.Options{})
	s.SetIdleTimeout(sc.sinkIdle)
	cfg := sinkConfig(t, s, files)
	cfg.Delivery = sc.delivery
	cfg.TimeoutConfig.Timeout = 2 * time.Second
	if sc.timeout > 0 {
		cfg.TimeoutConfig.Timeout = sc.timeout
	}
	cfg.BackOff = configretry.NewDefaultBackOffConfig()
	cfg.BackOff.InitialInterval, cfg.BackOff.MaxInterval = 20*time.Millisecond, 200*time.Millisecond
	cfg.BackOff.RandomizationFactor, cfg.BackOff.MaxElapsedTime = 0, 20*time.Second
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 2
	q.Batch = configoptional.None[exporterhelper.BatchConfig]() // one push per ConsumeLogs
	cfg.Queue = configoptional.Some(q)
	require.NoError(t, cfg.Validate())

	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	ctx := context.Background()
	exp, err := NewFactory().CreateLogs(ctx, metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))

	if sc.inject != nil {
		sc.inject(s)
	}
	pad := strings.Repeat("p", 150)
	for p := range faultRecords / faultPerPush {
		if sc.between != nil {
			sc.between(s, p)
		}
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := range faultPerPush {
			lrs.AppendEmpty().Body().SetStr(fmt.Sprintf("id-%06d %s", p*faultPerPush+i, pad))
		}
		require.NoError(t, exp.ConsumeLogs(ctx, ld))
	}

	seen := map[string]int{}
	wait := 25 * time.Second
	if sc.wait > 0 {
		wait = sc.wait
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		seen = map[string]int{}
		for _, ev := range s.Events() {
			seen[strings.Fields(ev.Message)[0]]++
		}
		if len(seen) == faultRecords {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, exp.Shutdown(ctx))

	r := faultResult{unique: len(seen), received: len(s.Events()), lost: faultRecords - len(seen)}
	r.duplicates = r.received - r.unique
	r.pushFailures = counter(t, tt, "devo_exporter_push_failures")
	r.reconnects = counter(t, tt, "devo_exporter_reconnects")
	r.segmentFailures = counter(t, tt, "devo_exporter_segment_failures")
	r.unconfirmed = counter(t, tt, "devo_exporter_events_unconfirmed")
	st := s.Stats()
	t.Logf("%s [%s]: sent %d, received %d, unique %d, duplicates %d, lost %d; push failures %d, reconnects %d; sink: conns %d, refused %d, resets %d, idle closes %d, clean closes %d",
		sc.name, sc.delivery, faultRecords, r.received, r.unique, r.duplicates, r.lost, r.pushFailures, r.reconnects,
		st.Connections, st.Refused, st.Resets, st.IdleCloses, st.CleanCloses)
	return r
}

// TestConfirmedDeliveryUnderFaults: whatever breaks, every record arrives at least once, and
// duplicates only come from pushes that failed.
func TestConfirmedDeliveryUnderFaults(t *testing.T) {
	scenarios := []faultScenario{
		{name: "RST in mid-batch", inject: func(s *devotest.Sink) { s.ResetAfter(700) }},
		{name: "connections refused for a while", inject: func(s *devotest.Sink) { s.RefuseFor(400 * time.Millisecond) }},
		// timeout and pause leave room for a loaded machine: a push must be able to succeed
		// within `timeout` once the sink reads again, or retries run out.
		{name: "server stops reading", timeout: 800 * time.Millisecond, inject: func(s *devotest.Sink) {
			s.PauseReading()
			time.AfterFunc(2*time.Second, s.ResumeReading)
		}},
		{name: "idle connections closed", sinkIdle: 100 * time.Millisecond, between: func(*devotest.Sink, int) { time.Sleep(200 * time.Millisecond) }},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			sc.delivery = DeliveryConfirmed
			r := runFault(t, sc)
			assert.Zero(t, r.lost, "at-least-once: no record may be missing")
			// Duplicates exist only if some segment failed, and are bounded by what the
			// connections that failed carried.
			assert.LessOrEqual(t, int64(r.duplicates), r.unconfirmed)
			if sc.name != "idle connections closed" {
				assert.Positive(t, r.segmentFailures+r.pushFailures, "the fault must actually have hit a push")
			}
		})
	}
}

// TestFastDeliveryUnderFaults measures what `fast` delivery gives up. An idle close is detected
// before the next write, so nothing is lost; a reset in mid-stream loses whatever sat in socket
// buffers, and when no later write hits the dead connection nobody ever learns of it.
func TestFastDeliveryUnderFaults(t *testing.T) {
	t.Run("idle connections closed", func(t *testing.T) {
		r := runFault(t, faultScenario{
			name: "idle connections closed", delivery: DeliveryFast, sinkIdle: 100 * time.Millisecond,
			between: func(*devotest.Sink, int) { time.Sleep(200 * time.Millisecond) },
		})
		assert.Zero(t, r.lost)
		assert.Zero(t, r.duplicates)
		assert.Positive(t, r.reconnects, "closed connections were replaced")
	})
	t.Run("RST in mid-batch", func(t *testing.T) {
		r := runFault(t, faultScenario{
			name: "RST in mid-batch", delivery: DeliveryFast, wait: 2 * time.Second,
			inject: func(s *devotest.Sink) { s.ResetAfter(700) },
		})
		assert.GreaterOrEqual(t, r.unique, 700, "everything the sink read before the reset is there")
		assert.LessOrEqual(t, int64(r.duplicates), r.pushFailures*faultPerPush, "fast only duplicates around failed pushes")
	})
}
