package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"errors"
	"fmt"
	"strconv"
)

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

// loginError is a refused login (an AADSTS error): retrying cannot help until the
// configuration changes, so the receiver backs off in minutes and says what to fix.
type loginError struct {
	status int
	code   string // e.g. AADSTS7000215
	kind   string // OAuth2 error, e.g. invalid_client
	fix    string
}

func (e *loginError) Error() string {
	code := e.code
	if code == "" {
		code = "HTTP " + strconv.Itoa(e.status)
	}
	return fmt.Sprintf("login refused (%s %s): %s", code, e.kind, e.fix)
}

// isSetupProblem says whether only a change of configuration or tenant set-up can fix err.
func isSetupProblem(err error) bool {
	var se *setupError
	var le *loginError
	return errors.As(err, &se) || errors.As(err, &le)
}
