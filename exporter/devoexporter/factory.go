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
	queue := exporterhelper.NewDefaultQueueConfig()
	// Batching is on by default: with `confirmed` delivery every push costs a connection and a
	// round trip, so pushes of thousands of records instead of single requests matter.
	queue.Batch = configoptional.Some(exporterhelper.NewDefaultBatchConfig())
	return &Config{
		TLS:              configtls.NewDefaultClientConfig(),
		TagAttribute:     "devo.tag",
		Facility:         1, // user-level, as Devo's SDK
		DateFormat:       DateFormatCollector,
		Framing:          FramingLF,
		Compression:      CompressionNone,
		MaxEventSize:     1 << 20,
		PullingID:        true,
		Delivery:         DeliveryConfirmed,
		IdleTimeout:      25 * time.Second, // under Devo's ~30 s idle cut
		MaxConnectionAge: time.Hour,        // as Devo's SDK
		TimeoutConfig:    exporterhelper.TimeoutConfig{Timeout: 30 * time.Second},
		BackOff:          configretry.NewDefaultBackOffConfig(),
		Queue:            configoptional.Some(queue),
	}
}

func createLogsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(set, c)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.BackOff),
		exporterhelper.WithQueue(c.Queue),
	)
}
