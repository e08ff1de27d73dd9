// Command run is `make bench`: it builds the benchmark binaries of issue 6 once, runs them
// -count times (interleaving the micro-benchmarks with their baselines, count by count, so
// drift on a shared machine hits both alike), and prints one table of medians: figure, value,
// baseline, ratio, target, pass/fail. Raw output goes to -out.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	count   = flag.Int("count", 5, "counts of every benchmark; the table shows medians")
	outDir  = flag.String("out", "", "directory for test binaries and raw output (default: a temporary one)")
	skip    = flag.String("skip", "", "comma-separated groups to skip: decode, framing, tls, quota, binary, tenants")
	goTool  = flag.String("go", "go", "go command")
	timeout = flag.Duration("timeout", 80*time.Minute, "overall limit")
)

// results holds every value by benchmark name and unit.
type results map[string]map[string][]float64

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func (r results) parse(out []byte) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if r[m[1]] == nil {
				r[m[1]] = map[string][]float64{}
			}
			r[m[1]][f[i+1]] = append(r[m[1]][f[i+1]], v)
		}
	}
}

// med is the median of a benchmark's unit, NaN when missing.
func (r results) med(name, unit string) float64 {
	v := slices.Clone(r[name][unit])
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

type runner struct {
	ctx  context.Context
	dir  string
	log  *os.File
	res  results
	skip map[string]bool
}

func (rn *runner) run(name string, args ...string) {
	fmt.Fprintf(os.Stderr, "bench: %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(rn.ctx, name, args...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, rn.log)
	cmd.Stderr = io.MultiWriter(os.Stderr, rn.log)
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s failed: %v\n", filepath.Base(name), err)
	}
	rn.res.parse(buf.Bytes())
}

func (rn *runner) build(out, pkg string, tags ...string) string {
	bin, err := filepath.Abs(filepath.Join(rn.dir, out))
	if err != nil {
		bin = filepath.Join(rn.dir, out)
	}
	args := []string{"test", "-c", "-o", bin}
	// A component is a Go module of its own: build its tests from its directory (go -C).
	if _, err := os.Stat(filepath.Join(pkg, "go.mod")); err == nil {
		args = append([]string{"-C", pkg}, args...)
		pkg = "."
	}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	rn.run(*goTool, append(args, pkg)...)
	return bin
}

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	dir := *outDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "msgtrace-bench-"); err != nil {
			fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal(err)
	}
	// The whole-binary groups run their test binary in bench/: a relative -out would not be found.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	log, err := os.Create(filepath.Join(dir, "raw.txt"))
	if err != nil {
		fatal(err)
	}
	defer log.Close()
	rn := &runner{ctx: ctx, dir: dir, log: log, res: results{}, skip: map[string]bool{}}
	for _, s := range strings.Split(*skip, ",") {
		rn.skip[strings.TrimSpace(s)] = true
	}
	started := time.Now()

	recv := rn.build("receiver.test", "./receiver/messagetracereceiver/")
	exp := rn.build("exporter.test", "./exporter/devoexporter/")
	whole := rn.build("binary.test", "./bench/", "bench")

	// Micro-benchmarks: one count per invocation, all groups per round.
	for range *count {
		if !rn.skip["decode"] {
			rn.run(recv, "-test.run=^$", "-test.bench=^BenchmarkDecodeConvert$", "-test.benchmem", "-test.benchtime=1s")
		}
		if !rn.skip["framing"] {
			rn.run(exp, "-test.run=^$", "-test.bench=^BenchmarkFraming$", "-test.benchmem", "-test.benchtime=1s")
		}
		if !rn.skip["tls"] {
			rn.run(exp, "-test.run=^$", "-test.bench=^BenchmarkExporter$", "-test.benchtime=100x")
		}
	}
	// Long scenarios: the counts run in one process, which prepares its data once.
	cnt := "-test.count=" + strconv.Itoa(*count)
	if !rn.skip["quota"] {
		rn.run(recv, "-test.run=^$", "-test.bench=^BenchmarkQuotaUse$", cnt, "-test.timeout=10m")
	}
	if !rn.skip["binary"] {
		bin, _ := filepath.Abs("bin/otelcol-msgtrace")
		if v := os.Getenv("OTELCOL_MSGTRACE_BIN"); v != "" {
			bin = v
		}
		// Each count of the binary group takes about 5 minutes: the defaults' outage and the
		// persistent queue's stall each wait 60 s.
		cmd := exec.CommandContext(ctx, whole, "-test.run=^$", "-test.bench=^BenchmarkBinary(Persistent)?$", cnt, "-test.timeout=50m")
		cmd.Dir = "bench" // the config and the default binary path are relative to bench/
		cmd.Env = append(os.Environ(), "OTELCOL_MSGTRACE_BIN="+bin)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, log), io.MultiWriter(os.Stderr, log)
		fmt.Fprintf(os.Stderr, "bench: %s %s\n", whole, strings.Join(cmd.Args[1:], " "))
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: binary.test failed: %v\n", err)
		}
		rn.res.parse(buf.Bytes())
	}
	if !rn.skip["tenants"] {
		runTenants(rn, whole)
	}

	// The first table only when one of its groups ran: skipped groups would show as rows of n/a.
	if !rn.skip["decode"] || !rn.skip["framing"] || !rn.skip["tls"] || !rn.skip["quota"] || !rn.skip["binary"] {
		fmt.Println(table(rn.res))
	}
	if !rn.skip["tenants"] {
		fmt.Println(tenantsTable(rn.res))
	}
	fmt.Printf("\n%d counts, medians; took %v; raw output in %s\n", *count, time.Since(started).Round(time.Second), log.Name())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// row is one line of the table.
