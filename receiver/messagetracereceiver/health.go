package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// pollHealth turns what a poll found into component status, so health_check can tell a tenant
// that needs a person from one that is only slowed down: a setup problem (a refused login, a
// missing service principal, 401/403, a query the API refuses) is a permanent error, any other
// failed poll (throttling, a Microsoft outage, a network problem) a recoverable one, and the
// next page read is OK again. Transitions only, so a long outage does not flood the host.
//
// The collector admits no way back from a permanent error except Stopping: once one is
// reported, health stays unhealthy until the collector restarts, even though the receiver
// keeps retrying and reads again as soon as the tenant is fixed (docs/operations.md says so).
type pollHealth struct {
	mu    sync.Mutex
	host  component.Host // nil before Start, and in tests that call prepare without a host
	state componentstatus.Status
}

func (h *pollHealth) start(host component.Host) {
	h.mu.Lock()
	h.host, h.state = host, componentstatus.StatusOK
	h.mu.Unlock()
}

// isSetupProblem says whether only a change of configuration or tenant set-up can fix err.
func isSetupProblem(err error) bool {
	var se *setupError
	var le *loginError
	return errors.As(err, &se) || errors.As(err, &le)
}

// failed reports a poll that stopped on err.
func (h *pollHealth) failed(err error) {
	if isSetupProblem(err) {
		h.report(componentstatus.StatusPermanentError, func() *componentstatus.Event { return componentstatus.NewPermanentErrorEvent(err) })
		return
	}
	h.report(componentstatus.StatusRecoverableError, func() *componentstatus.Event { return componentstatus.NewRecoverableErrorEvent(err) })
}

// errThrottled is the status while Microsoft answers 429: reported at once, as the receiver
// waits out Retry-After inside one poll, which may take long before the poll gives up.
var errThrottled = errors.New("Microsoft throttles the receiver (HTTP 429); requests pause as Retry-After says")

// throttled reports a 429 answer.
func (h *pollHealth) throttled() {
	h.report(componentstatus.StatusRecoverableError, func() *componentstatus.Event { return componentstatus.NewRecoverableErrorEvent(errThrottled) })
}

// pageRead reports that Microsoft answered a page.
func (h *pollHealth) pageRead() {
	h.report(componentstatus.StatusOK, func() *componentstatus.Event { return componentstatus.NewEvent(componentstatus.StatusOK) })
}

func (h *pollHealth) report(to componentstatus.Status, event func() *componentstatus.Event) {
	h.mu.Lock()
	host := h.host
	if host == nil || h.state == to || h.state == componentstatus.StatusPermanentError {
		h.mu.Unlock()
		return
	}
	h.state = to
	h.mu.Unlock()
	componentstatus.ReportStatus(host, event())
}
