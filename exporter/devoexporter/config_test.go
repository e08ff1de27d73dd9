package devoexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestLoadConfig(t *testing.T) {
	tlsFiles := configtls.NewDefaultClientConfig()
	tlsFiles.CAFile, tlsFiles.CertFile, tlsFiles.KeyFile = "certs/chain.crt", "certs/domain.crt", "certs/domain.key"

	defaults := func() *Config {
		c := createDefaultConfig().(*Config)
		c.Endpoint, c.Tag, c.TLS = "collector-us.devo.io:443", "my.app.otel.logs", tlsFiles
		return c
	}

	full := createDefaultConfig().(*Config)
	full.Endpoint = "collector-eu.devo.io:443"
	full.TLS = tlsFiles
	full.TLS.ServerName = "eu.elb.relay.logtrust.net"
	full.Tag, full.TagAttribute, full.Hostname = "cloud.office365.messagetracing", "devo_table", "collector-01"
	full.Facility, full.DateFormat, full.Framing, full.Compression = 16, DateFormatSDK, FramingOctetCounting, CompressionNone
	full.MaxEventSize, full.PullingID, full.Delivery = 65536, false, DeliveryFast
	full.IdleTimeout, full.MaxConnectionAge = 10*time.Second, 30*time.Minute
	full.TimeoutConfig.Timeout = 10 * time.Second
	full.BackOff = configretry.NewDefaultBackOffConfig()
	full.BackOff.InitialInterval, full.BackOff.MaxElapsedTime = time.Second, 0
	storage := component.MustNewIDWithName("file_storage", "devo")
	full.MaxSegmentRecords, full.MinSegmentRecords = 4096, 16
	q := *createDefaultConfig().(*Config).Queue.Get()
	q.NumConsumers, q.QueueSize, q.StorageID = 4, 64<<20, &storage
	q.WaitForResult = false // turned off because storage is set
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.FlushTimeout, batch.MinSize, batch.MaxSize = time.Second, 4096, 16384
	q.Batch = configoptional.Some(batch)
	full.Queue = configoptional.Some(q)

	relay := createDefaultConfig().(*Config)
	relay.Endpoint, relay.Tag, relay.Compression = "10.0.0.5:13000", "my.app.relay", CompressionGzip
	relay.TLS.Insecure = true
	relay.Queue = configoptional.None[exporterhelper.QueueBatchConfig]()

	tests := []struct {
		name string
		want *Config
	}{
		{"", defaults()},
		{"full", full},
		{"gzip_no_queue", relay},
	}
	for _, tt := range tests {
		t.Run("devo/"+tt.name, func(t *testing.T) {
			got, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			require.NoError(t, confmap.Validate(got))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDefaultConfigMatchesContract(t *testing.T) {
	c := createDefaultConfig().(*Config)
	assert.Equal(t, "devo.tag", c.TagAttribute)
	assert.Equal(t, 1, c.Facility)
	assert.Equal(t, DateFormatCollector, c.DateFormat)
	assert.Equal(t, FramingLF, c.Framing)
	assert.Equal(t, CompressionNone, c.Compression)
	assert.Equal(t, 1048576, c.MaxEventSize)
	assert.True(t, c.PullingID)
	assert.Equal(t, DeliveryConfirmed, c.Delivery)
	assert.Equal(t, 25*time.Second, c.IdleTimeout)
	assert.Equal(t, time.Hour, c.MaxConnectionAge)
	assert.Equal(t, 30*time.Second, c.TimeoutConfig.Timeout)
	require.True(t, c.Queue.HasValue(), "queue on by default")
	assert.True(t, c.Queue.Get().Batch.HasValue(), "batching on by default")
	// The delivery guarantee of the defaults (README "Delivery guarantees").
	q := c.Queue.Get()
	assert.True(t, q.WaitForResult, "callers (and the receiver's checkpoint) wait for Devo's confirmation")
	assert.True(t, q.BlockOnOverflow, "a full queue makes callers wait instead of refusing rows")
	assert.Nil(t, q.StorageID)
	assert.Equal(t, exporterhelper.RequestSizerTypeBytes, q.Sizer, "the queue is bounded in bytes")
	assert.Equal(t, int64(32<<20), q.QueueSize)
	assert.Equal(t, 4, q.NumConsumers)
	assert.Equal(t, int64(2000), q.Batch.Get().MinSize)
	assert.True(t, c.BackOff.Enabled)
	assert.Zero(t, c.BackOff.MaxElapsedTime, "retries never give up")
	assert.Equal(t, 8192, c.MaxSegmentRecords)
	assert.Equal(t, 64, c.MinSegmentRecords)
	assert.Empty(t, riskWarnings(c), "the defaults are the safe settings")
	// Without endpoint and tag the default config is not usable: both are required.
	err := c.Validate()
	require.Error(t, err)
	assert.ErrorIs(t, err, errMissingEndpoint)
	assert.ErrorIs(t, err, errMissingTag)
}

// A user who adds only a persistent queue's storage gets a valid persistent queue (not the
// error exporterhelper gives for wait_for_result with storage), still blocking when full.
func TestPersistentQueueTurnsWaitForResultOff(t *testing.T) {
	cfg, err := loadConfig(t, "persistent_queue_only_storage")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	q := cfg.Queue.Get()
	require.NotNil(t, q.StorageID)
	assert.Equal(t, "file_storage", q.StorageID.String())
	assert.False(t, q.WaitForResult)
	assert.True(t, q.BlockOnOverflow)
	assert.Equal(t, exporterhelper.RequestSizerTypeBytes, q.Sizer)
	assert.Equal(t, int64(16<<20), q.QueueSize, "a persistent queue's own default size")
	assert.Equal(t, 4, q.NumConsumers)
	require.True(t, q.Batch.HasValue(), "batching stays on")
	assert.Equal(t, int64(1000), q.Batch.Get().MinSize, "a persistent queue's own batch: one queued part")
	assert.Equal(t, int64(1000), q.Batch.Get().MaxSize, "a persistent queue's own batch: one queued part")
	assert.Equal(t, 200*time.Millisecond, q.Batch.Get().FlushTimeout)
	assert.Empty(t, riskWarnings(cfg), "a blocking persistent queue keeps the guarantee")
}

// A persistent queue's batch default gives way to a user's min_size (max_size stays unset, so
// it is never below the user's min_size).
func TestPersistentQueueKeepsUserBatchSize(t *testing.T) {
	cfg, err := loadConfig(t, "persistent_queue_min_size")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	b := cfg.Queue.Get().Batch.Get()
	require.NotNil(t, b)
	assert.Equal(t, int64(4096), b.MinSize)
	assert.Zero(t, b.MaxSize)
}

func TestRiskWarnings(t *testing.T) {
	cfg, err := loadConfig(t, "risky")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))
	keys := map[string]string{}
	for _, w := range riskWarnings(cfg) {
		keys[w.key] = w.risk
	}
	assert.Contains(t, keys["retry_on_failure::max_elapsed_time"], "after 5m0s")
	assert.Contains(t, keys["sending_queue::wait_for_result"], "a crash or kill loses")
	assert.Contains(t, keys["sending_queue::block_on_overflow"], "refused")
	assert.Contains(t, keys["delivery"], "reset loses")
	assert.Len(t, keys, 4)

	cfg.BackOff.Enabled = false
	found := false
	for _, w := range riskWarnings(cfg) {
		found = found || w.key == "retry_on_failure::enabled"
	}
	assert.True(t, found, "disabled retries are warned about")
}

func TestLoadConfigTypo(t *testing.T) {
	_, err := loadConfig(t, "typo")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tag_atribute")
}

func TestConfigValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		want string // every message names the key in backticks and says what is accepted
	}{
		{"invalid_endpoint_missing", "`endpoint` is required"},
		{"invalid_endpoint_no_port", "`endpoint` \"collector-us.devo.io\" must be host:port"},
		{"invalid_endpoint_port", "invalid port: use 1-65535"},
		{"invalid_tag_missing", "`tag` is required"},
		{"invalid_tag_space", "`tag` \"my app\" is invalid: tag contains a space or control character at byte 2"},
		{"invalid_tag_control", "`tag` \"my.app\\t\" is invalid: tag contains a space or control character"},
		{"invalid_tag_double_dot", "tag has an empty segment"},
		{"invalid_tag_attribute", "`tag_attribute` \"devo tag\" must not contain spaces"},
		{"invalid_hostname", "`hostname` \"my host\" is invalid"},
		{"invalid_facility", "`facility` must be between 0 and 23"},
		{"invalid_date_format", "`date_format` must be one of [\"collector\" \"sdk\"], got \"rfc3339\""},
		{"invalid_framing", "`framing` must be one of [\"lf\" \"octet_counting\"], got \"crlf\""},
		{"invalid_compression", "`compression` must be one of [\"none\" \"gzip\"], got \"zstd\""},
		{"invalid_gzip_octet", "`compression: gzip` requires `framing: lf`"},
		{"invalid_delivery", "`delivery` must be one of [\"confirmed\" \"fast\"], got \"reliable\""},
		{"invalid_max_event_size", "`max_event_size` must be between 2048 and 67108864 bytes, got 100"},
		{"invalid_idle_timeout", "`idle_timeout` must be positive"},
		{"invalid_max_connection_age", "`max_connection_age` must be positive"},
		{"invalid_timeout", "`timeout` must be positive"},
		{"invalid_tls_version", "`tls.min_version` must be \"1.2\" or \"1.3\""},
		{"invalid_tls_max_version", "`tls.max_version` must be \"1.2\", \"1.3\" or empty"},
		{"invalid_tls_cert_without_key", "tls: TLS configuration must include both certificate and key"},
		{"invalid_queue", "`num_consumers` must be positive"},
		{"invalid_wait_with_storage", "`sending_queue::wait_for_result` cannot be true together with `sending_queue::storage`"},
		{"invalid_queue_bytes", "`sending_queue::queue_size` is 1000 bytes: use at least 16777216"},
		{"invalid_segment_min", "`min_segment_records` must be at least 1"},
		{"invalid_segment_max", "`max_segment_records` (100) must be at least `min_segment_records` (200)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			err = confmap.Validate(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
