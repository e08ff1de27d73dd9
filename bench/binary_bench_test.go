//go:build bench

package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

const (
	backfillMessages = 500_000 // of exactly 2 recipients: 1,000,000 rows
	backfillTimeout  = 4 * time.Minute
	idleSettle       = 3 * time.Second
	idleWindow       = 10 * time.Second
	clockTicks       = 100 // USER_HZ on Linux
)

// binaryPath is the distribution under test: OTELCOL_MSGTRACE_BIN, else bin/otelcol-msgtrace.
func binaryPath(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("OTELCOL_MSGTRACE_BIN")
	if bin == "" {
		bin = filepath.Join("..", "bin", "otelcol-msgtrace")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		tb.Skipf("no distribution binary at %s: run make build first", abs)
	}
	return abs
}

// procStatus reads a kB field (VmHWM, VmRSS) of /proc/<pid>/status in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// cpuTicks is utime + stime of /proc/<pid>/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return ut + st, nil
}

// backfillRows are generated once per process and shared by the counts.
var backfillRows struct {
	once sync.Once
	rows []msgtracetest.Row
}

type binaryRun struct {
	rows                    int
	outagePeakRSS           int64         // VmHWM when the Devo outage ended (0 without an outage)
	elapsed                 time.Duration // collector start to the last row at the sink
	peakRSS, idleRSS        int64
	endAnon, endFile        int64 // RssAnon and RssFile when the last row arrived
	idleAnon, idleFile      int64
	idleCPU                 float64 // fraction of one core
	duplicates, frameErrors int
}

// backfill runs bin/otelcol-msgtrace against a fresh fake tenant (no quota) holding rows and a
// fresh Devo sink, from an empty file_storage directory. With outage > 0 the sink refuses every
// connection for that long from the start, so the whole backlog waits at Microsoft.
func backfill(tb testing.TB, bin string, rows []msgtracetest.Row, outage time.Duration, extraEnv ...string) binaryRun {
	tb.Helper()
	config := "config.yaml"
	if c := os.Getenv("BENCH_CONFIG"); c != "" { // experiments, e.g. with the pprof extension
		config = c
	}
	return backfillWith(tb, bin, config, rows, outage, extraEnv...)
}

