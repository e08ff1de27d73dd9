package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import "context"

// admission is the first layer of a page request: when it may go. The tenant's request budget
// (budget.go) and the receiver's turn in its start wave (startgate.go) come before the
// request; the share of the collector's page memory (memory.go) is taken while the answer is
// read and held until the page is delivered. A nil part does not wait.
type admission struct {
	budget *requestBudget
	start  *startTurn
	memory *pageHold // nil: unbounded
}

// admit waits for a request's turn. finished ends the request in the budget once it is over;
// connected gives the start slot back once the request has its connection, may be called more
// than once, and is called by finished at the latest.
func (a *admission) admit(ctx context.Context) (finished, connected func(), err error) {
	// The slot comes first: waiting for it can take minutes, and a token fetched before the
	// wait could expire during it. Logins themselves are not part of Microsoft's quota.
	done, err := a.budget.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	leave, err := a.start.enter(ctx)
	if err != nil {
		done()
		return nil, nil, err
	}
	return func() { leave(); done() }, leave, nil
}

// backlog is called before a next-link is followed: a receiver with more pages to read waits
// for the rest of its start wave (startgate.go).
func (a *admission) backlog(ctx context.Context) error {
	return a.start.behind(ctx)
}

// release gives back the page memory of the last page; calling it again is harmless.
func (a *admission) release() {
	a.memory.release()
}
