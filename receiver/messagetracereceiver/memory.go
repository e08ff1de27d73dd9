package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"

	"golang.org/x/sync/semaphore"
)

const (
	// defaultPageMemoryBytes bounds the bytes of pages in flight (read, decoded, or waiting for
	// ConsumeLogs) of all receivers a factory creates, i.e. of the whole collector: two full
	// 5,000-row Graph pages (25 MiB each) or many small ones at once, whatever the number of
	// tenants. 64 MiB keeps 500 tenants draining at once under 400 MB of RSS (BENCHMARKS.md,
	// issue 15); 128 MiB gave 421 MB for 10 % more rows/s.
	defaultPageMemoryBytes = 64 << 20
	// inFlightBytesPerRow estimates what one row of a page costs until ConsumeLogs returns: its
	// share of the body, the decoded strings and the pdata record (about 27 MB measured for a
	// 5,000-row Graph page, see BENCHMARKS.md).
	inFlightBytesPerRow = 5 << 10
	// inFlightBytesPerBodyByte turns a body's length into the same estimate (a 2 MB body became
	// about 27 MB in flight), for bodies larger than the page size suggests.
	inFlightBytesPerBodyByte = 13
)

// pageMemory is the bytes of pages in flight, a FIFO weighted semaphore (x/sync/semaphore).
// One is shared by every receiver of a factory, so the bound is process-wide without global
// state; first come first served means a tenant waits behind at most one page of each other
// tenant and never starves: a waiter that does not fit blocks the ones behind it, which is what
// keeps large pages from starving.
type pageMemory struct {
	size int64
	pool memoryPool
}

// memoryPool is what pageMemory needs of *semaphore.Weighted; tests wrap it to watch its use.
type memoryPool interface {
	Acquire(ctx context.Context, n int64) error
	TryAcquire(n int64) bool
	Release(n int64)
}

func newPageMemory(size int64) *pageMemory {
	return &pageMemory{size: size, pool: semaphore.NewWeighted(size)}
}

// acquire waits until n bytes fit (n is capped at the whole budget, so one huge page runs alone
// instead of never).
func (m *pageMemory) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), m.size)
	if err := m.pool.Acquire(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

// tryAcquire takes n bytes only if they fit now and nobody waits.
func (m *pageMemory) tryAcquire(n int64) bool {
	return m.pool.TryAcquire(n)
}

func (m *pageMemory) release(n int64) {
	if n > 0 {
		m.pool.Release(n)
	}
}

// pageHold is the share of pageMemory one receiver holds for its current page.
type pageHold struct {
	m *pageMemory
	n int64
}

// take holds at least n bytes. When more is needed than held (a body longer than the page size
// suggests), it takes the difference if free at once; otherwise it gives back what it holds and
// queues for the whole amount, because holding a part while waiting for more could deadlock two
// receivers that each hold a part. While it queues, the body already read is not counted: at most
// one body per receiver, itself bounded by the body limit.
func (h *pageHold) take(ctx context.Context, n int64) error {
	if h == nil {
		return nil
	}
	n = min(n, h.m.size)
	if n <= h.n {
		return nil
	}
	if h.n > 0 && h.m.tryAcquire(n-h.n) {
		h.n = n
		return nil
	}
	h.release()
	got, err := h.m.acquire(ctx, n)
	if err != nil {
		return err
	}
	h.n = got
	return nil
}

func (h *pageHold) release() {
	if h == nil {
		return
	}
	h.m.release(h.n)
	h.n = 0
}
