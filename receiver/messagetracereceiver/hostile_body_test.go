package messagetracereceiver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// heapPeak samples the heap in use until stop is called and returns the highest figure.
func heapPeak(t *testing.T) (stop func() uint64) {
	t.Helper()
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// Issue 20 item 4: bodies without a length, chunked or gzip of 300 MiB of spaces (about 300 KB
// on the wire), are refused at the body limit with an error naming it, poll after poll, and
// the heap stays within about one limit: the body is bounded before it is buffered, each chunk
// taken from the page memory before it is allocated, never a buffer doubled past the limit.
func TestBodiesWithoutLengthStayWithinThePageBudget(t *testing.T) {
	const polls = 3
	for _, kind := range []msgtracetest.FaultKind{msgtracetest.FaultChunkedBody, msgtracetest.FaultGzipBody} {
		t.Run(string(kind), func(t *testing.T) {
			h := newHarness(t, msgtracetest.Options{}, rowsIn(120, 20, msgtracetest.GenerateOptions{}))
			h.cfg.Timeout = time.Minute // the stand-in compresses the spaces once, slowly under -race
			sink := new(consumertest.LogsSink)
			r, ctx := h.receiver(sink)
			limit, slack, size := int64(maxBodyBytes), int64(24<<20), 300<<20
			if raceEnabled {
				// Ten times slower: a smaller limit and body, and room for the chunks sync.Pool
				// drops under the race detector.
				limit, size = 8<<20, 24<<20
				slack += limit
				r.client.limit = limit
			}
			watchMemory(r.memory)
			before := r.state.cp.Done
			for range polls {
				h.srv.InjectFaults(msgtracetest.Fault{Kind: kind, Size: size})
			}
			runtime.GC() // twice: the chunks an earlier test left in the pool are freed
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse
			stop := heapPeak(t)
			for range polls {
				err := r.poll(ctx)
				require.ErrorIs(t, err, errPageRefused)
				assert.Contains(t, err.Error(), "over the limit of "+strconv.FormatInt(limit, 10)+" bytes (more than "+strconv.FormatInt(limit, 10)+" bytes read, decompressed)")
				used, _ := r.memory.stats()
				assert.Zero(t, used, "the page memory is given back")
			}
			peak := stop()
			_, memoryPeak := r.memory.stats()
			growth := int64(peak) - int64(base)
			t.Logf("%s: heap in use %d MiB before, peak %d MiB (+%d MiB) over %d polls; page memory peak %d MiB",
				kind, base>>20, peak>>20, growth>>20, polls, memoryPeak>>20)
			// One limit of chunks, plus the decompressor and the TLS buffers; a doubling buffer
			// reaches twice the limit and a copy of it.
			assert.Less(t, growth, limit+slack, "heap growth while refusing the bodies")
			assert.LessOrEqual(t, memoryPeak, int64(defaultPageMemoryBytes))
			assert.Len(t, apiRequests(h.srv), polls, "refused at once, not retried")
			assert.Zero(t, sink.LogRecordCount())
			assert.Equal(t, before, r.state.cp.Done)
		})
	}
}

// budgetCheckingBody is a body of n spaces without a length that checks, at every read, that
// the buffer it is read into was taken from the page memory before: what was read plus the
// buffer offered never exceeds what hold holds (13 bytes per body byte, or the whole budget).
type budgetCheckingBody struct {
	t    *testing.T
	hold *pageHold
	n    int
	read int
}

func (b *budgetCheckingBody) Read(p []byte) (int, error) {
	if b.read >= b.n {
		return 0, io.EOF
	}
	covered := b.hold.n / inFlightBytesPerBodyByte
	if b.hold.n == b.hold.m.size {
		covered = b.hold.m.size
	}
	if len(p) > 1 { // one byte is the probe past the limit, on the stack
		assert.LessOrEqual(b.t, int64(b.read+len(p)), covered, "a buffer beyond what the page memory granted (%d held)", b.hold.n)
	}
	k := min(len(p), b.n-b.read, 100<<10)
	for i := range p[:k] {
		p[i] = ' '
	}
	b.read += k
	return k, nil
}

func (*budgetCheckingBody) Close() error { return nil }

// The body limit is lowered to the page budget, and every buffer is taken from the budget
// before it is allocated.
func TestBodyBuffersAreTakenFromThePageMemoryFirst(t *testing.T) {
	const budget = 2 << 20
	for _, tt := range []struct {
		name    string
		size    int
		refused bool
	}{
		{"small", 10 << 10, false},
		{"several chunks", 1 << 20, false},
		{"at the budget", budget, false},
		{"over the budget", budget + 1, true},
		{"far over", 50 << 20, true},
	} {
		hold := &pageHold{m: newWatchedMemory(budget)}
		body := &budgetCheckingBody{t: t, hold: hold, n: tt.size}
		resp := &http.Response{Body: body, ContentLength: -1}
		got, err := readBody(context.Background(), resp, maxBodyBytes, hold, 1)
		if tt.refused {
			require.ErrorIs(t, err, errPageRefused, tt.name)
			assert.Contains(t, err.Error(), "over the limit of 2097152 bytes (more than 2097152 bytes read, decompressed)", tt.name)
			assert.Nil(t, got)
		} else {
			require.NoError(t, err, tt.name)
			assert.Len(t, got, tt.size, tt.name)
		}
		assert.LessOrEqual(t, body.read, budget+1, "%s: read no further than the limit and one byte", tt.name)
		hold.release()
		used, _ := hold.m.stats()
		assert.Zero(t, used)
	}
}

// A body without a length that stops mid-way (the connection closed inside a chunk, or a gzip
// stream cut short) is an error to retry, never a short page parsed as if it were complete.
func TestBodiesCutShortAreRefused(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write([]byte(`{"value":[` + strings.Repeat(`{"id":"x"},`, 5000) + `{"id":"y"}]}`))
	require.NoError(t, w.Close())
	cutGzip := gz.Bytes()[:gz.Len()/2]
	for _, tt := range []struct {
		name  string
		serve func(conn net.Conn, rw *bufio.ReadWriter)
	}{
		{"chunked, connection closed inside a chunk", func(_ net.Conn, rw *bufio.ReadWriter) {
			fmt.Fprint(rw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
			fmt.Fprintf(rw, "%x\r\n%s", 1000, `{"value":[{"id":"a"}`) // promises 1,000 bytes, sends 20
		}},
		{"gzip stream cut short", func(_ net.Conn, rw *bufio.ReadWriter) {
			fmt.Fprint(rw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
			fmt.Fprintf(rw, "%x\r\n%s\r\n0\r\n\r\n", len(cutGzip), cutGzip)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				conn, buf, err := rw.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				tt.serve(conn, buf)
				_ = buf.Flush()
			}))
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			body := io.Reader(resp.Body)
			if resp.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(resp.Body)
				require.NoError(t, err)
				body = zr
			}
			hold := &pageHold{m: newWatchedMemory(8 << 20)}
			defer hold.release()
			got, err := readBody(context.Background(), &http.Response{Body: io.NopCloser(body), ContentLength: -1}, maxBodyBytes, hold, 1)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a cut body must not be parsed as complete")
			assert.Nil(t, got)
		})
	}
}
