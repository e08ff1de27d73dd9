package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Body buffers: a body of unknown length (chunked, or gzip the transport decompresses) is read
// into chunks that start small and grow to bodyChunkMax, then joined once it has ended. Unlike
// a doubling buffer, nothing is copied while reading, a refused body never costs more than its
// limit, and each chunk's memory is taken from the page budget before it is allocated.
const (
	bodyChunkMin = 32 << 10
	bodyChunkMax = 4 << 20
)

// readBody reads a response of at most limit bytes (decompressed), sized from Content-Length
// when the server sends one. hold is taken for what is read before each buffer is allocated, at
// least atLeast (the page size's estimate), so that the page memory of the whole collector holds
// whatever the server sends; the body never outgrows the budget either (limit is lowered to
// it). One byte more than the limit is read so that a longer body is detected and refused
// rather than cut and parsed. The caller gives hold back on every path.
func readBody(ctx context.Context, resp *http.Response, limit int64, hold *pageHold, atLeast int64) ([]byte, error) {
	if hold != nil {
		limit = min(limit, hold.m.size)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: the body is %d bytes (Content-Length), over the limit of %d bytes; if this persists, lower page_size or check what sits between the receiver and Microsoft", errPageRefused, resp.ContentLength, limit)
	}
	reserve := func(n int64) error {
		return hold.take(ctx, max(atLeast, n*inFlightBytesPerBodyByte))
	}
	if n := resp.ContentLength; n >= 0 {
		// The length is known and within the limit: one buffer of that size, and a probe that
		// the body really ends there.
		if err := reserve(n); err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, bodyEnds(resp.Body, limit, n)
	}
	var (
		chunks [][]byte
		total  int64
		size   = int64(bodyChunkMin)
	)
	for total < limit {
		n := min(size, limit-total)
		if err := reserve(total + n); err != nil {
			recycleChunks(chunks)
			return nil, err
		}
		chunk := newChunk(n)
		got, err := fill(resp.Body, chunk)
		total += int64(got)
		chunks = append(chunks, chunk[:got])
		if errors.Is(err, io.EOF) {
			return joinChunks(chunks, total), nil
		}
		if err != nil {
			recycleChunks(chunks)
			return nil, err
		}
		size = min(2*size, bodyChunkMax)
	}
	if err := bodyEnds(resp.Body, limit, total); err != nil {
		recycleChunks(chunks)
		return nil, err
	}
	return joinChunks(chunks, total), nil
}

// fill reads into buf until it is full or the body ends. Unlike io.ReadFull it keeps a body cut
// short apart from its end: the transport answers io.ErrUnexpectedEOF for a chunked or gzip
// stream that stops mid-way, which io.ReadFull passes on looking like a short last chunk, and
// a cut body must be retried, not parsed as if complete.
func fill(r io.Reader, buf []byte) (int, error) {
	n, idle := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			if idle++; idle > 100 {
				return n, io.ErrNoProgress
			}
		} else {
			idle = 0
		}
	}
	return n, nil
}

// fullChunks keeps chunks of bodyChunkMax bytes that no body holds any more, so that a server
// sending huge bodies poll after poll reuses the same memory instead of leaving the garbage
// collector a limit's worth of garbage each time (with the default GOGC the heap would grow to
// twice the limit). The pool empties itself over two garbage collections.
var fullChunks sync.Pool // *[]byte of bodyChunkMax bytes

func newChunk(n int64) []byte {
	if n == bodyChunkMax {
		if p, ok := fullChunks.Get().(*[]byte); ok {
			return *p
		}
	}
	return make([]byte, n)
}

// recycleChunks gives the full-sized chunks back; none may be used afterwards.
func recycleChunks(chunks [][]byte) {
	for _, c := range chunks {
		if cap(c) == bodyChunkMax {
			c = c[:bodyChunkMax]
			fullChunks.Put(&c)
		}
	}
}

// bodyEnds reads one byte past the read bytes: a body that goes on is over the limit.
func bodyEnds(body io.Reader, limit, read int64) error {
	var probe [1]byte
	n, err := io.ReadFull(body, probe[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: the body is over the limit of %d bytes (more than %d bytes read, decompressed); if this persists, lower page_size or check what sits between the receiver and Microsoft", errPageRefused, limit, read)
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// joinChunks returns the body as one slice, copying only when it took more than one chunk.
func joinChunks(chunks [][]byte, total int64) []byte {
	if len(chunks) == 1 {
		return chunks[0]
	}
	body := make([]byte, 0, total)
	for _, c := range chunks {
		body = append(body, c...)
	}
	recycleChunks(chunks) // copied: the body holds none of them
	return body
}
