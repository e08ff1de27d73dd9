//go:build bench

package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
	"github.com/msgtrace/otelcol-msgtrace/internal/tenantconfig"
)

// Catch-up scenario: Microsoft's quota shape (a rolling window, the receiver's budget at 90 % of
// it) scaled down in time so that a run takes a minute, not hours.
const (
	catchupQuota    = 10
	catchupBudget   = 9
	catchupWindow   = 10 * time.Second
	catchupPageSize = 20
	catchupMaxPages = 36 // the busiest tenant's backlog in pages; tenant i has 9 * (1 + i%4)
	drainMaxRows    = 1_000_000
	drainRowsCap    = 5_000 // one full page per tenant at most
)

// tenantCounts are BENCH_TENANTS (comma-separated), default 10,100,500,1000.
func tenantCounts(tb testing.TB) []int {
	v := os.Getenv("BENCH_TENANTS")
	if v == "" {
		v = "10,100,500,1000"
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			tb.Fatalf("BENCH_TENANTS: %q is not a tenant count", f)
		}
		out = append(out, n)
	}
	return out
}

// tenantsRun is what one collector with many tenants measured.
type tenantsRun struct {
	collector  *stack.Collector
	ms         *msgtracetest.MultiServer
	sink       *stack.Stack
	stateDir   string
	pprof      string
	started    time.Time
	totalRows  int
	tenantRows []int
}

func (r *tenantsRun) stop() {
	if r.collector != nil && !r.collector.Exited() {
		_ = r.collector.Stop(30 * time.Second)
	}
	r.ms.Close()
	r.sink.Close()
}

// startTenants starts n fake tenants behind one address, a Devo sink and the collector with one
// configuration file per tenant written by internal/tenantconfig (the documented way).
func startTenants(tb testing.TB, n int, tenant func(i int) msgtracetest.Options, rows func(i int) []msgtracetest.Row, common string, discard bool, extraEnv []string) *tenantsRun {
	tb.Helper()
	dir := tb.TempDir()
	sink, err := stack.Start(stack.Options{Dir: dir, Sink: devotest.Options{DiscardEvents: discard}})
	if err != nil {
		tb.Fatal(err)
	}
	var opts []msgtracetest.Options
	var list []tenantconfig.Tenant
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		o := tenant(i)
		o.TenantID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
		o.ClientID = fmt.Sprintf("10000000-0000-4000-8000-%012d", i+1)
		o.ClientSecret = fmt.Sprintf("secret-%d", i)
		opts = append(opts, o)
		name := fmt.Sprintf("t%04d", i)
		list = append(list, tenantconfig.Tenant{Name: name, TenantID: o.TenantID, ClientID: o.ClientID})
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(o.ClientSecret), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	ms, err := msgtracetest.NewMultiServer("", opts...)
	if err != nil {
		tb.Fatal(err)
	}
	run := &tenantsRun{ms: ms, sink: sink, stateDir: filepath.Join(dir, "state"), tenantRows: make([]int, n)}
	for i := range n {
		r := rows(i)
		ms.Tenant(i).AddRows(r...)
		run.tenantRows[i] = len(r)
		run.totalRows += len(r)
	}
	ca, err := ms.CAFile(dir)
	if err != nil {
		tb.Fatal(err)
	}
	paths, err := tenantconfig.Write(filepath.Join(dir, "conf.d"), list, tenantconfig.Options{
		Secret: "${file:" + secrets + "/{name}}", Exporters: []string{"devo"}, Storage: "file_storage", Shard: -1,
		// Only the endpoints differ from a real tenant's receiver: the stand-in's CA is trusted the
		// way Microsoft's is, through the system's roots (SSL_CERT_FILE below), not by a ca_file
		// that every receiver would load and hold a pool of (4-6 MB of heap at 1,000 tenants).
		Common: "login_endpoint: ${env:MSGTRACE_URL}\nendpoint: ${env:MSGTRACE_URL}\n" + common,
	})
	if err != nil {
		tb.Fatal(err)
	}
	run.pprof = freeAddr(tb)
	env := append(append(sink.Env(), "MSGTRACE_URL="+ms.URL(), "SSL_CERT_FILE="+ca, "STATE_DIR="+run.stateDir, "PPROF_ENDPOINT="+run.pprof), extraEnv...)
	run.started = time.Now()
	c, err := stack.StartCollectorMerged(binaryPath(tb), append([]string{"tenants-base.yaml"}, paths...), env, nil)
	if err != nil {
		tb.Fatal(err)
	}
	run.collector = c
	return run
}

func freeAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fds counts the collector's open file descriptors: all, sockets, and the files under the state
// directory (file_storage opens one bbolt file per receiver, plus the exporter's queue).
func (r *tenantsRun) fds() (total, sockets, state int) {
	dir := fmt.Sprintf("/proc/%d/fd", r.collector.PID())
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		total++
		switch {
		case strings.HasPrefix(link, "socket:"):
			sockets++
		case strings.HasPrefix(link, r.stateDir):
			state++
		}
	}
	return total, sockets, state
}

// goroutines reads the total of the pprof extension's goroutine profile.
func (r *tenantsRun) goroutines() int {
	resp, err := http.Get("http://" + r.pprof + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(io.LimitReader(resp.Body, 4096)).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	if err != nil {
		return -1
	}
	return n
}

func (r *tenantsRun) alive(tb testing.TB) {
	if r.collector.Exited() {
		out := r.collector.Output()
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		tb.Fatalf("collector exited: %v\n%s", r.collector.ExitErr(), out)
	}
}

// idleWindowTenants is one poll_interval: every tenant polls once inside it.
func idleWindowTenants() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BENCH_IDLE_WINDOW")); err == nil {
		return d
	}
	return 60 * time.Second
}

// BenchmarkTenants is issue 15's figures: n tenants in one collector, each with its own receiver
// (defaults but the endpoint), idle, and all draining a backlog at once.
func BenchmarkTenants(b *testing.B) {
	binaryPath(b)
	for _, n := range tenantCounts(b) {
		b.Run(fmt.Sprintf("idle/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchIdle(b, n)
			}
		})
		b.Run(fmt.Sprintf("drain/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchDrain(b, n)
			}
		})
		b.Run(fmt.Sprintf("catchup/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchCatchup(b, n)
			}
		})
	}
}

// benchIdle: tenants without rows, caught up after their first poll; CPU over one poll interval.
func benchIdle(b *testing.B, n int) {
	var env []string // nothing set but the tenants: no GOMEMLIMIT either
	gcTrace := os.Getenv("BENCH_GCTRACE")
	if gcTrace != "" {
		env = []string{"GODEBUG=" + strings.Trim("gctrace=1,"+os.Getenv("BENCH_GODEBUG"), ",")} // diagnostics only
	}
	run := startTenants(b, n, func(int) msgtracetest.Options { return msgtracetest.Options{} },
		func(int) []msgtracetest.Row { return nil }, "", true, env)
	defer run.stop()
	if gcTrace != "" {
		defer run.saveGCTrace(gcTrace)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		run.alive(b)
		done := 0
		for i := range n {
			if run.ms.Tenant(i).APIRequestCount() > 0 {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tenants polled within 10 minutes", done, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	startup := time.Since(run.started)
	time.Sleep(idleSettle)
	pid := run.collector.PID()
	t0, err := cpuTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	if p := os.Getenv("BENCH_HEAP_PROFILE"); p != "" { // diagnostics: this forced collection lowers the RSS figure
		run.saveURL("/debug/pprof/heap?gc=1", p+".base")
	}
	window := idleWindowTenants()
	time.Sleep(window)
	t1, err := cpuTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	run.alive(b)
	rss, _ := procStatus(pid, "VmRSS")
	anon, _ := procStatus(pid, "RssAnon")
	if p := os.Getenv("BENCH_HEAP_PROFILE"); p != "" { // text form: it ends with the runtime's MemStats
		run.saveURL("/debug/pprof/heap?debug=1", p)
		run.saveURL("/debug/pprof/heap?gc=1", p+".end")
	}
	if p := os.Getenv("BENCH_SMAPS"); p != "" { // what each mapping holds resident
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid)); err == nil {
			_ = os.WriteFile(p, b, 0o644)
		}
	}
	total, sockets, state := run.fds()
	b.ReportMetric(float64(rss)/(1<<20), "idle-rss-MB")
	b.ReportMetric(float64(anon)/(1<<20), "idle-anon-MB")
	b.ReportMetric(float64(t1-t0)/clockTicks/window.Seconds()*100, "idle-cpu-%")
	b.ReportMetric(float64(total), "fds")
	b.ReportMetric(float64(sockets), "sockets")
	b.ReportMetric(float64(state), "state-files")
	b.ReportMetric(float64(run.goroutines()), "goroutines")
	b.ReportMetric(startup.Seconds(), "first-poll-s")
	b.ReportMetric(0, "ns/op")
}

// benchDrain: every tenant holds a backlog of up to one full page, all at once, with the
// receivers' defaults: the page-memory bound is what keeps the peak down.
func benchDrain(b *testing.B, n int) {
	per := min(drainRowsCap, drainMaxRows/n)
	now := time.Now()
	run := startTenants(b, n, func(int) msgtracetest.Options { return msgtracetest.Options{} },
		func(i int) []msgtracetest.Row {
			return msgtracetest.Generate(int64(1000+i), per, now.Add(-9*24*time.Hour), now.Add(-26*time.Hour),
				msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})
		}, "", true, collectorEnv())
	defer run.stop()
	deadline := time.Now().Add(10 * time.Minute)
	var maxRSS, anonAtMax int64
	var maxAt time.Duration
	for run.sink.Sink.Stats().Events < run.totalRows {
		run.alive(b)
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d rows at the sink within 10 minutes", run.sink.Sink.Stats().Events, run.totalRows)
		}
		if rss, _ := procStatus(run.collector.PID(), "VmRSS"); rss > maxRSS {
			maxRSS, maxAt = rss, time.Since(run.started)
			anonAtMax, _ = procStatus(run.collector.PID(), "RssAnon")
			// BENCH_HEAP_PROFILE keeps the heap profile taken at the highest RSS seen.
			if p := os.Getenv("BENCH_HEAP_PROFILE"); p != "" {
				run.saveProfile(p)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(run.started)
	peak, _ := procStatus(run.collector.PID(), "VmHWM")
	b.ReportMetric(float64(anonAtMax)/(1<<20), "anon-at-max-MB")
	b.ReportMetric(maxAt.Seconds(), "max-rss-at-s")
	// Where the file-backed part comes from: bbolt maps its files, so the exporter's queue file
	// (which holds what the receivers delivered and the sink has not confirmed) shows in RSS.
	var largest, all int64
	_ = filepath.Walk(run.stateDir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			all += fi.Size()
			largest = max(largest, fi.Size())
		}
		return nil
	})
	b.ReportMetric(float64(largest)/(1<<20), "largest-state-file-MB")
	b.ReportMetric(float64(all)/(1<<20), "state-MB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MB")
	b.ReportMetric(float64(run.totalRows)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(run.totalRows), "rows")
	b.ReportMetric(elapsed.Seconds(), "drain-s")
	b.ReportMetric(float64(run.ms.QuotaViolations()), "violations")
	b.ReportMetric(float64(run.sink.Sink.Stats().Events-run.totalRows), "duplicates")
	b.ReportMetric(0, "ns/op")
}

