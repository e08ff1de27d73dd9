package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"time"
)

// detailsAdapter is the Microsoft client as details see it (detailsClient): the one place where
// details meet the client's parts.
type detailsAdapter struct{ c *apiClient }

func (a detailsAdapter) tryRequest() (func(), bool) {
	if a.c.budget.full() {
		return nil, false
	}
	_, slot := a.c.budget.tryAcquire()
	return func() { a.c.budget.finish(slot) }, true
}

func (a detailsAdapter) fetchDetails(ctx context.Context, p *pendingDetail) ([]detailEvent, error) {
	return a.c.fetchDetails(ctx, p)
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
