package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"sync"
	"time"
)

// requestBudget is a client-side rolling window over API requests: at most max requests in any
// interval, plus a hard pause while a server's Retry-After runs. Microsoft's quota is per tenant
// and shared with people and other tools, so the receiver stays under a budget of its own instead
// of discovering the limit through 429s.
type requestBudget struct {
	max      int
	interval time.Duration
	now      func() time.Time
	// sleep waits out a full window; a seam so tests run the budget on a fake clock.
	sleep func(context.Context, time.Duration) error

	mu           sync.Mutex
	sent         []time.Time // send times of the last max requests, oldest at head once full
	head         int
	blockedUntil time.Time
}

func newRequestBudget(maxRequests int, interval time.Duration, now func() time.Time) *requestBudget {
	// sent grows with use: an idle tenant sends a few requests per window, not maxRequests, and
	// a thousand receivers each holding room for 90 times was 2 MB of heap.
	return &requestBudget{max: maxRequests, interval: interval, now: now, sleep: sleepCtx}
}

// acquire waits until one more request fits the budget and records it as sent. The returned
// func must be called when the request is over: it moves the request's time to its end, since
// the server counts it at arrival, somewhere between the two, and only the end is a safe bound
// whatever the latency.
func (b *requestBudget) acquire(ctx context.Context) (func(), error) {
	for {
		wait, slot := b.tryAcquire()
		if wait <= 0 {
			return func() { b.finish(slot) }, nil
		}
		if err := b.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// tryAcquire records a request and returns 0 and its slot if one fits now, or how long to
// wait otherwise.
func (b *requestBudget) tryAcquire() (time.Duration, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var wait time.Duration
	if now.Before(b.blockedUntil) {
		wait = b.blockedUntil.Sub(now)
	}
	if len(b.sent) == b.max {
		// The oldest of the last max requests must have left the window (strictly, so that a
		// server counting the window inclusively never sees max+1).
		if w := b.sent[b.head].Add(b.interval).Sub(now) + time.Millisecond; w > wait {
			wait = w
		}
	}
	if wait > 0 {
		return wait, -1
	}
	slot := len(b.sent)
	if slot < b.max {
		b.sent = append(b.sent, now)
	} else {
		slot = b.head
		b.sent[slot] = now
		b.head = (b.head + 1) % b.max
	}
	return 0, slot
}

// finish stamps a request's slot with the time it ended.
func (b *requestBudget) finish(slot int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := b.now(); slot >= 0 && slot < len(b.sent) && now.After(b.sent[slot]) {
		b.sent[slot] = now
	}
}

// pauseUntil stops all requests until t, e.g. for a 429's Retry-After.
func (b *requestBudget) pauseUntil(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.blockedUntil) {
		b.blockedUntil = t
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// full says whether a request would have to wait now.
func (b *requestBudget) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Before(b.blockedUntil) {
		return true
	}
	return len(b.sent) == b.max && !b.sent[b.head].Add(b.interval).Add(time.Millisecond).Before(now)
}
