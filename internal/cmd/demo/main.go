// Command demo is `make demo`: the main job with no credentials and no network. It starts the
// Microsoft and Devo stand-ins (internal/stack, the code the end-to-end tests use), runs
// bin/otelcol-msgtrace with testdata/demo/config.yaml against them, and shows what happens:
// rows fetched and delivered, the receiver's lag, and a few lines as Devo received them.
// Ctrl-C or DEMO_DURATION (e.g. 90s) ends it; it stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

func main() {
	bin := flag.String("bin", "bin/otelcol-msgtrace", "the distribution")
	config := flag.String("config", "testdata/demo/config.yaml", "collector configuration")
	dir := flag.String("dir", ".demo", "working directory (certificates, state, logs); emptied first")
	messages := flag.Int("messages", 20000, "messages in the tenant's 10-day backlog")
	flag.Parse()
	if err := run(*bin, *config, *dir, *messages); err != nil {
		log.Fatal(err)
	}
}

func run(bin, config, dir string, messages int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if d := os.Getenv("DEMO_DURATION"); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return fmt.Errorf("DEMO_DURATION %q: %w", d, err)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dur)
		defer cancel()
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	// Microsoft's quota is 100 requests per 5 minutes; the demo scales the window to 10 s so a
	// 10-day backlog drains in about a minute while the quota still shapes the traffic.
	st, err := stack.Start(stack.Options{
		Dir: dir,
		Tenant: msgtracetest.Options{
			QuotaRequests: 100, QuotaWindow: 10 * time.Second,
			LatencyPer1000Rows: 100 * time.Millisecond,
		},
		Sink: devotest.Options{},
	})
	if err != nil {
		return err
	}
	defer st.Close()
	gen := msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 5, LateFraction: 0.05, LateBy: 30 * time.Second, PendingFraction: 0.05, SettleAfter: 90 * time.Second}
	now := time.Now()
	st.Tenant.AddRows(msgtracetest.Generate(42, messages, now.Add(-10*24*time.Hour), now, gen)...)
	stopTraffic := stack.LiveTraffic(st.Tenant, 43, 3, gen)
	defer stopTraffic()

	logPath := filepath.Join(dir, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	c, err := stack.StartCollector(bin, config, st.Env(), logFile)
	if err != nil {
		return err
	}
	fmt.Printf("== otelcol-msgtrace demo: fake tenant %s (%d rows, quota 100 requests / 10 s) -> Devo sink %s\n",
		st.Tenant.URL(), len(st.Tenant.Rows()), st.Sink.Addr())
	fmt.Printf("   collector log: %s   (Ctrl-C to stop)\n\n", logPath)

	shown, ticks := 0, 0
	detailsShown := false
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\n== stopping the collector")
			err := c.Stop(15 * time.Second)
			status(st, c, true)
			return err
		case <-tick.C:
			if c.Exited() {
				status(st, c, true)
				return fmt.Errorf("the collector exited: %w (see %s)", c.ExitErr(), logPath)
			}
			status(st, c, false)
			ticks++
			shown = showLines(st.Sink, shown, ticks)
			detailsShown = detailsShown || showDetails(st.Sink)
		}
	}
}

// lagPattern reads the pass and lag (seconds) of the receiver's "Pull summary" log lines.
var lagPattern = regexp.MustCompile(`Pull summary.*"pass": "(\w+)".*"lag": ([0-9.]+)`)

func status(st *stack.Stack, c *stack.Collector, final bool) {
	events, details := stack.SplitDetails(st.Sink.Events())
	delivered, _ := stack.Delivered(events)
	updates := 0
	for _, e := range events {
		if strings.Contains(e.Message, `"PreviousStatus"`) {
			updates++
		}
	}
	dups := -updates
	for _, n := range delivered {
		dups += n - 1
	}
	fetched, throttled := 0, 0
	for _, r := range st.Tenant.Requests() {
		fetched += r.Rows
		if r.Throttled {
			throttled++
		}
	}
	lags := map[string]string{"early": "?", "settled": "?"}
	for _, m := range lagPattern.FindAllStringSubmatch(c.Output(), -1) {
		lags[m[1]] = m[2] + "s"
	}
	prefix := "  "
	if final {
		prefix = "=="
	}
	fmt.Printf("%s %s  tenant rows %6d | fetched %6d in %3d requests (%d throttled, %d over quota) | delivered to Devo %6d rows, %d status updates, %d duplicates, %d detail events (%d detail requests) | lag early %s, settled %s\n",
		prefix, time.Now().Format("15:04:05"), len(st.Tenant.Rows()), fetched, st.Tenant.APIRequestCount(), throttled,
		st.Tenant.QuotaViolations(), len(delivered), updates, dups, len(details), len(st.Tenant.DetailRequests()), lags["early"], lags["settled"])
}

// showLines prints a few Devo lines as the sink received them: the first three, then the
// newest one every 15 ticks.
func showLines(s *devotest.Sink, shown, ticks int) int {
	events := s.Events()
	if len(events) == 0 {
		return shown
	}
	var e devotest.Event
	switch {
	case shown < 3 && len(events) > shown:
		for ; shown < 3 && shown < len(events)-1; shown++ {
			printLine(events[shown])
		}
		e = events[shown]
	case ticks%15 == 0:
		e = events[len(events)-1]
	default:
		return shown
	}
	printLine(e)
	return shown + 1
}

func printLine(e devotest.Event) {
	line := fmt.Sprintf("<%d>%s %s %s: %s", e.PRI, e.Date, e.Host, e.Tag, e.Message)
	if len(line) > 240 {
		line = line[:240] + "..."
	}
	fmt.Printf("     devo> %s\n", strings.ReplaceAll(line, "\n", `\n`))
}
