package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"

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
	// The caller's ConsumeLogs returns only once Devo confirmed its rows (or they failed for
	// good): the receiver moves its checkpoint when ConsumeLogs returns, so the checkpoint
	// follows Devo's confirmation and a crash loses nothing it passed.
	queue.WaitForResult = true
	// A full queue makes callers wait (backpressure) instead of refusing their rows.
	queue.BlockOnOverflow = true
	// Bounded in bytes, so memory (or disk, with `storage`) follows from the configuration
	// whatever the size of the requests.
	queue.Sizer = exporterhelper.RequestSizerTypeBytes
	queue.QueueSize = defaultQueueBytes
	// Each consumer holds one batch in memory while it is pushed; four parallel connections
	// already reach most of the loopback ceiling (BENCHMARKS.md figure 3).
	queue.NumConsumers = 4
	// Batching is on by default: with `confirmed` delivery every push costs a connection and a
	// round trip, so pushes of thousands of records instead of single requests matter. The
	// receiver hands over one page at a time and waits for it, so a batch that waited for 8192
	// records would wait for the flush timeout after every page of 5,000 rows; 2,000 lets
	// full pages (legacy 2,000, Graph 5,000) go at once.
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.MinSize = 2000
	queue.Batch = configoptional.Some(batch)
	backOff := configretry.NewDefaultBackOffConfig()
	// Never give up: a push that is dropped after some time is data lost for good, as the
	// receiver's checkpoint may already be past it. Shutdown still ends the retries.
	backOff.MaxElapsedTime = 0
	return &Config{
		TLS:               configtls.NewDefaultClientConfig(),
		TagAttribute:      "devo.tag",
		Facility:          1, // user-level, as Devo's SDK
		DateFormat:        DateFormatCollector,
		Framing:           FramingLF,
		Compression:       CompressionNone,
		MaxEventSize:      1 << 20,
		PullingID:         true,
		Delivery:          DeliveryConfirmed,
		IdleTimeout:       25 * time.Second, // under Devo's ~30 s idle cut
		MaxConnectionAge:  time.Hour,        // as Devo's SDK
		TimeoutConfig:     exporterhelper.TimeoutConfig{Timeout: 30 * time.Second},
		MaxSegmentRecords: defaultMaxSegmentRecords,
		MinSegmentRecords: defaultMinSegmentRecords,
		BackOff:           backOff,
		Queue:             configoptional.Some(queue),
	}
}

func createLogsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(set, c)
	if err != nil {
		return nil, err
	}
	logs, err := exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.BackOff),
		exporterhelper.WithQueue(c.Queue),
	)
	if err != nil {
		return nil, err
	}
	out := inFlightLogs{Logs: logs, tel: e.tel, exp: e}
	if q := c.Queue.Get(); q != nil && q.StorageID != nil {
		out.storageID, out.queue = q.StorageID, &queueStorage{logger: set.Logger}
	}
	return out, nil
}

// inFlightLogs counts the records whose ConsumeLogs has not returned: with the default
// `wait_for_result` that is what the sending queue holds plus what is being sent, in records
// (exporterhelper's otelcol_exporter_queue_size reports the same queue in bytes).
type inFlightLogs struct {
	exporter.Logs
	tel *metadata.TelemetryBuilder
	// storageID is the persistent queue's storage extension (nil without one): its client is
	// wrapped so that a failed write never drops a queued request (queuestorage.go).
	storageID *component.ID
	queue     *queueStorage
	exp       *devoExporter
}

// Shutdown lets the pushes in flight end within shutdownGrace before exporterhelper waits for
// them: a Devo that stopped reading would otherwise hold every push, and the collector's
// shutdown, for `timeout`.
func (l inFlightLogs) Shutdown(ctx context.Context) error {
	l.exp.beginShutdown()
	return l.Logs.Shutdown(ctx)
}

func (l inFlightLogs) Start(ctx context.Context, host component.Host) error {
	if l.storageID != nil {
		host = queueHost{Host: host, storageID: *l.storageID, queue: l.queue}
	}
	return l.Logs.Start(ctx, host)
}

func (l inFlightLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := int64(ld.LogRecordCount())
	l.tel.DevoExporterRecordsInFlight.Add(ctx, n)
	defer l.tel.DevoExporterRecordsInFlight.Add(context.WithoutCancel(ctx), -n)
	if l.storageID == nil {
		return l.Logs.ConsumeLogs(ctx, ld)
	}
	if n <= queueItemRecords {
		return l.enqueue(ctx, ld)
	}
	for from := 0; from < int(n); from += queueItemRecords {
		part := subset(ld, func(i int) bool { return i >= from && i < from+queueItemRecords })
		if err := l.enqueue(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

// enqueue offers ld to the persistent queue, unless its storage failed a write and still
// cannot take a request of this size (queuestorage.go): the error then reaches the sender
// before exporterhelper counts the request.
func (l inFlightLogs) enqueue(ctx context.Context, ld plog.Logs) error {
	if err := l.queue.writable(ctx, (&plog.ProtoMarshaler{}).LogsSize(ld)); err != nil {
		return fmt.Errorf("devo: the persistent sending queue's storage cannot be written, the rows stay with the sender: %w", err)
	}
	return l.Logs.ConsumeLogs(ctx, ld)
}

// queueItemRecords bounds the records of one request written to a persistent queue. A page of
// 5,000 rows stored as one request is one value of about 4 MB in the storage file, which the
// queue marshals, bbolt copies into a contiguous run of pages and the consumer unmarshals at
// once; such runs also fragment the file, which bbolt then grows (and maps) well past
// queue_size. Parts of 1,000 records keep each of these small (BENCHMARKS.md, issue 20).
const queueItemRecords = 1000
