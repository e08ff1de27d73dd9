package devoexporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadata"
	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadatatest"
	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
)

func goldenConfig(t *testing.T, s *devotest.Sink, files devotest.CertFiles) *Config {
	cfg := sinkConfig(t, s, files)
	cfg.DateFormat = DateFormatSDK
	cfg.PullingID = false
	cfg.Tag = goldenTag
	return cfg
}

// TestGoldenBytesOverTLS compares what reaches the server, byte for byte, with Devo's SDK.
func TestGoldenBytesOverTLS(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(*Config)
		logs  plog.Logs
		check func(t *testing.T, raw []byte)
	}{
		{
			name: "lf", logs: strLogs(`{"a":1}`),
			check: func(t *testing.T, raw []byte) { assert.Equal(t, goldenPlain, string(raw)) },
		},
		{
			name: "octet_counting", mut: func(c *Config) { c.Framing = FramingOctetCounting },
			logs:  strLogs("{\"a\":1,\n \"b\":2}"),
			check: func(t *testing.T, raw []byte) { assert.Equal(t, goldenOctet, string(raw)) },
		},
		{
			name: "gzip: one member holding the three lines", mut: func(c *Config) { c.Compression = CompressionGzip },
			logs: strLogs(`{"a":1}`, `{"a":1}`, `{"a":1}`),
			check: func(t *testing.T, raw []byte) {
				require.GreaterOrEqual(t, len(raw), 10)
				assert.Equal(t, goldenGzipHeader, hex.EncodeToString(raw[:10]))
				br := bytes.NewReader(raw)
				zr, err := gzip.NewReader(br)
				require.NoError(t, err)
				zr.Multistream(false)
				plain, err := io.ReadAll(zr)
				require.NoError(t, err)
				assert.Equal(t, strings.Repeat(goldenPlain, 3), string(plain))
				assert.Zero(t, br.Len(), "nothing after the member")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, files := newSink(t, devotest.Options{RecordRaw: true})
			cfg := goldenConfig(t, s, files)
			if tt.mut != nil {
				tt.mut(cfg)
			}
			e, tel := startExporter(t, cfg)
			require.NoError(t, e.pushLogs(context.Background(), tt.logs))
			tt.check(t, s.Raw(1))

			conns := s.Conns()
			require.Len(t, conns, 1)
			assert.Equal(t, "localhost", conns[0].ServerName, "SNI is the endpoint host")
			assert.Equal(t, devotest.DefaultClientCN, conns[0].ClientCN)
			assert.Equal(t, int64(tt.logs.LogRecordCount()), counter(t, tel, "devo_exporter_events_sent"))
			assert.Equal(t, int64(1), counter(t, tel, "devo_exporter_confirmed_pushes"))
			assert.Equal(t, int64(len(s.Raw(1))), counter(t, tel, "devo_exporter_bytes_sent"))
			assert.Equal(t, int64(1), counter(t, tel, "devo_exporter_connections_opened"))
		})
	}
}

func TestTagRouting(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	core, logs := observer.New(zap.InfoLevel)
	cfg := sinkConfig(t, s, files)
	e, tel := startExporter(t, cfg)
	e.logger = zap.New(core)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("devo.tag", "my.app.from.resource")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	add := func(msg string, attr any) {
		r := lrs.AppendEmpty()
		r.Body().SetStr(msg)
		switch v := attr.(type) {
		case string:
			r.Attributes().PutStr("devo.tag", v)
		case int:
			r.Attributes().PutInt("devo.tag", int64(v))
		}
	}
	add("record-attr", "my.app.from.record")
	add("resource-attr", nil)
	add("space", "my.app bad")
	add("empty", "")
	add("control", "my.app.\x00")
	add("not-a-string", 7)
	add("after-bad-ones", "cloud.office365.messagetracing")
	other := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	other.Body().SetStr("default")

	require.NoError(t, e.pushLogs(context.Background(), ld), "invalid tags never fail the rest of the batch")
	got := map[string]string{}
	for _, ev := range s.Events() {
		got[ev.Message] = ev.Tag
	}
	assert.Equal(t, map[string]string{
		"record-attr":    "my.app.from.record",
		"resource-attr":  "my.app.from.resource",
		"after-bad-ones": "cloud.office365.messagetracing",
		"default":        "my.app.otel.logs",
	}, got)
	assert.Equal(t, int64(4), counter(t, tel, "devo_exporter_events_dropped"))
	require.Equal(t, 1, logs.FilterMessageSnippet("unusable Devo tag").Len())
	assert.Contains(t, logs.All()[0].ContextMap()["error"], `"my.app bad"`)

	// A push with nothing sendable is permanent: retrying cannot make the tags valid.
	err := e.pushLogs(context.Background(), func() plog.Logs {
		l := strLogs("x")
		l.ResourceLogs().At(0).Resource().Attributes().PutStr("devo.tag", "bad tag")
		return l
	}())
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "%v", err)
}

