package msgtracetest

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestQuota(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: 3, QuotaWindow: time.Minute})
	tok := f.graphToken(t)
	u := f.graphURL("", 0)
	step := func(name string, advance time.Duration, wantStatus int, wantRetryAfter string, wantViolations int) {
		t.Helper()
		f.clock.Advance(advance)
		res := f.get(t, u, tok)
		if res.status != wantStatus {
			t.Fatalf("%s: status = %d; want %d", name, res.status, wantStatus)
		}
		if got := res.header.Get("Retry-After"); got != wantRetryAfter {
			t.Fatalf("%s: Retry-After = %q; want %q", name, got, wantRetryAfter)
		}
		if wantStatus == 429 {
			e := decodeGraphError(t, res.body)
			if e.Error.Code != "TooManyRequests" || e.Error.Message != tooManyRequestsMessage {
				t.Fatalf("%s: 429 body = %+v", name, e)
			}
		}
		if got := f.s.QuotaViolations(); got != wantViolations {
			t.Fatalf("%s: QuotaViolations() = %d; want %d", name, got, wantViolations)
		}
	}
	step("1st", 0, 200, "", 0)                                 // window: 0s
	step("2nd", 10*time.Second, 200, "", 0)                    // 0s 10s
	step("3rd", 10*time.Second, 200, "", 0)                    // 0s 10s 20s
	_ = f.graphToken(t)                                        // token requests never count
	step("4th over quota", 0, 429, "50", 1)                    // counted too: 0 10 20 20 -> a slot frees when 10s expires (t=70s)
	step("retry too early", 39*time.Second, 429, "21", 2)      // t=59 < 70: violation; counted: 0 10 20 20 59 -> free at 80
	step("after Retry-After", time.Second, 429, "20", 3)       // t=60: 0s expired; 10,20,20,59 still in window (the early retry counted)
	step("after next Retry-After", 20*time.Second, 200, "", 3) // t=80: 10,20,20 expired; 59,60 left
	if got, want := f.s.APIRequestCount(), 7; got != want {
		t.Errorf("APIRequestCount() = %d; want %d", got, want)
	}
	var throttled int
	for _, r := range f.s.Requests() {
		if r.Throttled {
			throttled++
			if r.Status != 429 || !r.Violation {
				t.Errorf("throttled request recorded as %+v", r)
			}
		}
	}
	if throttled != 3 {
		t.Errorf("throttled requests = %d; want 3", throttled)
	}
}

func TestQuotaFixedRetryAfterAndDisabled(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: 1, RetryAfter: 1500 * time.Millisecond})
	tok := f.graphToken(t)
	f.get(t, f.graphURL("", 0), tok)
	res := f.get(t, f.graphURL("", 0), tok)
	if res.status != 429 || res.header.Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q; want 429 and 2 (rounded up)", res.status, res.header.Get("Retry-After"))
	}

	g := newFixture(t, Options{QuotaRequests: -1})
	tok = g.graphToken(t)
	for i := range 150 {
		if res := g.get(t, g.graphURL("", 0), tok); res.status != 200 {
			t.Fatalf("request %d: status %d with quota disabled", i, res.status)
		}
	}
	if g.s.QuotaViolations() != 0 {
		t.Fatal("violations with quota disabled")
	}
}

func TestQuotaDefaultIs100Per5Minutes(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.graphToken(t)
	for i := range 100 {
		f.clock.Advance(time.Second)
		if res := f.get(t, f.graphURL("", 0), tok); res.status != 200 {
			t.Fatalf("request %d: status %d", i, res.status)
		}
	}
	res := f.get(t, f.graphURL("", 0), tok)
	// oldest counted request was at t0+1s; the 429 itself counts, so a slot frees when
	// the 2nd request (t0+2s) expires at t0+302s; now is t0+100s.
	if res.status != 429 || res.header.Get("Retry-After") != strconv.Itoa(202) {
		t.Fatalf("status %d Retry-After %q; want 429, 202", res.status, res.header.Get("Retry-After"))
	}
}

func TestConcurrentRequests(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: 50, QuotaWindow: time.Hour})
	f.s.AddRows(Generate(3, 200, t0.Add(-time.Hour), t0, GenerateOptions{})...)
	tok := f.graphToken(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := f.s.Client()
			for range 10 {
				resp, err := c.Get(f.graphURL("", 0) + "?access_token=" + tok)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				f.s.AddRows(row("c"+strconv.Itoa(i), "x@contoso.com", t0.Add(-time.Minute)))
				_ = f.s.Rows()
				_ = f.s.Requests()
				f.s.InjectFaults(Fault{Kind: FaultServerError})
			}
		}()
	}
	wg.Wait()
	// No Authorization header: unauthenticated, unless a concurrently injected fault won.
	if codes[401]+codes[503] != 80 {
		t.Fatalf("codes = %v", codes)
	}
}

func TestConcurrentQuota(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: 20, QuotaWindow: time.Hour})
	tok := f.graphToken(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				res := f.get(t, f.graphURL("", 0), tok)
				mu.Lock()
				codes[res.status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if codes[200] != 20 || codes[429] != 20 || f.s.QuotaViolations() != 20 {
		t.Fatalf("codes = %v violations = %d; want 20x200, 20x429, 20 violations", codes, f.s.QuotaViolations())
	}
}
