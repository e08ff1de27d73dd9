package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadata"
)

// NewFactory returns the factory of the devo exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogsExporter, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		TLS:           configtls.NewDefaultClientConfig(),
		TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: 30 * time.Second},
		BackOff:       configretry.NewDefaultBackOffConfig(),
		Queue:         configoptional.Default(exporterhelper.NewDefaultQueueConfig()),
	}
}

func createLogsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e := newExporter(set, c)
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs,
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.BackOff),
		exporterhelper.WithQueue(c.Queue),
	)
}
