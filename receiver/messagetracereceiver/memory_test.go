package messagetracereceiver

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sync/semaphore"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

// countingPool is the page memory's semaphore with its use watched: what is held now and the
// highest ever held. Who waits is read from the semaphore itself (someoneWaits, queuedIn): a
// count kept here would count a caller before the semaphore has queued it.
type countingPool struct {
	sem *semaphore.Weighted

	mu         sync.Mutex
	used, peak int64
}

func (p *countingPool) Acquire(ctx context.Context, n int64) error {
	err := p.sem.Acquire(ctx, n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.took(n)
	}
	return err
}

func (p *countingPool) TryAcquire(n int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.sem.TryAcquire(n)
	if ok {
		p.took(n)
	}
	return ok
}

func (p *countingPool) Release(n int64) {
	p.mu.Lock()
	p.used -= n
	p.mu.Unlock()
	p.sem.Release(n)
}

func (p *countingPool) took(n int64) {
	p.used += n
	p.peak = max(p.peak, p.used)
}

// newWatchedMemory is a page memory of size bytes whose use stats reports.
func newWatchedMemory(size int64) *pageMemory {
	m := newPageMemory(size)
	watchMemory(m)
	return m
}

// watchMemory makes stats report m's use from now on; nothing may be held yet.
func watchMemory(m *pageMemory) {
	m.pool = &countingPool{sem: semaphore.NewWeighted(m.size)}
}

// stats returns the bytes in use now and the highest ever, of a watched memory.
func (m *pageMemory) stats() (used, peak int64) {
	p := m.pool.(*countingPool)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used, p.peak
}

// someoneWaits says whether a caller is queued in a watched memory's semaphore: TryAcquire(0)
// fails exactly when its wait list is not empty, and takes nothing when it succeeds.
func (m *pageMemory) someoneWaits() bool {
	return !m.pool.(*countingPool).sem.TryAcquire(0)
}

// queuedIn counts the goroutines the test started that are queued in a semaphore: parked in
// Weighted.Acquire's select, which a caller reaches only after it joined the wait list (the
// count TryAcquire(0) cannot give beyond the first).
func queuedIn(t *testing.T) int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	creator := "created by " + reflect.TypeFor[countingPool]().PkgPath() + "." + t.Name() + " in goroutine "
	queued := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[select") && strings.Contains(g, "semaphore.(*Weighted).Acquire(") && strings.Contains(g, creator) {
			queued++
		}
	}
	return queued
}

func TestPageMemoryIsFirstComeFirstServed(t *testing.T) {
	m := newWatchedMemory(10)
	ctx := context.Background()
	_, err := m.acquire(ctx, 8)
	require.NoError(t, err)
	order := make(chan int64, 2)
	var wg sync.WaitGroup
	big := make(chan struct{})
	wg.Add(2)
	go func() { // queues first and needs 6: blocks the small one behind it
		defer wg.Done()
		close(big)
		n, err := m.acquire(ctx, 6)
		assert.NoError(t, err)
		order <- n
		m.release(n)
	}()
	<-big
	require.Eventually(t, m.someoneWaits, 5*time.Second, time.Millisecond)
	go func() {
		defer wg.Done()
		n, err := m.acquire(ctx, 2) // would fit at once, but someone waits: queue
		assert.NoError(t, err)
		order <- n
		m.release(n)
	}()
	// Until the small one is queued or has overtaken: either way it has passed the point where
	// it could take the free bytes, and the check below holds whatever the timing.
	require.Eventually(t, func() bool { return queuedIn(t) == 2 || len(order) > 0 }, 5*time.Second, time.Millisecond)
	assert.Empty(t, order, "the small request overtook the large one queued before it")
	assert.False(t, m.tryAcquire(1), "tryAcquire must not overtake waiters")
	m.release(8)
	wg.Wait()
	assert.ElementsMatch(t, []int64{6, 2}, []int64{<-order, <-order})
	used, peak := m.stats()
	assert.Zero(t, used)
	assert.LessOrEqual(t, peak, int64(10))
}

func TestPageMemoryCancelledWaiterLetsOthersIn(t *testing.T) {
	m := newWatchedMemory(10)
	_, err := m.acquire(context.Background(), 5)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := m.acquire(ctx, 10); errc <- err }()
	require.Eventually(t, m.someoneWaits, 5*time.Second, time.Millisecond)
	got := make(chan struct{})
	go func() { n, _ := m.acquire(context.Background(), 5); m.release(n); close(got) }()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter behind a cancelled one was never let in")
	}
	m.release(5)
	used, _ := m.stats()
	assert.Zero(t, used)
}

