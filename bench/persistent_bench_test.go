//go:build bench

package bench

import (
	"bytes"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// persistentConfig is the persistent-queue variant: BENCH_PERSISTENT_CONFIG, else
// persistent.yaml (bench/config.yaml plus `sending_queue::storage`).
func persistentConfig() string {
	if c := os.Getenv("BENCH_PERSISTENT_CONFIG"); c != "" {
		return c
	}
	return "persistent.yaml"
}

// stallRun is one run of the stalled-Devo scenario.
type stallRun struct {
	stallPeakRSS int64         // VmHWM of the first collector when the stall ended
	shutdown     time.Duration // SIGTERM to exit, with Devo still stalled
	drainPeakRSS int64         // VmHWM of the restarted collector until every row arrived
	drain        time.Duration // restart to the last row
	duplicates   int
	frameErrors  int
}

// stalledDevo runs the persistent-queue variant against a Devo that accepts connections but
// never reads from them (issue 20 item 5: 235 MB and a 30 s SIGTERM before): the receiver fills
// the queue while the pushes hang. After stall the collector gets SIGTERM with Devo still
// stalled; then Devo reads again, a second collector starts on the same state directory and
// the run ends when every row arrived.
func stalledDevo(tb testing.TB, bin string, rows []msgtracetest.Row, stall time.Duration, extraEnv ...string) stallRun {
	tb.Helper()
	st, err := stack.Start(stack.Options{
		Dir:    tb.TempDir(),
		Tenant: msgtracetest.Options{QuotaRequests: -1},
		Sink:   devotest.Options{DiscardEvents: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	st.Tenant.AddRows(rows...)
	st.Sink.PauseReading()

	start := func() (*exec.Cmd, chan error, *bytes.Buffer) {
		var out bytes.Buffer
		cmd := exec.Command(bin, "--config", persistentConfig())
		cmd.Env = append(append(os.Environ(), st.Env()...), extraEnv...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited, &out
	}
	stop := func(cmd *exec.Cmd, exited chan error) time.Duration {
		began := time.Now()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return time.Since(began)
	}

	var run stallRun
	cmd, exited, out := start()
	select {
	case err := <-exited:
		tb.Fatalf("collector exited during the stall: %v\n%s", err, out.String())
	case <-time.After(stall):
	}
	if run.stallPeakRSS, err = procStatus(cmd.Process.Pid, "VmHWM"); err != nil {
		tb.Fatal(err)
	}
	run.shutdown = stop(cmd, exited)

	st.Sink.ResumeReading()
	began := time.Now()
	cmd, exited, out = start()
	defer func() { stop(cmd, exited) }()
	deadline := began.Add(backfillTimeout)
	for st.Sink.Stats().Events < len(rows) {
		select {
		case err := <-exited:
			tb.Fatalf("restarted collector exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d rows at the sink %v after the restart\n%s", st.Sink.Stats().Events, len(rows), backfillTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	run.drain = time.Since(began)
	if run.drainPeakRSS, err = procStatus(cmd.Process.Pid, "VmHWM"); err != nil {
		tb.Fatal(err)
	}
	s := st.Sink.Stats()
	// Frames cut by the shutdown's cancelled pushes end their connections unconfirmed: the
	// sink counts them as frame errors, and their rows are sent again (duplicates).
	run.duplicates, run.frameErrors = s.Events-len(rows), s.FrameErrors
	return run
}

// BenchmarkBinaryPersistent is issue 20 item 5: figure 6 for the persistent-queue alternative
// (`sending_queue::storage: file_storage`, bench/persistent.yaml), beside BenchmarkBinary's
// defaults and with the same targets: peak RSS during the 1,000,000-row backfill and while Devo
// stalls with that backlog waiting, and the SIGTERM time with Devo stalled.
func BenchmarkBinaryPersistent(b *testing.B) {
	bin := binaryPath(b)
	backfillRows.once.Do(func() {
		now := time.Now()
		backfillRows.rows = msgtracetest.Generate(11, backfillMessages, now.Add(-239*time.Hour), now.Add(-70*time.Minute),
			msgtracetest.GenerateOptions{MinRecipients: 2, MaxRecipients: 2})
	})
	rows := backfillRows.rows
	b.Run("backfill_1M_rows", func(b *testing.B) {
		var run binaryRun
		for b.Loop() {
			run = backfillWith(b, bin, persistentConfig(), rows, 0, collectorEnv()...)
		}
		b.ReportMetric(float64(run.rows)/run.elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(run.peakRSS)/(1<<20), "peak-rss-MB")
		b.ReportMetric(float64(run.endAnon)/(1<<20), "end-anon-MB")
		b.ReportMetric(float64(run.endFile)/(1<<20), "end-file-MB")
		b.ReportMetric(float64(run.idleRSS)/(1<<20), "idle-rss-MB")
		b.ReportMetric(float64(run.duplicates), "duplicates")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("stalled_devo_1M_backlog", func(b *testing.B) {
		var run stallRun
		stall := outageLength(b)
		for b.Loop() {
			run = stalledDevo(b, bin, rows, stall, collectorEnv()...)
		}
		b.ReportMetric(stall.Seconds(), "stall-s")
		b.ReportMetric(float64(run.stallPeakRSS)/(1<<20), "stall-peak-rss-MB")
		b.ReportMetric(run.shutdown.Seconds(), "shutdown-s")
		b.ReportMetric(float64(run.drainPeakRSS)/(1<<20), "drain-peak-rss-MB")
		b.ReportMetric(run.drain.Seconds(), "drain-s")
		b.ReportMetric(float64(run.duplicates), "duplicates")
		b.ReportMetric(float64(run.frameErrors), "cut-frames")
		b.ReportMetric(0, "ns/op")
	})
}