// benchCatchup: tenant i holds 9 * (1 + i%4) pages of 20 rows under a scaled quota (10 requests
// per 10 s, budget 9): each tenant's catch-up (its last page with rows) is compared with its own
// budget-bound minimum, floor((requests - 1) / budget) windows for the requests it needed, and the
// time until every tenant is caught up with the busiest tenant's minimum, all counted from the
// collector's first API request.
func benchCatchup(b *testing.B, n int) {
	now := time.Now()
	common := fmt.Sprintf("page_size: %d\nrequest_budget:\n  requests: %d\n  interval: %s\n", catchupPageSize, catchupBudget, catchupWindow)
	run := startTenants(b, n,
		func(int) msgtracetest.Options {
			return msgtracetest.Options{QuotaRequests: catchupQuota, QuotaWindow: catchupWindow}
		},
		func(i int) []msgtracetest.Row {
			pages := catchupMaxPages / 4 * (1 + i%4)
			return msgtracetest.Generate(int64(5000+i), pages*catchupPageSize, now.Add(-9*24*time.Hour), now.Add(-26*time.Hour),
				msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})
		}, common, true, collectorEnv())
	defer run.stop()
	if p := os.Getenv("BENCH_CPU_PROFILE"); p != "" { // 20 s of the collector's CPU, from BENCH_CPU_PROFILE_AT (10 s) in
		at, err := time.ParseDuration(os.Getenv("BENCH_CPU_PROFILE_AT"))
		if err != nil {
			at = 10 * time.Second
		}
		go func() {
			time.Sleep(at)
			for !run.saveURL("/debug/pprof/profile?seconds=20", p) && time.Since(run.started) < time.Minute {
				time.Sleep(20 * time.Millisecond) // the pprof extension is not up yet
			}
		}()
	}
	if p := os.Getenv("BENCH_GOROUTINE_DUMPS"); p != "" { // every 3 s: where the receivers wait
		go func() {
			for i := 0; i < 10; i++ {
				time.Sleep(3 * time.Second)
				run.saveURL("/debug/pprof/goroutine?debug=1", fmt.Sprintf("%s.%02d", p, i))
			}
		}()
	}
	deadline := time.Now().Add(15 * time.Minute)
	for run.sink.Sink.Stats().Events < run.totalRows {
		run.alive(b)
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d rows at the sink within 15 minutes", run.sink.Sink.Stats().Events, run.totalRows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	done := time.Now()
	peak, _ := procStatus(run.collector.PID(), "VmHWM")
	if p := os.Getenv("BENCH_TENANT_DUMP"); p != "" { // every tenant's requests, and the collector's log
		run.dumpRequests(p)
	}
	// One start for every tenant and for its minimum: the collector's first API request. Before
	// it, the collector reads its configuration (seconds at 500 tenants, one file each) and
	// starts; that is reported on its own (startup-s) and, for reference, in the ratios from the
	// process start (from-exec). It is the same for every tenant and paid once per process start:
	// in this scenario, scaled 30 times down in time, it would otherwise weigh 30 times more
	// against a tenant's minimum than against Microsoft's 5-minute windows. A tenant that starts
	// polling later than the others still loses that time (start-spread-s).
	var origin, lastFirst time.Time
	firsts := make([]time.Time, n)
	for i := range n {
		for _, r := range run.ms.Tenant(i).Requests() {
			if firsts[i].IsZero() || r.Time.Before(firsts[i]) {
				firsts[i] = r.Time
			}
		}
		if origin.IsZero() || firsts[i].Before(origin) {
			origin = firsts[i]
		}
		if firsts[i].After(lastFirst) {
			lastFirst = firsts[i]
		}
	}
	startup := origin.Sub(run.started).Seconds()
	all := done.Sub(origin)
	var worst, worstExec, sumRatio, busiestMin float64
	busiest := -1
	for i := range n {
		var last time.Time
		for _, r := range run.ms.Tenant(i).Requests() {
			if r.Kind == msgtracetest.KindGraph && r.Rows > 0 {
				last = r.Time
			}
		}
		took := last.Sub(origin).Seconds()
		// Requests up to the last page with rows: in a rolling window the first budget's worth go
		// at once and each further budget's worth one window later.
		needed := 0
		for _, r := range run.ms.Tenant(i).Requests() {
			if r.Kind == msgtracetest.KindGraph && !r.Time.After(last) {
				needed++
			}
		}
		minimum := float64((needed-1)/catchupBudget) * catchupWindow.Seconds()
		if busiest < 0 || run.tenantRows[i] > run.tenantRows[busiest] {
			busiest, busiestMin = i, minimum
		}
		// A tenant that needs no more than one budget's worth has a minimum of 0 and no ratio;
		// here every tenant needs at least 10 requests (9 pages and the early pass's empty range).
		if minimum > 0 {
			ratio := took / minimum
			worst = max(worst, ratio)
			worstExec = max(worstExec, (took+startup)/minimum)
			sumRatio += ratio
		}
	}
	b.ReportMetric(startup, "startup-s")
	b.ReportMetric(lastFirst.Sub(origin).Seconds(), "start-spread-s")
	b.ReportMetric(all.Seconds(), "all-caught-up-s")
	b.ReportMetric(busiestMin, "busiest-min-s")
	b.ReportMetric(all.Seconds()/busiestMin, "all-vs-busiest-x")
	b.ReportMetric((all.Seconds()+startup)/busiestMin, "all-from-exec-x")
	b.ReportMetric(worst, "worst-tenant-x")
	b.ReportMetric(worstExec, "worst-from-exec-x")
	b.ReportMetric(sumRatio/float64(n), "mean-tenant-x")
	b.ReportMetric(float64(run.ms.QuotaViolations()), "violations")
	b.ReportMetric(float64(run.totalRows)/all.Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MB")
	b.ReportMetric(0, "ns/op")
}

// dumpRequests writes every tenant's requests (kind, seconds since the process start, status,
// rows) to path, and the collector's log to path.log.
func (r *tenantsRun) dumpRequests(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	defer w.Flush()
	for i := range r.tenantRows {
		fmt.Fprintf(w, "tenant %d rows %d\n", i, r.tenantRows[i])
		for _, q := range r.ms.Tenant(i).Requests() {
			fmt.Fprintf(w, "  %s %.3f %d %d\n", q.Kind, q.Time.Sub(r.started).Seconds(), q.Status, q.Rows)
		}
	}
	_ = os.WriteFile(path+".log", []byte("started "+r.started.UTC().Format(time.RFC3339Nano)+"\n"+r.collector.Output()), 0o644)
}

// saveGCTrace writes the runtime's gctrace lines (one per GC cycle, "@s" since the process
// started) from the collector's output.
func (r *tenantsRun) saveGCTrace(path string) {
	var out strings.Builder
	for _, line := range strings.Split(r.collector.Output(), "\n") {
		if strings.HasPrefix(line, "gc ") {
			out.WriteString(line + "\n")
		}
	}
	_ = os.WriteFile(path, []byte(out.String()), 0o644)
}

func (r *tenantsRun) saveProfile(path string) { r.saveURL("/debug/pprof/heap", path) }

func (r *tenantsRun) saveURL(url, path string) bool {
	resp, err := http.Get("http://" + r.pprof + url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	return os.WriteFile(path, b, 0o644) == nil
}
