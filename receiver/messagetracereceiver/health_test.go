package messagetracereceiver

import (
	"errors"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
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
	forbidden := &setupError{msg: "Graph answered 403"}
	for _, tc := range []struct {
		name  string
		steps []func(*pollHealth)
		want  []componentstatus.Status
	}{
		{"outage then a page", []func(*pollHealth){failedWith(throttled), failedWith(throttled), (*pollHealth).pageRead, (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}},
		{"refused login", []func(*pollHealth){failedWith(login)}, []componentstatus.Status{componentstatus.StatusPermanentError}},
		{"outage turning into a 403", []func(*pollHealth){failedWith(throttled), failedWith(forbidden), (*pollHealth).pageRead, failedWith(throttled)},
			// The collector refuses any way out of a permanent error, so none is reported.
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusPermanentError}},
		{"throttled during a page", []func(*pollHealth){(*pollHealth).throttled, (*pollHealth).throttled, (*pollHealth).pageRead},
			[]componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}},
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
