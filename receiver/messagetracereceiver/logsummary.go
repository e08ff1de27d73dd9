package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"time"
)

// summaryInterval is how often a receiver logs its info-level summary. Per-range lines are
// debug: at the defaults they come twice a minute per tenant, 2,880 lines a day, 1.4 million a
// day for 500 tenants; an hourly line is 24 a day per tenant and still says whether it is
// reading, how much and how far behind.
const summaryInterval = time.Hour

// pullSummary adds up the ranges completed since the last summary line.
type pullSummary struct {
	since    time.Time
	ranges   int
	rows     int
	emitted  int
	pages    int
	requests int64
}

func (s *pullSummary) add(rows, emitted, pages int, requests int64) {
	s.ranges++
	s.rows += rows
	s.emitted += emitted
	s.pages += pages
	s.requests += requests
}
