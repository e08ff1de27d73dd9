package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"container/list"
	"context"
	"sync"
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

// pageMemory is a FIFO weighted semaphore over bytes of pages in flight. One is shared by every
// receiver of a factory, so the bound is process-wide without global state; first come first
// served means a tenant waits behind at most one page of each other tenant and never starves.
type pageMemory struct {
	size int64

	mu      sync.Mutex
	used    int64
	peak    int64 // highest used ever, for tests and the benchmark
	waiters list.List
}

type memoryWaiter struct {
	n     int64
	ready chan struct{}
}

func newPageMemory(size int64) *pageMemory {
	return &pageMemory{size: size}
}

// acquire waits until n bytes fit (n is capped at the whole budget, so one huge page runs alone
// instead of never).
func (m *pageMemory) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), m.size)
	m.mu.Lock()
	if m.waiters.Len() == 0 && m.used+n <= m.size {
		m.takeLocked(n)
		m.mu.Unlock()
		return n, nil
	}
	w := &memoryWaiter{n: n, ready: make(chan struct{})}
	elem := m.waiters.PushBack(w)
	m.mu.Unlock()
	select {
	case <-w.ready:
		return n, nil
	case <-ctx.Done():
		m.mu.Lock()
		select {
		case <-w.ready: // granted while cancelling: give it back
			m.used -= n
		default:
			m.waiters.Remove(elem)
		}
		// Our leaving may let the next waiters in.
		m.grantLocked()
		m.mu.Unlock()
		return 0, ctx.Err()
	}
}

// tryAcquire takes n bytes only if they fit now and nobody waits.
func (m *pageMemory) tryAcquire(n int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.waiters.Len() > 0 || m.used+n > m.size {
		return false
	}
	m.takeLocked(n)
	return true
}

func (m *pageMemory) release(n int64) {
	if n <= 0 {
		return
	}
	m.mu.Lock()
	m.used -= n
	m.grantLocked()
	m.mu.Unlock()
}

func (m *pageMemory) takeLocked(n int64) {
	m.used += n
	if m.used > m.peak {
		m.peak = m.used
	}
}

// grantLocked wakes waiters in order while the head fits; a head that does not fit blocks the
// ones behind it, which is what keeps large pages from starving.
func (m *pageMemory) grantLocked() {
	for e := m.waiters.Front(); e != nil; e = m.waiters.Front() {
		w := e.Value.(*memoryWaiter)
		if m.used+w.n > m.size {
			return
		}
		m.takeLocked(w.n)
		m.waiters.Remove(e)
		close(w.ready)
	}
}

// stats returns the bytes in use now and the highest ever.
func (m *pageMemory) stats() (used, peak int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used, m.peak
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
