package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"compress/gzip"
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

const (
	// chunkSize is how many frame bytes are gathered before one write: large enough to fill TLS
	// records, small enough to bound memory per push and the loss window of `fast` delivery.
	chunkSize = 64 << 10
	// gzipMemberSize is the uncompressed size at which a gzip member is finished and written.
	// Devo's SDK flushes members at ~19.5 KB, its collectors at 50 KB; members are independent.
	gzipMemberSize = 64 << 10
)

// chunkWriter writes frames to one connection in chunks (or gzip members) and keeps count of the
// records, truncations and bytes that made it into completed writes: with `fast` delivery those
// are the records that count as sent when a later write fails.
type chunkWriter struct {
	c       *conn
	ctx     context.Context
	timeout time.Duration
	gz      *gzip.Writer // nil without compression
	buf     []byte       // pending plain frames, or compressed bytes of the open member
	frame   []byte       // scratch for one frame when compressing
	rawInGz int          // uncompressed bytes in the open member
	pending counts
	written counts
}

// counts tracks what a set of frames holds.
type counts struct {
	records   int
	truncated int
	bytes     int64
}

func (w *chunkWriter) Write(p []byte) (int, error) { // gzip's sink: collects compressed bytes
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// add frames one record and writes when a chunk or member is full.
func (w *chunkWriter) add(f *framer, tag string, rec plog.LogRecord, now time.Time) error {
	if w.gz == nil {
		var trunc bool
		w.buf, trunc = f.appendFrame(w.buf, tag, rec, now)
		w.pending.add(trunc)
		if len(w.buf) >= chunkSize {
			return w.flush()
		}
		return nil
	}
	var trunc bool
	w.frame, trunc = f.appendFrame(w.frame[:0], tag, rec, now)
	if _, err := w.gz.Write(w.frame); err != nil {
		return fmt.Errorf("devo: gzip: %w", err)
	}
	w.pending.add(trunc)
	w.rawInGz += len(w.frame)
	if w.rawInGz >= gzipMemberSize {
		return w.flush()
	}
	return nil
}

func (c *counts) add(truncated bool) {
	c.records++
	if truncated {
		c.truncated++
	}
}

// flush writes the pending chunk (finishing the gzip member first) with a deadline.
func (w *chunkWriter) flush() error {
	if w.pending.records == 0 {
		return nil
	}
	// A cancelled push stops here: the write deadline set below would otherwise override the
	// past deadline the cancellation set, and the rest of the batch would still go out.
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("devo: write: %w", err)
	}
	if w.gz != nil {
		if err := w.gz.Close(); err != nil { // ends the member: header, deflate data, trailer
			return fmt.Errorf("devo: gzip: %w", err)
		}
	}
	// Checked before every write: a write into a connection the peer already closed would
	// "succeed" into the kernel buffer and be lost.
	if closed, err := w.c.peerClosed(); closed {
		return err
	}
	deadline := time.Now().Add(w.timeout)
	if d, ok := w.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := w.c.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("devo: set write deadline: %w", err)
	}
	if _, err := w.c.Write(w.buf); err != nil {
		if ctxErr := w.ctx.Err(); ctxErr != nil {
			return fmt.Errorf("devo: write: %w (%w)", ctxErr, err)
		}
		return w.c.withPeerReason(fmt.Errorf("devo: write: %w", err))
	}
	w.pending.bytes = int64(len(w.buf))
	w.written.records += w.pending.records
	w.written.truncated += w.pending.truncated
	w.written.bytes += w.pending.bytes
	w.pending = counts{}
	w.buf = w.buf[:0]
	if w.gz != nil {
		resetGzip(w.gz, w)
		w.rawInGz = 0
	}
	return nil
}

// resetGzip starts a new member. OS 3 (Unix) is what Devo's SDK (Python zlib) writes; Go would
// write 255, and keeping the header identical keeps our members byte-comparable with the SDK's.
func resetGzip(gz *gzip.Writer, w *chunkWriter) {
	gz.Reset(w)
	gz.OS = 3
}
