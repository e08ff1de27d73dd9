// Command faketenant is the Microsoft stand-in on its own: the login endpoint and both message
// trace APIs (Graph messageTraces and the legacy Reporting Web Service) of one synthetic tenant,
// over HTTPS with a generated CA, with Microsoft's quota, paging, late rows and faults.
//
//	go run ./internal/cmd/faketenant -dir .demo/tenant -messages 20000 -days 10
//
// It writes ca.pem and tenant.env (MSGTRACE_URL, MSGTRACE_CA, MSGTRACE_TENANT,
// MSGTRACE_CLIENT_ID, O365_CLIENT_SECRET) into -dir for a collector to use.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

func main() {
	var (
		listen      = flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
		dir         = flag.String("dir", "tenant", "directory for ca.pem and tenant.env")
		seed        = flag.Int64("seed", 42, "seed of the synthetic data")
		messages    = flag.Int("messages", 20000, "messages in the backlog (each has 1-5 recipients)")
		days        = flag.Float64("days", 10, "the backlog spans this many days up to now")
		live        = flag.Float64("live", 2, "new messages per second while running")
		quota       = flag.Int("quota", 100, "API requests allowed per -quota-window (-1 = no quota)")
		window      = flag.Duration("quota-window", 5*time.Minute, "Microsoft's rolling quota window")
		late        = flag.Float64("late", 0.05, "fraction of rows published late (up to -late-by)")
		lateBy      = flag.Duration("late-by", 30*time.Minute, "how late late rows are published")
		pending     = flag.Float64("pending", 0.05, "fraction of rows that start pending and settle later")
		faultRate   = flag.Float64("fault-rate", 0, "probability of each fault of the mix per API request")
		envelope    = flag.String("legacy-envelope", "alternate", "legacy JSON envelope: light, verbose or alternate")
		perThousand = flag.Duration("latency-per-1000-rows", 100*time.Millisecond, "reply latency per 1000 rows (Graph: 2-4 s per 5000)")
	)
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	st, err := stack.StartTenant(*dir, msgtracetest.Options{
		Addr:               *listen,
		QuotaRequests:      *quota,
		QuotaWindow:        *window,
		LegacyEnvelope:     *envelope,
		LatencyPer1000Rows: *perThousand,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	gen := msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 5, LateFraction: *late, LateBy: *lateBy, PendingFraction: *pending}
	now := time.Now()
	st.Tenant.AddRows(msgtracetest.Generate(*seed, *messages, now.Add(-time.Duration(*days*24*float64(time.Hour))), now, gen)...)
	if *faultRate > 0 {
		st.Tenant.SetFaultMix(stack.FaultMix(*faultRate), *seed)
	}
	envFile := filepath.Join(*dir, "tenant.env")
	if err := os.WriteFile(envFile, []byte(strings.Join(st.TenantEnv(), "\n")+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "faketenant: %s serving %d rows; settings for a collector in %s\n", st.Tenant.URL(), len(st.Tenant.Rows()), envFile)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	traffic := stack.LiveTraffic(st.Tenant, *seed+1, *live, gen)
	defer traffic()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			fmt.Fprintf(os.Stderr, "faketenant: %d API requests, %d quota violations\n", st.Tenant.APIRequestCount(), st.Tenant.QuotaViolations())
			return
		case <-tick.C:
			fmt.Fprintf(os.Stderr, "faketenant: %d rows, %d API requests, %d throttled, %d quota violations\n",
				len(st.Tenant.Rows()), st.Tenant.APIRequestCount(), throttled(st.Tenant), st.Tenant.QuotaViolations())
		}
	}
}

func throttled(s *msgtracetest.Server) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Throttled {
			n++
		}
	}
	return n
}
