package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"hash/fnv"
	"time"
)

// A collector starts all its receivers within a second, and each polls at once. Waiting a
// plain poll_interval after every poll would keep all tenants polling in the same second, every
// interval, for as long as the collector runs: at 1,000 idle tenants that burst cost 56 MB of
// RSS (the heap grows for it every minute and the runtime keeps the memory), see BENCHMARKS.md,
// issue 15. So after the first poll each receiver keeps to a slot of its own, poll_interval
// apart and offset by a phase taken from its id and tenant: idle tenants' polls are spread over
// the whole interval, and a tenant's polls stay one interval apart. A backlog is unaffected:
// a poll reads on until it is caught up.

// untilPollSlot is the wait after a successful poll until this receiver's next slot.
func (r *messageTraceReceiver) untilPollSlot() time.Duration {
	return untilSlot(r.now(), r.cfg.PollInterval, pollPhase(r.set.ID.String()+"/"+r.cfg.TenantID, r.cfg.PollInterval))
}

// pollPhase spreads keys evenly over [0, interval).
func pollPhase(key string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(interval))
}

// untilSlot is the time from now to the next instant after now that lies phase past a multiple
// of interval (since the Unix epoch): more than 0, at most interval.
func untilSlot(now time.Time, interval, phase time.Duration) time.Duration {
	into := (time.Duration(now.UnixNano()) - phase) % interval
	if into < 0 {
		into += interval
	}
	return interval - into
}
