package msgtracetest

import "time"

// quotaState is the rolling per-tenant request quota. There is one tenant per Server,
// so there is one state.
type quotaState struct {
	window []time.Time // arrival times of counted requests, ascending
	// seq numbers API arrivals; raSentSeq is the value of seq when the last 429 was
	// sent. A request with a higher seq that arrives before raDeadline ignored the
	// Retry-After it could have seen.
	seq        uint64
	raSentSeq  uint64
	raDeadline time.Time
	violations int
}

// QuotaViolations counts API requests that arrived while the tenant was over quota
// (answered 429 because of quota) plus requests sent before a previously sent
// Retry-After had elapsed (counted once per request).
func (s *Server) QuotaViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota.violations
}

func (s *Server) pruneLocked(now time.Time) {
	cut := now.Add(-s.opts.QuotaWindow)
	w := s.quota.window
	i := 0
	for i < len(w) && !w[i].After(cut) {
		i++
	}
	if i > 0 {
		s.quota.window = append(s.quota.window[:0], w[i:]...)
	}
}

// countLocked adds one request to the window (every API request that reaches the
// tenant counts, including throttled and faulted ones).
func (s *Server) countLocked(now time.Time) {
	if s.opts.QuotaRequests < 0 {
		return
	}
	s.pruneLocked(now)
	s.quota.window = append(s.quota.window, now)
}

// earlyLocked reports whether a request with arrival number seq ignored a Retry-After.
func (s *Server) earlyLocked(seq uint64, now time.Time) bool {
	return seq > s.quota.raSentSeq && now.Before(s.quota.raDeadline)
}

// admitLocked decides whether an authenticated API request may proceed. It counts the
// request in the window. On refusal it returns the Retry-After to send.
func (s *Server) admitLocked(seq uint64, now time.Time) (ok bool, retryAfter time.Duration) {
	early := s.earlyLocked(seq, now)
	over := false
	if s.opts.QuotaRequests >= 0 {
		s.pruneLocked(now)
		over = len(s.quota.window) >= s.opts.QuotaRequests
	}
	s.countLocked(now)
	if !early && !over {
		return true, 0
	}
	s.quota.violations++
	var ra time.Duration
	if over {
		if s.opts.RetryAfter > 0 {
			ra = s.opts.RetryAfter
		} else {
			// The window has a free slot again once all but QuotaRequests-1 of the
			// counted requests have expired.
			w := s.quota.window
			ra = w[len(w)-s.opts.QuotaRequests].Add(s.opts.QuotaWindow).Sub(now)
		}
	}
	if early {
		ra = max(ra, s.quota.raDeadline.Sub(now))
	}
	return false, s.sentRetryAfterLocked(ra, now)
}

// sentRetryAfterLocked rounds ra up to whole seconds (min 1s) and remembers the
// deadline so later early requests count as violations.
func (s *Server) sentRetryAfterLocked(ra time.Duration, now time.Time) time.Duration {
	secs := (ra + time.Second - 1) / time.Second
	if secs < 1 {
		secs = 1
	}
	ra = secs * time.Second
	s.quota.raSentSeq = s.quota.seq
	if d := now.Add(ra); d.After(s.quota.raDeadline) {
		s.quota.raDeadline = d
	}
	return ra
}
