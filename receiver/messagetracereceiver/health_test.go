package messagetracereceiver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// statusHost records the status events a component reports.
type statusHost struct {
	component.Host
	events []componentstatus.Status
}

func (h *statusHost) Report(e *componentstatus.Event) { h.events = append(h.events, e.Status()) }

func TestPollHealthTransitions(t *testing.T) {
	throttled := fmt.Errorf("page: %w", errors.New("throttled 11 times in a row: HTTP 429"))
	login := fmt.Errorf("token: %w", &loginError{status: 401, code: "AADSTS7000215", kind: "invalid_client", fix: "set client_secret"})
	refusedQuery := &setupError{msg: "the API refused the query with 400"}
	principalMissing := fmt.Errorf("page: %w", (&unauthorizedError{api: graphAPI{}, servicePrincipalMissing: true}).setup())
	forbidden := graphAPI{}.forbidden("Access denied")
	legacyUnauthorized := legacyAPI{}.unauthorized()
	federatedMismatch := fmt.Errorf("token: %w", &loginError{status: 400, code: "AADSTS70021", kind: "invalid_request", fix: aadstsFixes["AADSTS70021"]})
	federatedIssuer := fmt.Errorf("token: %w", &loginError{status: 400, code: "AADSTS700211", kind: "invalid_request", fix: aadstsFixes["AADSTS700211"]})
	_, tokenFileMissing := (&loginSource{tokenFile: filepath.Join(t.TempDir(), "absent"), now: time.Now}).Token()
	issuer, err := msgtracetest.NewFederatedIssuer(testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := issuer.Token(testSubject, "", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	expired := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(expired, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	_, tokenFileExpired := (&loginSource{tokenFile: expired, now: time.Now}).Token()
	for _, err := range []error{tokenFileMissing, tokenFileExpired} {
		if !isSetupProblem(err) {
			t.Fatalf("a token file problem is no setup problem: %v", err)
		}
	}
	for _, tc := range []struct {
		name  string
		steps []func(*pollHealth)
		want  []componentstatus.Status
	}{
		{
			"outage then a page",
			[]func(*pollHealth){failedWith(throttled), failedWith(throttled), (*pollHealth).pageRead, (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{"refused login", []func(*pollHealth){failedWith(login)}, []componentstatus.Status{componentstatus.StatusPermanentError}},
		{
			"outage turning into a refused query",
			[]func(*pollHealth){failedWith(throttled), failedWith(refusedQuery), (*pollHealth).pageRead, failedWith(throttled)},
			// Only a configuration change (and so a restart) fixes it, and the collector refuses
			// any way out of a permanent error, so none is reported.
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusPermanentError},
		},
		// Fixed in the tenant, without a restart: unhealthy while it lasts, OK at the next page.
		{
			"service principal missing, then provisioned",
			[]func(*pollHealth){failedWith(principalMissing), failedWith(principalMissing), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{
			"403 until consent",
			[]func(*pollHealth){failedWith(forbidden), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{
			"legacy 401 until the permission",
			[]func(*pollHealth){failedWith(legacyUnauthorized), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{
			"tenant fixed but the secret is wrong",
			[]func(*pollHealth){failedWith(principalMissing), failedWith(login), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusPermanentError},
		},
		// Fixed on the app registration's federated credential, or by the kubelet rewriting the
		// token file: OK again at the next page, without a restart.
		{
			"federated credential missing, then added",
			[]func(*pollHealth){failedWith(federatedMismatch), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{
			"federated issuer wrong, then fixed",
			[]func(*pollHealth){failedWith(federatedIssuer), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{
			"token file missing, then written",
			[]func(*pollHealth){failedWith(tokenFileMissing), failedWith(tokenFileMissing), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{
			"token file expired, then rewritten",
			[]func(*pollHealth){failedWith(tokenFileExpired), (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{
			"throttled during a page",
			[]func(*pollHealth){(*pollHealth).throttled, (*pollHealth).throttled, (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK},
		},
		{"pages only", []func(*pollHealth){(*pollHealth).pageRead}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := &statusHost{}
			var h pollHealth
			h.pageRead() // before start: no host, nothing reported, no panic
			h.start(host)
			for _, s := range tc.steps {
				s(&h)
			}
			if fmt.Sprint(host.events) != fmt.Sprint(tc.want) {
				t.Fatalf("reported %v, want %v", host.events, tc.want)
			}
		})
	}
}

func failedWith(err error) func(*pollHealth) { return func(h *pollHealth) { h.failed(err) } }