// TestRetryExcludesDroppedRecords: when delivery fails, only records that can still be sent are
// handed back for retry.
func TestRetryExcludesDroppedRecords(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	e, _ := startExporter(t, cfg)
	s.RefuseFor(time.Hour)
	ld := strLogs("good-1", "bad", "good-2")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1).Attributes().PutStr("devo.tag", "no good")
	err := e.pushLogs(context.Background(), ld)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	var le consumererror.Logs
	require.ErrorAs(t, err, &le)
	retry := le.Data()
	require.Equal(t, 2, retry.LogRecordCount())
	recs := retry.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	assert.Equal(t, "good-1", recs.At(0).Body().Str())
	assert.Equal(t, "good-2", recs.At(1).Body().Str())
}

func TestLineBreaksOverTLS(t *testing.T) {
	body := "first\nsecond\r\nthird"
	for _, framing := range []string{FramingLF, FramingOctetCounting} {
		t.Run(framing, func(t *testing.T) {
			s, files := newSink(t, devotest.Options{})
			cfg := sinkConfig(t, s, files)
			cfg.Framing = framing
			e, _ := startExporter(t, cfg)
			require.NoError(t, e.pushLogs(context.Background(), strLogs(body, "next")))
			evs := s.Events()
			require.Len(t, evs, 2, "an embedded line break never splits an event")
			want := body
			if framing == FramingLF {
				want = `first\nsecond\r\nthird`
			}
			assert.Equal(t, want, evs[0].Message)
			assert.Equal(t, "next", evs[1].Message)
			assert.Empty(t, s.Errors())
		})
	}
}

func TestTruncationOverTLS(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.MaxEventSize = 4096
	e, tel := startExporter(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), strLogs(strings.Repeat("z", 10000), "small")))
	evs := s.Events()
	require.Len(t, evs, 2)
	assert.True(t, strings.HasSuffix(evs[0].Message, truncationMarker))
	assert.Len(t, evs[0].String()+"\n", 4096, "frame cut to exactly max_event_size")
	assert.Equal(t, "small", evs[1].Message)
	assert.Equal(t, int64(1), counter(t, tel, "devo_exporter_events_truncated"))
}

func TestGzipRoundTrip(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.Compression = CompressionGzip
	e, tel := startExporter(t, cfg)
	const n = 3000 // several 64 KiB members
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = strings.Repeat("m", i%200) + "\nend"
	}
	require.NoError(t, e.pushLogs(context.Background(), strLogs(msgs...)))
	evs := s.Events()
	require.Len(t, evs, n)
	for i, ev := range evs {
		require.Equal(t, devotest.FramingGzip, ev.Framing)
		require.Equal(t, strings.Repeat("m", i%200)+`\nend`, ev.Message)
	}
	assert.Less(t, counter(t, tel, "devo_exporter_bytes_sent"), s.Stats().BytesRead, "compressed bytes counted (TLS overhead excluded)")
}

func TestMutualTLSFailures(t *testing.T) {
	other, err := devotest.NewCertificates(devotest.CertOptions{CAName: "someone else"})
	require.NoError(t, err)
	otherFiles, err := other.WriteFiles(t.TempDir())
	require.NoError(t, err)

	tests := []struct {
		name    string
		mut     func(*Config)
		wantErr string // empty: delivery must work
	}{
		{"server certificate from another CA", func(c *Config) { c.TLS.CAFile = otherFiles.CA }, "certificate signed by unknown authority"},
		{"no client certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }, "certificate required"},
		{"client certificate from another CA", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = otherFiles.ClientCert, otherFiles.ClientKey }, "unknown certificate authority"},
		{"wrong host name", func(c *Config) { c.TLS.ServerName = "collector-us.devo.io" }, "not collector-us.devo.io"},
		{"wrong host name accepted when verification is off", func(c *Config) {
			c.TLS.ServerName = "collector-us.devo.io"
			c.TLS.InsecureSkipVerify = true
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, files := newSink(t, devotest.Options{})
			cfg := sinkConfig(t, s, files)
			tt.mut(cfg)
			e, tel := startExporter(t, cfg)
			err := e.pushLogs(context.Background(), strLogs("hello"))
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, 1, s.EventCount())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.False(t, consumererror.IsPermanent(err), "a fixable TLS setup stays retryable")
			assert.Zero(t, s.EventCount())
			assert.Equal(t, int64(1), counter(t, tel, "devo_exporter_push_failures"))
		})
	}
}

