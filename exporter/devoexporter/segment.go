package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import "sync"

const (
	// segmentGrowAfter successful segments in a row double the segment size again.
	segmentGrowAfter = 8
	// segmentRetries bounds the immediate retries (each with a smaller segment) of one push
	// before the unconfirmed rest goes back to exporterhelper's back-off: a path that fails
	// this often is better left alone for a while.
	segmentRetries = 3
)

// segmenter sizes the segments of `confirmed` pushes: a failed segment halves the size (down to
// min), segmentGrowAfter confirmed segments in a row double it (up to max). One segmenter
// serves every push: connection resets are a property of the path to Devo, not of one push.
type segmenter struct {
	mu       sync.Mutex
	min, max int
	cur      int
	streak   int // confirmed segments since the last change
}

func newSegmenter(minRecords, maxRecords int) *segmenter {
	return &segmenter{min: minRecords, max: maxRecords, cur: maxRecords}
}

// size is the number of records the next segment may hold.
func (s *segmenter) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// confirmed records a confirmed segment and returns the size of the next one.
func (s *segmenter) confirmed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streak++
	if s.streak >= segmentGrowAfter && s.cur < s.max {
		s.cur = min(2*s.cur, s.max)
		s.streak = 0
	}
	return s.cur
}

// failed records a failed segment of n records and returns the size of the next one: half of
// what failed, so a retry is smaller than the segment that just failed even when other pushes
// already shrank the shared size.
func (s *segmenter) failed(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streak = 0
	s.cur = max(min(s.cur, n)/2, s.min)
	return s.cur
}