func TestPageHoldGrowsForLongBodiesAndCapsAtTheBudget(t *testing.T) {
	m := newWatchedMemory(100)
	h := &pageHold{m: m}
	require.NoError(t, h.take(context.Background(), 30))
	require.NoError(t, h.take(context.Background(), 50))
	used, _ := m.stats()
	assert.Equal(t, int64(50), used, "growing takes only the difference")
	require.NoError(t, h.take(context.Background(), 1000), "a page larger than the budget runs alone instead of never")
	used, _ = m.stats()
	assert.Equal(t, int64(100), used)
	h.release()
	used, _ = m.stats()
	assert.Zero(t, used)
	var none *pageHold
	require.NoError(t, none.take(context.Background(), 5))
	none.release()
}

// meteredSink checks, inside every ConsumeLogs, that the page being delivered is counted in the
// shared memory, and records how many deliveries overlap and each tenant's progress.
type meteredSink struct {
	m        *pageMemory
	tenant   int
	progress []atomic.Int64
	inside   *atomic.Int64
	maxIn    *atomic.Int64
	uncount  *atomic.Int64
}

func (s *meteredSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *meteredSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	n := s.inside.Add(1)
	defer s.inside.Add(-1)
	for {
		old := s.maxIn.Load()
		if n <= old || s.maxIn.CompareAndSwap(old, n) {
			break
		}
	}
	if used, _ := s.m.stats(); used <= 0 {
		s.uncount.Add(1)
	}
	time.Sleep(3 * time.Millisecond) // an exporter's work, so deliveries overlap
	s.progress[s.tenant].Add(int64(ld.LogRecordCount()))
	return nil
}

// Many receivers of one factory draining at once never hold more than the shared budget, and the
// FIFO order lets every tenant progress alike: when the first tenant is done, every other one has
// delivered most of its backlog.
func TestManyTenantsShareOnePageMemory(t *testing.T) {
	const tenants, perTenant, pageSize = 12, 600, 50
	// Room for exactly three pages of the estimate; bodies of 50 rows ask for a little more.
	pageBytes := int64(pageSize) * inFlightBytesPerRow
	m := newWatchedMemory(3 * pageBytes)
	factory := newFactoryWithMemory(m)
	var inside, maxIn, uncount atomic.Int64
	progress := make([]atomic.Int64, tenants)
	var receivers []*messageTraceReceiver
	var ctxs []context.Context
	for i := range tenants {
		rows := rowsIn(int64(100+i), perTenant, msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 1})
		h := newHarness(t, msgtracetest.Options{QuotaRequests: -1}, rows)
		h.cfg.PageSize = pageSize
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.NewIDWithName(metadata.Type, "tenant")
		sink := &meteredSink{m: m, tenant: i, progress: progress, inside: &inside, maxIn: &maxIn, uncount: &uncount}
		rl, err := factory.CreateLogs(context.Background(), set, h.cfg, sink)
		require.NoError(t, err)
		r := rl.(*messageTraceReceiver)
		r.retry = fastRetry
		ctx, err := r.prepare(context.Background(), h.host)
		require.NoError(t, err)
		frozen := time.Now()
		r.now = func() time.Time { return frozen }
		t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
		receivers = append(receivers, r)
		ctxs = append(ctxs, ctx)
	}
	total := make([]int64, tenants)
	var wg sync.WaitGroup
	snapshots := make(chan []int64, tenants)
	for i, r := range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, r.poll(ctxs[i]))
			snap := make([]int64, tenants)
			for j := range progress {
				snap[j] = progress[j].Load()
			}
			snapshots <- snap
		}()
	}
	wg.Wait()
	close(snapshots)
	for j := range progress {
		total[j] = progress[j].Load()
		require.Positive(t, total[j], "tenant %d delivered nothing", j)
	}
	used, peak := m.stats()
	assert.Zero(t, used, "every page's memory is given back")
	assert.LessOrEqual(t, peak, m.size, "the shared bound holds")
	assert.Zero(t, uncount.Load(), "a page was delivered without being counted in the shared memory")
	// At most as many pages as fit the budget are in ConsumeLogs at once; without the shared
	// budget all twelve tenants would deliver at the same time.
	assert.LessOrEqual(t, maxIn.Load(), int64(3), "pages in flight at once")
	assert.GreaterOrEqual(t, maxIn.Load(), int64(1))
	// Fairness: the first tenant to finish saw every other tenant at least half done.
	first := <-snapshots
	minShare := 1.0
	for j := range first {
		minShare = min(minShare, float64(first[j])/float64(total[j]))
	}
	t.Logf("peak %d of %d bytes, %d deliveries at once at most; when the first tenant finished the slowest had %.0f%% of its rows",
		peak, m.size, maxIn.Load(), 100*minShare)
	assert.GreaterOrEqual(t, minShare, 0.5, "a tenant starved while others finished")
}