type row struct {
	figure, value, baseline, ratio, target, verdict string
}

func num(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%.2fM %s", v/1e6, unit)
	case math.Abs(v) >= 1e4:
		return fmt.Sprintf("%.0fk %s", v/1e3, unit)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	default:
		return fmt.Sprintf("%.3g %s", v, unit)
	}
}

func verdict(ok bool, v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func table(r results) string {
	var rows []row
	ratioRow := func(figure, name, base, unit string, minRatio float64) {
		v, b := r.med(name, unit), r.med(base, unit)
		ratio := v / b
		rows = append(rows, row{
			figure, num(v, unit), num(b, unit), fmt.Sprintf("%.2fx", ratio),
			fmt.Sprintf(">= %.2fx", minRatio), verdict(ratio >= minRatio, ratio),
		})
	}
	info := func(figure, value, baseline string) {
		rows = append(rows, row{figure, value, baseline, "", "", ""})
	}

	// 1. Decode + convert.
	for _, c := range []struct{ name, label string }{
		{"graph", "Graph 5,000-row page"},
		{"legacy_verbose", "legacy 2,000-row page (verbose d.results)"},
		{"legacy_light", "legacy 2,000-row page (light value)"},
	} {
		dc, js := "BenchmarkDecodeConvert/"+c.name+"/decode_convert", "BenchmarkDecodeConvert/"+c.name+"/encoding_json"
		ratioRow("1 decode+convert, "+c.label+" [vs encoding/json decode only]", dc, js, "rows/s", 1.5)
		rowsPer := r.med(dc, "rows/page")
		info("1   per row: B, allocs (decode+convert / encoding/json)",
			fmt.Sprintf("%.0f B, %.1f allocs", r.med(dc, "B/op")/rowsPer, r.med(dc, "allocs/op")/rowsPer),
			fmt.Sprintf("%.0f B, %.1f allocs", r.med(js, "B/op")/rowsPer, r.med(js, "allocs/op")/rowsPer))
	}

	// 2. Framing.
	ratioRow("2 framing, ~600-byte map bodies [vs encoding/json marshal alone]", "BenchmarkFraming/framer", "BenchmarkFraming/encoding_json", "records/s", 1.0)
	info("2   allocs per record (framer / encoding/json)",
		fmt.Sprintf("%.0f", r.med("BenchmarkFraming/framer", "allocs/op")), fmt.Sprintf("%.0f", r.med("BenchmarkFraming/encoding_json", "allocs/op")))

	// 3. Exporter over TLS.
	for _, conns := range []string{"1", "4"} {
		base := "BenchmarkExporter/tls_client/conns=" + conns
		ratioRow("3 exporter fast, "+conns+" conn [vs plain TLS client]", "BenchmarkExporter/fast/conns="+conns, base, "events/s", 0.70)
		ratioRow("3 exporter confirmed, "+conns+" conn [vs plain TLS client]", "BenchmarkExporter/confirmed/conns="+conns, base, "events/s", 0.50)
	}

	// 4. Quota.
	dense, sparse := "BenchmarkQuotaUse/dense_2M_rows_10d", "BenchmarkQuotaUse/sparse_1_per_min_10d"
	pages := r.med(dense, "rows") / 5000
	const days, apiLimitDays = 10.0, 10.0
	forced := math.Ceil(days / apiLimitDays) // 10 days of data, the API's 10-day limit: one range is forced
	limit := 1.02 + forced/pages
	req := r.med(dense, "req/5000rows")
	rows = append(rows, row{
		"4 dense 2M rows/10 d: requests per 5,000 rows", fmt.Sprintf("%.4f (%.0f requests)", req, r.med(dense, "requests")),
		fmt.Sprintf("1.0000 (%.0f full pages)", pages), "", fmt.Sprintf("<= %.4f", limit), verdict(req <= limit, req),
	})
	info("4   ranges (planner: ~200 pages a range after the first)", fmt.Sprintf("%.0f", r.med(dense, "ranges")), fmt.Sprintf("%.0f forced by the 10-day limit", forced))
	vio := r.med(dense, "violations") + r.med(sparse, "violations")
	rows = append(rows, row{"4 quota violations (dense + sparse) / 429s", fmt.Sprintf("%.0f / %.0f", vio, r.med(dense, "throttled")+r.med(sparse, "throttled")), "", "", "0", verdict(vio == 0, vio)})
	wall, minB, minQ := r.med(dense, "wall-s"), r.med(dense, "min-budget-s"), r.med(dense, "min-quota-s")
	rows = append(rows, row{
		"4 dense catch-up wall time [vs rows/5,000 requests at budget 90/5 s]", num(wall, "s"), num(minB, "s"),
		fmt.Sprintf("%.3fx", wall/minB), "<= 1.15x", verdict(wall/minB <= 1.15, wall),
	})
	info("4   same, against the quota's own rate (100/5 s)", num(wall, "s"), num(minQ, "s")+fmt.Sprintf(" (%.3fx)", wall/minQ))
	sreq := r.med(sparse, "requests")
	rows = append(rows, row{"4 sparse 1 row/min, 10 d: requests to catch up", fmt.Sprintf("%.0f", sreq), "", "", "<= 10", verdict(sreq <= 10, sreq)})

	// 5. Whole binary.
	bf, idle := "BenchmarkBinary/backfill_1M_rows", "BenchmarkBinary/idle_no_backlog"
	rps := r.med(bf, "rows/s")
	rows = append(rows, row{"5 whole binary (delivery defaults, no GOMEMLIMIT), 1M-row backfill: rows/s (fake tenant to sink)", num(rps, "rows/s"), "", "", ">= 50k rows/s", verdict(rps >= 50000, rps)})
	// Issue 10: the defaults bound memory without GOMEMLIMIT (the issue 6 target was 200 MB
	// with GOMEMLIMIT=100MiB).
	peak := r.med(bf, "peak-rss-MB")
	rows = append(rows, row{"6 peak RSS during the 1M-row backfill (VmHWM), defaults, no GOMEMLIMIT", num(peak, "MB"), fmt.Sprintf("anon %.0f + file %.0f MB at the end", r.med(bf, "end-anon-MB"), r.med(bf, "end-file-MB")), "", "<= 150 MB", verdict(peak <= 150, peak)})
	og := "BenchmarkBinary/outage_1M_backlog"
	opeak, dpeak := r.med(og, "outage-peak-rss-MB"), r.med(og, "peak-rss-MB")
	rows = append(rows, row{fmt.Sprintf("6 peak RSS during a %.0f s Devo outage, 1M rows waiting at Microsoft", r.med(og, "outage-s")), num(opeak, "MB"), "", "", "<= 150 MB", verdict(opeak <= 150, opeak)})
	rows = append(rows, row{"6 peak RSS until that backlog is delivered after the outage", num(dpeak, "MB"), fmt.Sprintf("drain %.0f s, %.0f duplicates", r.med(og, "drain-s"), r.med(og, "duplicates")), "", "<= 150 MB", verdict(dpeak <= 150, dpeak)})
	irss := r.med(idle, "idle-rss-MB")
	rows = append(rows, row{"5 idle RSS, caught up, no backlog", num(irss, "MB"), fmt.Sprintf("anon %.1f + file %.1f MB", r.med(idle, "idle-anon-MB"), r.med(idle, "idle-file-MB")), "", "<= 80 MB", verdict(irss <= 80, irss)})
	arss, aanon := r.med(bf, "idle-rss-MB"), r.med(bf, "idle-anon-MB")
	rows = append(rows, row{"5 idle RSS 13 s after the 1M-row backfill", num(arss, "MB"), fmt.Sprintf("anon %.0f + file %.0f MB", aanon, r.med(bf, "idle-file-MB")), "", "<= 80 MB", verdict(arss <= 80, arss)})
	// The file-backed part is page cache (binary, bbolt mmap of the queue) that the kernel
	// reclaims; the proposed honest target bounds what the process itself holds.
	rows = append(rows, row{"5   anonymous memory 13 s after the backfill (proposed target)", num(aanon, "MB"), "", "", "<= 100 MB", verdict(aanon <= 100, aanon)})
	icpu := math.Max(r.med(idle, "idle-cpu-%"), r.med(bf, "idle-cpu-%"))
	rows = append(rows, row{"5 idle CPU over 10 s (worst of both idles)", fmt.Sprintf("%.2f %% of a core", icpu), "", "", "<= 1 %", verdict(icpu <= 1, icpu)})

	// Issue 20 item 5: the persistent-queue alternative (bench/persistent.yaml), same targets.
	pbf, pst := "BenchmarkBinaryPersistent/backfill_1M_rows", "BenchmarkBinaryPersistent/stalled_devo_1M_backlog"
	prps := r.med(pbf, "rows/s")
	info("6p persistent queue, 1M-row backfill: rows/s [defaults as baseline]", num(prps, "rows/s"), num(rps, "rows/s"))
	ppeak := r.med(pbf, "peak-rss-MB")
	rows = append(rows, row{
		"6p peak RSS during the 1M-row backfill, persistent queue", num(ppeak, "MB"),
		fmt.Sprintf("anon %.0f + file %.0f MB at the end; defaults %.0f MB", r.med(pbf, "end-anon-MB"), r.med(pbf, "end-file-MB"), peak), "", "<= 150 MB", verdict(ppeak <= 150, ppeak),
	})
	spk := r.med(pst, "stall-peak-rss-MB")
	rows = append(rows, row{fmt.Sprintf("6p peak RSS during a %.0f s stall (Devo never reads), persistent queue, 1M rows waiting", r.med(pst, "stall-s")), num(spk, "MB"), "", "", "<= 150 MB", verdict(spk <= 150, spk)})
	sd := r.med(pst, "shutdown-s")
	rows = append(rows, row{"6p SIGTERM to exit with Devo stalled, persistent queue", num(sd, "s"), "", "", "<= 5 s", verdict(sd <= 5, sd)})
	dpk := r.med(pst, "drain-peak-rss-MB")
	rows = append(rows, row{
		"6p peak RSS of the restarted collector until the backlog is delivered", num(dpk, "MB"),
		fmt.Sprintf("drain %.0f s, %.0f duplicates", r.med(pst, "drain-s"), r.med(pst, "duplicates")), "", "<= 150 MB", verdict(dpk <= 150, dpk),
	})

	var b strings.Builder
	b.WriteString("| figure | value (median) | baseline | ratio | target | result |\n|---|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.figure, x.value, x.baseline, x.ratio, x.target, x.verdict)
	}
	return b.String()
}
