package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

// NewFactory returns the factory of the office365_message_trace receiver.
// Every receiver it creates shares one bound on the bytes of pages in flight, so the
// collector's memory does not grow with the number of tenants.
func NewFactory() receiver.Factory {
	return newFactoryWithMemory(newPageMemory(defaultPageMemoryBytes))
}

func newFactoryWithMemory(memory *pageMemory) receiver.Factory {
	start := newStartGate(startSlots, startWaveLimit)
	exposure := newExposureCheck()
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(func(ctx context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
			r, err := createLogsReceiver(ctx, set, cfg, next)
			if err != nil {
				return nil, err
			}
			r.memory, r.start = memory, start.join()
			r.exposure = exposure
			return r, nil
		}, metadata.LogsStability),
	)
}

// createDefaultConfig mirrors the seeds' defaults where they exist: a 60 s period, a 25 h delay
// and a 10-day first look-back (the most both APIs allow together). The early pass (10 min)
// is what the seeds lack: fresh rows without giving up the complete ones.
//
// retry_on_failure keeps the policy the receiver had before it was configurable: 2 s doubling to
// 1 min, with jitter; about five tries of a page that fails at once before the poll ends (the
// next poll starts again from the checkpoint, so giving up loses nothing).
func createDefaultConfig() component.Config {
	httpClient := confighttp.NewDefaultClientConfig()
	httpClient.Timeout = 60 * time.Second
	httpClient.ReadBufferSize, httpClient.WriteBufferSize = idleConnBufferSize, idleConnBufferSize
	return &Config{
		API:           apiGraph,
		LoginEndpoint: defaultLoginURL,
		ClientConfig:  httpClient,
		BackOffConfig: configretry.BackOffConfig{
			Enabled:             true,
			InitialInterval:     2 * time.Second,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         time.Minute,
			MaxElapsedTime:      time.Minute,
		},
		PollInterval:    60 * time.Second,
		Delay:           25 * time.Hour,
		EarlyDelay:      10 * time.Minute,
		InitialLookback: 240 * time.Hour,
		RequestBudget:   RequestBudgetConfig{Requests: 90, Interval: 5 * time.Minute},
		IncludeSubject:  true,
		Details:         defaultDetailsConfig(),
	}
}

func createLogsReceiver(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (*messageTraceReceiver, error) {
	return newReceiver(set, cfg.(*Config), next)
}
