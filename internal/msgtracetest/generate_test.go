package msgtracetest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestGenerateIsDeterministic(t *testing.T) {
	from, to := t0.Add(-24*time.Hour), t0
	opts := GenerateOptions{MinRecipients: 2, MaxRecipients: 5, LateFraction: 0.1, LateBy: 2 * time.Hour, PendingFraction: 0.1}
	a := Generate(99, 500, from, to, opts)
	b := Generate(99, 500, from, to, opts)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different rows")
	}
	if c := Generate(100, 500, from, to, opts); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same rows")
	}
}

func TestGenerateShape(t *testing.T) {
	from, to := t0.Add(-24*time.Hour), t0
	opts := GenerateOptions{MinRecipients: 2, MaxRecipients: 5, LateFraction: 0.2, LateBy: 2 * time.Hour, PendingFraction: 0.1}
	rows := Generate(5, 3000, from, to, opts)

	type msg struct {
		first Row
		n     int
	}
	msgs := map[string]*msg{}
	keys := map[string]bool{}
	var late, pending, ipv6, ipv4, emptyTo, nonASCII, apostrophe int
	statuses := map[string]int{}
	for _, r := range rows {
		k := r.ID + "|" + strings.ToLower(r.Recipient)
		if keys[k] {
			t.Fatalf("duplicate (id, recipient) %s", k)
		}
		keys[k] = true
		m := msgs[r.ID]
		if m == nil {
			m = &msg{first: r}
			msgs[r.ID] = m
		} else if m.first.MessageID != r.MessageID || m.first.Sender != r.Sender || m.first.Subject != r.Subject || !m.first.Received.Equal(r.Received) {
			t.Fatalf("rows of message %s disagree: %+v vs %+v", r.ID, m.first, r)
		}
		m.n++
		if r.Received.Before(from) || !r.Received.Before(to) || r.Received.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("Received %s outside [from,to) or not ms precision", r.Received)
		}
		if !r.VisibleAt.IsZero() {
			late++
			if !r.VisibleAt.After(r.Received) || r.VisibleAt.Sub(r.Received) > opts.LateBy {
				t.Fatalf("VisibleAt %s vs Received %s", r.VisibleAt, r.Received)
			}
		}
		if r.Status == StatusPending || r.Status == StatusGettingStatus {
			pending++
			if r.SettlesAt.IsZero() || (r.FinalStatus != StatusDelivered && r.FinalStatus != StatusFailed) {
				t.Fatalf("pending row does not settle: %+v", r)
			}
		}
		statuses[r.Status]++
		if ip := net.ParseIP(r.FromIP); ip != nil {
			if ip.To4() != nil {
				ipv4++
			} else {
				ipv6++
			}
		}
		if r.ToIP == "" {
			emptyTo++
		} else if net.ParseIP(r.ToIP) == nil {
			t.Fatalf("bad ToIP %q", r.ToIP)
		}
		for _, c := range r.Subject {
			if c >= utf8.RuneSelf {
				nonASCII++
				break
			}
		}
		if strings.Contains(r.Sender+r.Recipient, "'") {
			apostrophe++
		}
	}
	if len(msgs) != 3000 {
		t.Fatalf("messages = %d; want 3000", len(msgs))
	}
	for id, m := range msgs {
		if m.n < 1 || m.n > opts.MaxRecipients {
			t.Fatalf("message %s has %d recipients", id, m.n)
		}
	}
	n := float64(len(rows))
	if fr := float64(late) / n; fr < 0.15 || fr > 0.25 {
		t.Errorf("late fraction %.3f; want ~0.2", fr)
	}
	if fr := float64(pending) / n; fr < 0.06 || fr > 0.14 {
		t.Errorf("pending fraction %.3f; want ~0.1", fr)
	}
	if float64(statuses[StatusDelivered])/n < 0.6 {
		t.Errorf("statuses = %v; want mostly delivered", statuses)
	}
	for _, st := range []string{StatusFailed, StatusExpanded, StatusQuarantined, StatusFilteredAsSpam, StatusGettingStatus} {
		if statuses[st] == 0 {
			t.Errorf("no %s rows: %v", st, statuses)
		}
	}
	if ipv4 == 0 || ipv6 == 0 || emptyTo == 0 || nonASCII == 0 || apostrophe == 0 {
		t.Errorf("ipv4=%d ipv6=%d emptyTo=%d nonASCII=%d apostrophe=%d; want all > 0", ipv4, ipv6, emptyTo, nonASCII, apostrophe)
	}
}

func TestGeneratedRowsSettleOverTime(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(Generate(8, 300, t0.Add(-time.Hour), t0, GenerateOptions{PendingFraction: 0.5, SettleAfter: 10 * time.Minute, LateFraction: 0.3, LateBy: 30 * time.Minute})...)
	count := func() (visible, pending int) {
		for _, r := range f.s.VisibleRows(t0.Add(-time.Hour), t0) {
			visible++
			if r.Status == StatusPending || r.Status == StatusGettingStatus {
				pending++
			}
		}
		return
	}
	v0, p0 := count()
	f.clock.Advance(45 * time.Minute)
	v1, p1 := count()
	if p0 == 0 || p1 != 0 || v1 <= v0 || v1 != len(f.s.Rows()) {
		t.Fatalf("visible %d->%d (of %d), pending %d->%d", v0, v1, len(f.s.Rows()), p0, p1)
	}
}

// BenchmarkGraphPage5000 measures the fake serving one 5000-row page, in-process
// (handler only) and over HTTPS, so we know the fake is not the bottleneck.
func BenchmarkGraphPage5000(b *testing.B) {
	clock := NewClock(t0)
	s := New(b, Options{Now: clock.Now, ClientSecret: testSecret, QuotaRequests: -1})
	s.AddRows(Generate(1, 20000, t0.Add(-4*time.Hour), t0, GenerateOptions{MinRecipients: 1, MaxRecipients: 3})...)
	f := &fixture{s: s, clock: clock, c: s.Client()}
	tok := f.graphToken(b)
	u := f.graphURL(rangeFilter(t0.Add(-4*time.Hour), t0), 5000)

	b.Run("handler", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		b.ReportAllocs()
		var n int
		for b.Loop() {
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
			n = w.Body.Len()
		}
		b.SetBytes(int64(n))
	})
	b.Run("https", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			res := f.get(b, u, tok)
			if res.status != 200 {
				b.Fatalf("status %d", res.status)
			}
			n = len(res.body)
		}
		b.SetBytes(int64(n))
	})
}
