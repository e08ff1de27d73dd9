package devoexporter

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

const benchBatch = 8192

// benchLogs is one batch of records with ~600-byte string bodies.
func benchLogs() plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.EnsureCapacity(benchBatch)
	for i := range benchBatch {
		r := lrs.AppendEmpty()
		r.Body().SetStr(fmt.Sprintf("%08d %s", i, strings.Repeat("The quick brown fox jumps over the lazy dog. ", 13)))
		r.SetTimestamp(ts("2024-05-01T12:34:56.789Z"))
	}
	return ld
}

// parallel runs n calls of fn spread over workers goroutines; the first error fails b.
func parallel(b *testing.B, n, workers int, fn func(worker int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := fn(w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkExporter pushes batches of 8192 records over loopback TLS to the devotest sink and
// reports delivered events per second (the timer stops only once the sink parsed every event).
// The tls_client baseline writes the same pre-formatted frames with a plain Go TLS client over
// long-lived connections: the ceiling for this sink and machine.
func BenchmarkExporter(b *testing.B) {
	ld := benchLogs()
	ctx := context.Background()
	for _, conns := range []int{1, 4} {
		for _, delivery := range []string{DeliveryFast, DeliveryConfirmed} {
			b.Run(fmt.Sprintf("%s/conns=%d", delivery, conns), func(b *testing.B) {
				s, files := newSink(b, devotest.Options{DiscardEvents: true})
				cfg := sinkConfig(b, s, files)
				cfg.Delivery = delivery
				cfg.TimeoutConfig.Timeout = 30 * time.Second
				cfg.Queue.Get().NumConsumers = conns
				e, _ := startExporter(b, cfg)
				b.ResetTimer()
				parallel(b, b.N, conns, func(int) error { return e.pushLogs(ctx, ld) })
				require.NoError(b, s.WaitForEvents(ctx, b.N*benchBatch))
				b.StopTimer()
				b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(0, "ns/op")
			})
		}
		b.Run(fmt.Sprintf("tls_client/conns=%d", conns), func(b *testing.B) {
			s, _ := newSink(b, devotest.Options{DiscardEvents: true})
			f := sdkFramer(func(c *Config) { c.DateFormat = DateFormatCollector })
			var frames []byte
			lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
			for i := range lrs.Len() {
				frames, _ = f.appendFrame(frames, "my.app.otel.logs", lrs.At(i), time.Now())
			}
			clientTLS, err := s.Certificates().ClientTLSConfig("localhost")
			require.NoError(b, err)
			cs := make([]*tls.Conn, conns)
			for i := range cs {
				cs[i], err = tls.Dial("tcp", s.Addr(), clientTLS)
				require.NoError(b, err)
				defer cs[i].Close()
			}
			b.ResetTimer()
			parallel(b, b.N, conns, func(w int) error {
				_, err := cs[w].Write(frames)
				return err
			})
			require.NoError(b, s.WaitForEvents(ctx, b.N*benchBatch))
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkFraming is issue 6 figure 2: log records with ~600-byte map bodies (the message
// trace body with legacy names) to wire frames, header and JSON included, against encoding/json
// marshalling the same bodies alone, already converted to Go maps outside the timer (the
// strictest baseline: BenchmarkFrame's baseline also pays for AsRaw). records/s per core.
func BenchmarkFraming(b *testing.B) {
	const n = 1024
	lrs := plog.NewLogRecordSlice()
	raws := make([]map[string]any, n)
	for i := range n {
		r := lrs.AppendEmpty()
		benchBody(r.Body(), i)
		r.SetTimestamp(ts("2024-05-01T12:34:56.789Z"))
		r.SetObservedTimestamp(ts("2024-05-01T12:35:00Z"))
		raws[i] = r.Body().Map().AsRaw()
	}
	b.Logf("body JSON size: %d bytes", len(appendJSON(nil, lrs.At(0).Body())))
	now := time.Now()
	b.Run("framer", func(b *testing.B) {
		f := newFramer(createDefaultConfig().(*Config), "collector-host-01")
		var buf []byte
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			buf, _ = f.appendFrame(buf[:0], "cloud.office365.messagetracing", lrs.At(i%n), now)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := json.Marshal(raws[i%n]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