func TestStartFailsForUnreadableCertificates(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	missing := filepath.Join(t.TempDir(), "missing.crt")
	garbage := filepath.Join(t.TempDir(), "garbage.crt")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate"), 0o600))
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"missing CA", func(c *Config) { c.TLS.CAFile = missing }, "`tls.ca_file` cannot be read"},
		{"missing cert", func(c *Config) { c.TLS.CertFile = missing }, "`tls.cert_file` cannot be read"},
		{"missing key", func(c *Config) { c.TLS.KeyFile = missing }, "`tls.key_file` cannot be read"},
		{"garbage CA", func(c *Config) { c.TLS.CAFile = garbage }, "`tls`: cannot load the certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sinkConfig(t, s, files)
			tt.mut(cfg)
			e, err := newExporter(exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			err = e.start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			require.NoError(t, e.shutdown(context.Background()))
		})
	}
	assert.Zero(t, s.Stats().Connections, "start never connects")
}

func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	const secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.TLS.KeyFile = ""
	cfg.TLS.KeyPem = configopaque.String(secret)
	core, logs := observer.New(zap.DebugLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	e, err := newExporter(set, cfg)
	require.NoError(t, err)
	err = e.start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "TOPSECRET")
	for _, l := range logs.All() {
		assert.NotContains(t, l.Message, "TOPSECRET")
		for _, v := range l.ContextMap() {
			assert.NotContains(t, v, "TOPSECRET")
		}
	}
	require.NoError(t, e.shutdown(context.Background()))
}

func TestFastDeliveryReusesAndRecyclesConnections(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.Delivery = DeliveryFast
	e, tel := startExporter(t, cfg)
	clock := time.Now()
	e.now = func() time.Time { return clock }
	e.pool.now = e.now
	ctx := context.Background()

	for range 3 {
		require.NoError(t, e.pushLogs(ctx, strLogs("reuse")))
	}
	require.NoError(t, s.WaitForEvents(ctx, 3))
	assert.Len(t, s.Conns(), 1, "one connection carries consecutive pushes")

	clock = clock.Add(cfg.IdleTimeout)
	require.NoError(t, e.pushLogs(ctx, strLogs("after idle")))
	clock = clock.Add(cfg.MaxConnectionAge)
	require.NoError(t, e.pushLogs(ctx, strLogs("after max age")))
	require.NoError(t, s.WaitForEvents(ctx, 5))
	assert.Len(t, s.Conns(), 3)
	assert.Equal(t, int64(2), counter(t, tel, "devo_exporter_reconnects"))
	assert.Equal(t, int64(3), counter(t, tel, "devo_exporter_connections_opened"))
	assert.Zero(t, counter(t, tel, "devo_exporter_confirmed_pushes"))
	assert.Equal(t, int64(5), counter(t, tel, "devo_exporter_events_sent"))
}

func TestPlainTCPForRelay(t *testing.T) {
	s := devotest.New(t, devotest.Options{Plain: true})
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = s.Addr()
	cfg.Tag = "my.app.relay"
	cfg.TLS.Insecure = true
	e, tel := startExporter(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), strLogs("via relay")))
	require.Len(t, s.Events(), 1)
	assert.Equal(t, int64(1), counter(t, tel, "devo_exporter_confirmed_pushes"), "half-close confirmation works on TCP too")
}

// A push whose context is already cancelled (shutdown, timeout) sends nothing more, even on a
// connection that is open and writable.
func TestCancelledPushWritesNothing(t *testing.T) {
	s, files := newSink(t, devotest.Options{})
	cfg := sinkConfig(t, s, files)
	cfg.Delivery = DeliveryFast
	e, _ := startExporter(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), strLogs("warm up the connection")))
	require.Eventually(t, func() bool { return s.EventCount() == 1 }, 5*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, e.pushLogs(ctx, strLogs("a", "b", "c")), context.Canceled)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, s.EventCount())
}

// tls.insecure_skip_verify is warned about once at start, as the receiver warns about its own.
func TestInsecureSkipVerifyWarnedAtStart(t *testing.T) {
	for _, skip := range []bool{false, true} {
		s, files := newSink(t, devotest.Options{})
		cfg := sinkConfig(t, s, files)
		cfg.TLS.InsecureSkipVerify = skip
		require.NoError(t, cfg.Validate())
		core, logs := observer.New(zap.WarnLevel)
		tt := componenttest.NewTelemetry()
		set := metadatatest.NewSettings(tt)
		set.Logger = zap.New(core)
		e, err := newExporter(set, cfg)
		require.NoError(t, err)
		require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, e.pushLogs(context.Background(), strLogs("hello")))
		require.NoError(t, e.shutdown(context.Background()))
		require.NoError(t, tt.Shutdown(context.Background()))
		want := 0
		if skip {
			want = 1
		}
		assert.Equal(t, want, logs.FilterMessageSnippet("`tls.insecure_skip_verify` is true").Len(), "insecure_skip_verify=%v", skip)
	}
}
