package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

// setupError is an answer that only a change of configuration or tenant setup can fix (403,
// a refused login, the missing service principal): the receiver says what to fix and retries
// slowly. tenantSide marks the ones fixed in the tenant (a permission, consent, the service
// principal Microsoft provisions): the receiver reads again without a restart, so health
// reports them as recoverable (health.go).
type setupError struct {
	msg        string
	tenantSide bool
}

func (e *setupError) Error() string { return e.msg }
