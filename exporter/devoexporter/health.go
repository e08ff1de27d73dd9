package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"
)

// deliveryHealth tells operators when Devo stops taking rows and when it takes them again: one
// warning and a recoverable-error status when a push makes no progress, one log line with the
// outage's length and an OK status at the next delivery. Transitions only, so a long outage
// with a retry every 30 s does not flood the log.
type deliveryHealth struct {
	logger *zap.Logger
	now    func() time.Time

	mu        sync.Mutex
	host      component.Host // nil before start
	last      time.Time      // last delivery (start-up before the first)
	down      bool
	downSince time.Time
}

func newDeliveryHealth(logger *zap.Logger, now func() time.Time) *deliveryHealth {
	return &deliveryHealth{logger: logger, now: now, last: now()}
}

func (h *deliveryHealth) start(host component.Host) {
	h.mu.Lock()
	h.host = host
	h.last = h.now()
	h.mu.Unlock()
}

// sinceLastDelivery is how long Devo has not confirmed (or, with `fast`, accepted) a write.
func (h *deliveryHealth) sinceLastDelivery() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now().Sub(h.last)
}

// delivered records a confirmed segment (or a completed `fast` push).
func (h *deliveryHealth) delivered() {
	h.mu.Lock()
	now := h.now()
	h.last = now
	wasDown, since, host := h.down, h.downSince, h.host
	h.down = false
	h.mu.Unlock()
	if !wasDown {
		return
	}
	h.logger.Warn("Devo takes rows again; the rows held back during the outage are being delivered",
		zap.Duration("outage", now.Sub(since).Round(time.Millisecond)), zap.Time("unreachable_since", since))
	if host != nil {
		componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}

// failed records a push that delivered nothing.
func (h *deliveryHealth) failed(err error) {
	h.mu.Lock()
	if h.down {
		h.mu.Unlock()
		return
	}
	h.down, h.downSince = true, h.now()
	host := h.host
	h.mu.Unlock()
	h.logger.Warn("Devo is not taking rows: pushes are retried as `retry_on_failure` says and senders wait meanwhile (with the defaults until Devo is back, without dropping anything)",
		zap.Error(err))
	if host != nil {
		componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
	}
}
