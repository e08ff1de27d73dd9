package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"
)

// messageTraceReceiver polls the message trace API of one tenant.
type messageTraceReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) *messageTraceReceiver {
	return &messageTraceReceiver{cfg: cfg, set: set, next: next}
}

// Start does not poll yet: the polling loop is built in its own issue, and until then the
// receiver says so instead of pretending to work.
func (r *messageTraceReceiver) Start(context.Context, component.Host) error {
	r.set.Logger.Warn("office365_message_trace: polling is not implemented in this build; no rows will be read",
		zap.String("tenant_id", r.cfg.TenantID))
	return nil
}

// Shutdown is safe without Start and when called twice.
func (r *messageTraceReceiver) Shutdown(context.Context) error { return nil }
