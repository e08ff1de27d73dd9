package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// pollHealth turns what a poll found into component status, so health_check can tell a tenant
// that needs a change of the collector's configuration from one that heals without a restart:
//   - a setup problem only a configuration change fixes (a refused login: wrong secret, client
//     or tenant id; a query the API refuses; a redirect; storage that cannot be opened) is a
//     permanent error: the collector admits no way back from it except Stopping, and the fix
//     needs a restart anyway;
//   - a setup problem fixed in the tenant (the service principal Microsoft provisions, a
//     permission or consent granted, a role assigned: setupError.tenantSide) is a recoverable
//     error, as is any other failed poll (throttling, a Microsoft outage, a network problem):
//     the receiver keeps retrying, and the next page read is OK again, without a restart.
//     So are a federated login Entra refuses because the app's federated credential does not
//     match (healingLoginCodes: fixed on the app registration) and a federated_token_file that
//     is missing, empty or expired (read again at every login; the kubelet rewrites it).
//
// health_check shows a recoverable error as unhealthy once it has lasted recovery_duration.
// Transitions only, so a long outage does not flood the host.
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

// healsWithoutRestart says whether a setup problem goes away without a change of the
// collector's configuration: by a change in the tenant, or by the token file's issuer.
func healsWithoutRestart(err error) bool {
	var se *setupError
	var le *loginError
	return (errors.As(err, &se) && se.tenantSide) || (errors.As(err, &le) && healingLoginCodes[le.code])
}

// healingLoginCodes are refused logins fixed on the app registration alone: its federated
// credential (issuer, subject, audience) does not match the token in federated_token_file.
var healingLoginCodes = map[string]bool{"AADSTS70021": true, "AADSTS700211": true, "AADSTS700212": true, "AADSTS700213": true}

// failed reports a poll that stopped on err.
func (h *pollHealth) failed(err error) {
	if isSetupProblem(err) && !healsWithoutRestart(err) {
		h.report(componentstatus.StatusPermanentError, func() *componentstatus.Event { return componentstatus.NewPermanentErrorEvent(err) })
		return
	}
	h.report(componentstatus.StatusRecoverableError, func() *componentstatus.Event { return componentstatus.NewRecoverableErrorEvent(err) })
}

// errThrottled is the status while Microsoft answers 429: reported at once, as the receiver
// waits out Retry-After inside one poll, which may take long before the poll gives up.
var errThrottled = errors.New("Microsoft throttles the receiver (HTTP 429); requests pause as Retry-After says") //nolint:staticcheck // ST1005: it begins with a proper noun; the status shows it as written

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
