package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"sync"
	"time"
)

// The start of a collector with many tenants is one wave: every receiver logs in and opens its
// connection, and until all have, the tenants that connected first would spend the CPU on their
// pages while the others wait to connect, so the last tenant starts seconds after the first
// (2-3 s at 1,000 tenants on two cores, which is 25 % of a catch-up of 10 s in the scaled
// benchmark; BENCHMARKS.md, issue 15). Two rules shared by the receivers of a factory:
//
//   - At most startSlots receivers set up their first request at once (login, and the
//     connection of the first API request up to its TLS handshake). 1,000 handshakes and logins
//     in flight at once held about 15 MB more heap at the collector's first garbage collection,
//     and the runtime sized the heap after it, so the idle collector kept 20-30 MB more RSS.
//     Handshakes are CPU-bound: more at once gain nothing on a few cores.
//   - A receiver with a backlog reads no further while receivers created with it have
//     not made their first attempt, for at most startWaveLimit after the first of them was
//     created: a receiver that cannot start (a locked storage file) delays the others once and
//     by that much only. Caught-up receivers do not wait: a thousand idle tenants released at
//     once would poll in step, and their requests in flight together cost as much memory as the
//     handshakes above.
const (
	startSlots     = 32
	startWaveLimit = 30 * time.Second
)

// startGate is shared by the receivers of one factory.
type startGate struct {
	slots chan struct{}
	limit time.Duration
	now   func() time.Time

	mu       sync.Mutex
	pending  int           // receivers created that have not made their first attempt
	deadline time.Time     // when waiting for them stops: startWaveLimit after the wave began
	started  chan struct{} // closed when pending falls to 0
}

func newStartGate(slots int, limit time.Duration) *startGate {
	started := make(chan struct{})
	close(started)
	return &startGate{slots: make(chan struct{}, max(slots, 1)), limit: limit, now: time.Now, started: started}
}

// join counts one more receiver of the current wave (a new wave if none is pending) and returns
// its turn.
func (g *startGate) join() *startTurn {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending == 0 {
		g.started = make(chan struct{})
		g.deadline = g.now().Add(g.limit)
	}
	g.pending++
	return &startTurn{g: g}
}

func (g *startGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending--
	if g.pending == 0 {
		close(g.started)
	}
}

// waitForWave waits until every receiver of the wave made its first attempt or the wave's
// deadline passed.
func (g *startGate) waitForWave(ctx context.Context) error {
	g.mu.Lock()
	started, wait := g.started, g.deadline.Sub(g.now())
	g.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-started:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// startTurn is one receiver's place in its start wave. Its methods are for the receiver's own
// goroutine, except the func enter returns, which net/http may call from another.
type startTurn struct {
	g    *startGate
	once sync.Once
	over bool // the first attempt was made (or the receiver shut down)
}

// enter is called before each request. The first one waits for a start slot; the returned func
// gives it back and ends the receiver's first attempt, and may be called more than once. Later
// ones pass at once. A nil turn (a receiver made without its factory) never waits.
func (t *startTurn) enter(ctx context.Context) (func(), error) {
	if t == nil || t.over {
		return func() {}, nil
	}
	select {
	case t.g.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t.over = true
	var once sync.Once
	return func() {
		once.Do(func() {
			<-t.g.slots
			t.end()
		})
	}, nil
}

// behind is called before a receiver follows a next link (a backlog: a full page of rows and more
// to come): once
// its first attempt is made, it waits for the rest of its wave. A caught-up receiver never
// calls it, so idle tenants do not poll in step after a start.
func (t *startTurn) behind(ctx context.Context) error {
	if t == nil || !t.over {
		return nil
	}
	return t.g.waitForWave(ctx)
}

// end takes the receiver out of its wave: after its first attempt, or at Shutdown.
func (t *startTurn) end() {
	if t != nil {
		t.once.Do(t.g.leave)
	}
}
