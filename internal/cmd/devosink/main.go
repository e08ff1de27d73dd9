// Command devosink is the Devo stand-in on its own: a TLS syslog receiver that requires client
// certificates, decodes every framing Devo accepts and writes each event as a JSON line.
//
//	go run ./internal/cmd/devosink -certs .demo/devo-certs -out events.jsonl
//
// It generates a throw-away CA, server and client certificate into -certs (chain.crt,
// client.crt, client.key are what a collector needs) unless they already exist there.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6514", "address to listen on (loopback)")
	certDir := flag.String("certs", "devo-certs", "directory for the generated certificates")
	out := flag.String("out", "-", "file for the JSON lines of received events (- = stdout)")
	resetAfter := flag.Int("reset-after", 0, "fault: reset the connection after N events (0 = never)")
	refuseFor := flag.Duration("refuse-for", 0, "fault: refuse connections for this long after start")
	idle := flag.Duration("idle-timeout", 30*time.Second, "close connections idle this long, like Devo (0 = never)")
	flag.Parse()

	if err := run(*listen, *certDir, *out, *resetAfter, *refuseFor, *idle); err != nil {
		log.Fatal(err)
	}
}

func run(listen, certDir, out string, resetAfter int, refuseFor, idle time.Duration) error {
	certs, err := devotest.NewCertificates(devotest.CertOptions{ClientCN: "demo.devo.example"})
	if err != nil {
		return err
	}
	if err = os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	files, err := certs.WriteFiles(certDir)
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if out != "-" {
		f, ferr := os.Create(out)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	var mu sync.Mutex
	enc := json.NewEncoder(bw)
	sink, err := devotest.NewSink(devotest.Options{
		Addr:            listen,
		Certificates:    certs,
		MaxStoredEvents: 1, // events go to the JSON lines, not to memory
		OnEvent: func(e devotest.Event) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(map[string]any{
				"tag": e.Tag, "host": e.Host, "pri": e.PRI, "date": e.Date,
				"message": e.Message, "framing": e.Framing, "client_cn": e.ClientCN,
			})
		},
	})
	if err != nil {
		return err
	}
	if resetAfter > 0 {
		sink.ResetAfter(resetAfter)
	}
	if refuseFor > 0 {
		sink.RefuseFor(refuseFor)
	}
	sink.SetIdleTimeout(idle)
	fmt.Fprintf(os.Stderr, "devosink: listening on %s; client certificate %s, key %s, CA %s\n",
		sink.Addr(), files.ClientCert, files.ClientKey, filepath.Clean(files.CA))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for {
		select {
		case <-stop:
			err = sink.Close()
			mu.Lock()
			_ = bw.Flush()
			mu.Unlock()
			s := sink.Stats()
			fmt.Fprintf(os.Stderr, "devosink: %d events on %d connections (%d frame errors)\n", s.Events, s.Handshakes, s.FrameErrors)
			return err
		case <-flush.C:
			mu.Lock()
			_ = bw.Flush()
			mu.Unlock()
		}
	}
}
