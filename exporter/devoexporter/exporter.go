package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
)

// devoExporter sends log records to one Devo relay.
type devoExporter struct {
	cfg *Config
	set exporter.Settings
}

func newExporter(set exporter.Settings, cfg *Config) *devoExporter {
	return &devoExporter{cfg: cfg, set: set}
}

// errNotImplemented is permanent so the queue drops instead of retrying forever: delivery is
// built in its own issue, and until then the exporter must not report success it did not have.
var errNotImplemented = consumererror.NewPermanent(errors.New("devo exporter: delivery is not implemented in this build"))

func (e *devoExporter) pushLogs(_ context.Context, ld plog.Logs) error {
	if ld.LogRecordCount() == 0 {
		return nil
	}
	return errNotImplemented
}
