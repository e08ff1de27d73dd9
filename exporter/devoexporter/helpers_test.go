package devoexporter

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadatatest"
	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

const goldenTag = "cloud.office365.messagetracing"

// newSink starts a devotest sink and writes its CA and client certificate files.
func newSink(t testing.TB, opts devotest.Options) (*devotest.Sink, devotest.CertFiles) {
	t.Helper()
	certs, err := devotest.NewCertificates(devotest.CertOptions{})
	require.NoError(t, err)
	opts.Certificates = certs
	s := devotest.New(t, opts)
	files, err := certs.WriteFiles(t.TempDir())
	require.NoError(t, err)
	return s, files
}

// sinkConfig points a default config at the sink by the name "localhost", so SNI and hostname
// verification are exercised for real.
func sinkConfig(t testing.TB, s *devotest.Sink, files devotest.CertFiles) *Config {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	_, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	cfg.Endpoint = "localhost:" + port
	cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile = files.CA, files.ClientCert, files.ClientKey
	cfg.Tag = "my.app.otel.logs"
	cfg.Hostname = "host1"
	cfg.TimeoutConfig.Timeout = 5 * time.Second
	return cfg
}

// startExporter builds and starts the bare exporter (no exporterhelper) with test telemetry.
func startExporter(t testing.TB, cfg *Config) (*devoExporter, *componenttest.Telemetry) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	e, err := newExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e, tt
}

// counter sums an int64 counter of the exporter's telemetry; 0 if it was never recorded.
func counter(t testing.TB, tt *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tt.GetMetric("otelcol_" + name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}

// strLogs builds one resource/scope with a string-body record per message.
func strLogs(msgs ...string) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, m := range msgs {
		lrs.AppendEmpty().Body().SetStr(m)
	}
	return ld
}

func mapRecord(lrs plog.LogRecordSlice, raw map[string]any) plog.LogRecord {
	r := lrs.AppendEmpty()
	if err := r.Body().SetEmptyMap().FromRaw(raw); err != nil {
		panic(err)
	}
	return r
}

func ts(s string) pcommon.Timestamp {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return pcommon.NewTimestampFromTime(t)
}