func backfillWith(tb testing.TB, bin, config string, rows []msgtracetest.Row, outage time.Duration, extraEnv ...string) binaryRun {
	tb.Helper()
	dir := tb.TempDir()
	st, err := stack.Start(stack.Options{
		Dir:    dir,
		Tenant: msgtracetest.Options{QuotaRequests: -1},
		Sink:   devotest.Options{DiscardEvents: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	st.Tenant.AddRows(rows...)

	var out bytes.Buffer
	cmd := exec.Command(bin, "--config", config)
	cmd.Env = append(append(os.Environ(), st.Env()...), extraEnv...)
	cmd.Stdout, cmd.Stderr = &out, &out
	started := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	run := binaryRun{rows: len(rows)}
	if outage > 0 {
		st.Sink.RefuseFor(outage - time.Since(started))
		select {
		case err := <-exited:
			tb.Fatalf("collector exited during the outage: %v\n%s", err, out.String())
		case <-time.After(time.Until(started.Add(outage))):
		}
		if n := st.Sink.Stats().Events; n != 0 {
			tb.Fatalf("%d events arrived during the outage", n)
		}
		if run.outagePeakRSS, err = procStatus(pid, "VmHWM"); err != nil {
			tb.Fatal(err)
		}
	}
	deadline := time.Now().Add(backfillTimeout)
	for st.Sink.Stats().Events < len(rows) {
		select {
		case err := <-exited:
			tb.Fatalf("collector exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d rows at the sink after %v\n%s", st.Sink.Stats().Events, len(rows), backfillTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	run.elapsed = time.Since(started)
	if run.peakRSS, err = procStatus(pid, "VmHWM"); err != nil {
		tb.Fatal(err)
	}
	run.endAnon, _ = procStatus(pid, "RssAnon")
	run.endFile, _ = procStatus(pid, "RssFile")

	// Idle: the backlog is delivered and the next poll is poll_interval (60 s) away.
	time.Sleep(idleSettle)
	t0, err := cpuTicks(pid)
	if err != nil {
		tb.Fatal(err)
	}
	time.Sleep(idleWindow)
	t1, err := cpuTicks(pid)
	if err != nil {
		tb.Fatal(err)
	}
	run.idleCPU = float64(t1-t0) / clockTicks / idleWindow.Seconds()
	if run.idleRSS, err = procStatus(pid, "VmRSS"); err != nil {
		tb.Fatal(err)
	}
	run.idleAnon, _ = procStatus(pid, "RssAnon")
	run.idleFile, _ = procStatus(pid, "RssFile")
	s := st.Sink.Stats()
	run.duplicates, run.frameErrors = s.Events-len(rows), s.FrameErrors
	return run
}

// BenchmarkBinary is issue 6 figure 5 and issue 10 figure 6: rows per second from the fake
// tenant to the Devo sink through the built distribution (file_storage checkpoint, the
// exporter's default delivery settings, no quota), its peak RSS during a 1,000,000-row
// backfill and during a Devo outage with that backlog waiting, and its idle RSS and CPU.
// The stand-ins run in this process and share the machine's cores with the collector.
// collectorEnv is the collector's extra environment: BENCH_COLLECTOR_ENV, or nothing: the
// defaults bound memory by themselves, no GOMEMLIMIT needed (issue 10).
func collectorEnv() []string {
	if v, ok := os.LookupEnv("BENCH_COLLECTOR_ENV"); ok {
		return strings.Fields(v)
	}
	return nil
}

// outageLength is how long Devo refuses connections in the outage scenario: BENCH_OUTAGE, or
// 60 s so that `make bench` stays short (memory is flat during an outage: the receiver waits
// for the page it handed over; BENCHMARKS.md records a 10-minute run).
func outageLength(tb testing.TB) time.Duration {
	if v := os.Getenv("BENCH_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			tb.Fatalf("BENCH_OUTAGE: %v", err)
		}
		return d
	}
	return time.Minute
}

func BenchmarkBinary(b *testing.B) {
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
			run = backfill(b, bin, rows, 0, collectorEnv()...)
		}
		b.ReportMetric(float64(run.rows)/run.elapsed.Seconds(), "rows/s")
		b.ReportMetric(run.elapsed.Seconds(), "backfill-s")
		b.ReportMetric(float64(run.peakRSS)/(1<<20), "peak-rss-MB")
		b.ReportMetric(float64(run.idleRSS)/(1<<20), "idle-rss-MB")
		b.ReportMetric(run.idleCPU*100, "idle-cpu-%")
		b.ReportMetric(float64(run.endAnon)/(1<<20), "end-anon-MB")
		b.ReportMetric(float64(run.endFile)/(1<<20), "end-file-MB")
		b.ReportMetric(float64(run.idleAnon)/(1<<20), "idle-anon-MB")
		b.ReportMetric(float64(run.idleFile)/(1<<20), "idle-file-MB")
		b.ReportMetric(float64(run.duplicates), "duplicates")
		b.ReportMetric(0, "ns/op")
	})
	// Devo down while 1,000,000 rows wait at Microsoft, then back: the peak RSS during the
	// outage and during the drain that follows.
	b.Run("outage_1M_backlog", func(b *testing.B) {
		var run binaryRun
		outage := outageLength(b)
		for b.Loop() {
			run = backfill(b, bin, rows, outage, collectorEnv()...)
		}
		b.ReportMetric(outage.Seconds(), "outage-s")
		b.ReportMetric(float64(run.outagePeakRSS)/(1<<20), "outage-peak-rss-MB")
		b.ReportMetric(float64(run.peakRSS)/(1<<20), "peak-rss-MB")
		b.ReportMetric((run.elapsed - outage).Seconds(), "drain-s")
		b.ReportMetric(float64(run.duplicates), "duplicates")
		b.ReportMetric(0, "ns/op")
	})
	// Idle without a backlog: a caught-up collector between polls.
	b.Run("idle_no_backlog", func(b *testing.B) {
		var run binaryRun
		for b.Loop() {
			run = backfill(b, bin, nil, 0, collectorEnv()...)
		}
		b.ReportMetric(float64(run.idleRSS)/(1<<20), "idle-rss-MB")
		b.ReportMetric(run.idleCPU*100, "idle-cpu-%")
		b.ReportMetric(float64(run.idleAnon)/(1<<20), "idle-anon-MB")
		b.ReportMetric(float64(run.idleFile)/(1<<20), "idle-file-MB")
		b.ReportMetric(0, "ns/op")
	})
}
