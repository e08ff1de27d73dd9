package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// tenantCountsForTable are the counts BenchmarkTenants ran (BENCH_TENANTS, default as there).
func tenantCountsForTable() []int {
	v := os.Getenv("BENCH_TENANTS")
	if v == "" {
		v = "10,100,500,1000"
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// runTenants runs issue 15's BenchmarkTenants through the built binary, once: at 500 and 1,000
// tenants one count takes minutes.
func runTenants(rn *runner, whole string) {
	bin, _ := filepath.Abs("bin/otelcol-msgtrace")
	if v := os.Getenv("OTELCOL_MSGTRACE_BIN"); v != "" {
		bin = v
	}
	cmd := exec.CommandContext(rn.ctx, whole, "-test.run=^$", "-test.bench=^BenchmarkTenants$", "-test.benchtime=1x", "-test.count=1", "-test.timeout=40m")
	cmd.Dir = "bench"
	cmd.Env = append(os.Environ(), "OTELCOL_MSGTRACE_BIN="+bin)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, rn.log), io.MultiWriter(os.Stderr, rn.log)
	fmt.Fprintf(os.Stderr, "bench: %s %s\n", whole, strings.Join(cmd.Args[1:], " "))
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: tenants failed: %v\n", err)
	}
	rn.res.parse(buf.Bytes())
}

// tenantsTable is the table of issue 15's figures; targets hold at the counts the issue names.
func tenantsTable(r results) string {
	var b strings.Builder
	b.WriteString("| tenants figure | value | detail | target | result |\n|---|---|---|---|---|\n")
	add := func(figure, value, detail, target, result string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", figure, value, detail, target, result)
	}
	for _, n := range tenantCountsForTable() {
		idle, drain, catchup := fmt.Sprintf("BenchmarkTenants/idle/n=%d", n), fmt.Sprintf("BenchmarkTenants/drain/n=%d", n), fmt.Sprintf("BenchmarkTenants/catchup/n=%d", n)
		if _, ok := r[idle]; !ok {
			continue
		}
		rss, cpu := r.med(idle, "idle-rss-MB"), r.med(idle, "idle-cpu-%")
		rssTarget, cpuTarget, rssVerdict, cpuVerdict := "", "", "", ""
		if n == 1000 {
			rssTarget, cpuTarget = "<= 250 MB", "<= 1 %"
			rssVerdict, cpuVerdict = verdict(rss <= 250, rss), verdict(cpu <= 1, cpu)
		}
		add(fmt.Sprintf("%d idle: RSS", n), num(rss, "MB"), fmt.Sprintf("anon %.0f MB", r.med(idle, "idle-anon-MB")), rssTarget, rssVerdict)
		add(fmt.Sprintf("%d idle: CPU over one poll interval", n), fmt.Sprintf("%.2f %% of a core", cpu), "", cpuTarget, cpuVerdict)
		add(fmt.Sprintf("%d idle: open files / sockets / state files / goroutines", n),
			fmt.Sprintf("%.0f / %.0f / %.0f / %.0f", r.med(idle, "fds"), r.med(idle, "sockets"), r.med(idle, "state-files"), r.med(idle, "goroutines")),
			fmt.Sprintf("first poll of all tenants after %.1f s", r.med(idle, "first-poll-s")), "", "")
		peak := r.med(drain, "peak-rss-MB")
		peakTarget, peakVerdict := "", ""
		if n == 500 {
			peakTarget, peakVerdict = "<= 400 MB", verdict(peak <= 400, peak)
		}
		add(fmt.Sprintf("%d draining at once: peak RSS (VmHWM)", n), num(peak, "MB"),
			fmt.Sprintf("anon %.0f MB at the highest RSS, %.1f s in; %.0f rows in %.1f s", r.med(drain, "anon-at-max-MB"), r.med(drain, "max-rss-at-s"), r.med(drain, "rows"), r.med(drain, "drain-s")), peakTarget, peakVerdict)
		add(fmt.Sprintf("%d draining at once: rows/s in total", n), num(r.med(drain, "rows/s"), "rows/s"), "", "", "")
		vio := r.med(drain, "violations") + r.med(catchup, "violations")
		add(fmt.Sprintf("%d quota violations (drain + catch-up)", n), fmt.Sprintf("%.0f", vio), "", "0", verdict(vio == 0, vio))
		// Catch-up times and minimums count from the collector's first API request; start-up
		// before it is a row of its own, and the ratios from the process start are in the detail.
		add(fmt.Sprintf("%d catch-up: collector start-up until its first request", n), num(r.med(catchup, "startup-s"), "s"),
			fmt.Sprintf("tenants' first requests spread over %.2f s", r.med(catchup, "start-spread-s")), "", "")
		all, worst := r.med(catchup, "all-vs-busiest-x"), r.med(catchup, "worst-tenant-x")
		add(fmt.Sprintf("%d catch-up: all tenants vs the busiest's quota-bound minimum", n), fmt.Sprintf("%.3fx", all),
			fmt.Sprintf("%.1f s vs %.1f s; %.3fx from the process start", r.med(catchup, "all-caught-up-s"), r.med(catchup, "busiest-min-s"), r.med(catchup, "all-from-exec-x")),
			"<= 1.2x", verdict(all <= 1.2, all))
		add(fmt.Sprintf("%d catch-up: worst tenant vs its own minimum", n), fmt.Sprintf("%.3fx", worst),
			fmt.Sprintf("mean %.3fx; worst %.3fx from the process start", r.med(catchup, "mean-tenant-x"), r.med(catchup, "worst-from-exec-x")),
			"<= 1.2x", verdict(worst <= 1.2, worst))
	}
	return b.String()
}
