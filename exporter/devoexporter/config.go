package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Date formats (key `date_format`).
const (
	// DateFormatCollector writes the record's time as UTC "YYYY-MM-DD HH:MM:SS.mmm", as Devo's
	// collectors do.
	DateFormatCollector = "collector"
	// DateFormatSDK writes the constant "Jan  1 00:00:00", as Devo's Python SDK does.
	DateFormatSDK = "sdk"
)

// Framings (key `framing`).
const (
	// FramingLF ends each event with LF and escapes line breaks inside it.
	FramingLF = "lf"
	// FramingOctetCounting prefixes each event with its length (RFC 6587), so line breaks pass.
	FramingOctetCounting = "octet_counting"
)

// Compressions (key `compression`).
const (
	CompressionNone = "none"
	// CompressionGzip sends LF frames inside gzip members, as Devo's SDK "zip" mode does.
	CompressionGzip = "gzip"
)

// Delivery modes (key `delivery`).
const (
	// DeliveryConfirmed reports a push as done only after the server closed the push's
	// connection cleanly in answer to our half-close, i.e. after it read everything.
	DeliveryConfirmed = "confirmed"
	// DeliveryFast keeps connections open across pushes and trusts successful writes.
	DeliveryFast = "fast"
)

// Limits enforced by Validate.
const (
	maxTagLen      = 1024 // Devo's Collector SDK rejects longer tags
	maxHostnameLen = 255
	minEventSize   = 2048     // always room for the longest header plus the truncation marker
	maxEventSize   = 64 << 20 // beyond this a single event is surely a mistake
	// minQueueBytes keeps room for the largest page the receiver hands over at once (5,000 rows
	// of about 1 KiB): a request larger than the queue could never enter it and would be
	// offered again forever.
	minQueueBytes = 16 << 20
)

// Defaults of the delivery path (see README "Delivery guarantees").
const (
	// defaultQueueBytes bounds what the sending queue holds, in serialized bytes: memory with
	// the in-memory queue, disk with `storage`.
	defaultQueueBytes = 32 << 20
	// defaultPersistentQueueBytes is the default with `storage`: bbolt maps the queue file, and
	// every page of it read back counts in RSS, so a full 32 MiB queue (a file of ~48 MB) read
	// after a restart put the collector over its 150 MB target (BENCHMARKS.md, issue 20). When
	// it is full the receiver waits, as with the in-memory queue: nothing is lost.
	defaultPersistentQueueBytes = 16 << 20
	// defaultPersistentBatchRecords is `batch::min_size` and `batch::max_size` with `storage`:
	// one queued part (queueItemRecords) per push, so the batches held by the consumers are
	// half those of the in-memory queue and none is merged from parts read back.
	defaultPersistentBatchRecords = queueItemRecords
	// defaultMaxSegmentRecords is the first (and largest) segment of a `confirmed` push.
	defaultMaxSegmentRecords = 8192
	// defaultMinSegmentRecords is the smallest segment adaptation goes down to.
	defaultMinSegmentRecords = 64
)

// Config is the exporter's user contract (see README.md for every key).
type Config struct {
	// Endpoint is the Devo ELB or relay as host:port, e.g. collector-us.devo.io:443.
	Endpoint string `mapstructure:"endpoint"`
	// TLS holds the client certificate, key and CA chain Devo issued for the domain.
	// `insecure: true` sends plain TCP, for an on-prem relay port only.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Tag is the Devo tag (table) of records that do not carry their own.
	Tag string `mapstructure:"tag"`
	// TagAttribute names a record (first) or resource attribute whose string value overrides Tag.
	// Empty disables per-record routing.
	TagAttribute string `mapstructure:"tag_attribute"`
	// Hostname is written in every header; empty means the machine's host name.
	Hostname string `mapstructure:"hostname"`
	// Facility is the syslog facility (0-23); the severity comes from each record.
	Facility int `mapstructure:"facility"`
	// DateFormat is "collector" or "sdk".
	DateFormat string `mapstructure:"date_format"`
	// Framing is "lf" or "octet_counting".
	Framing string `mapstructure:"framing"`
	// Compression is "none" or "gzip".
	Compression string `mapstructure:"compression"`
	// MaxEventSize bounds one event (header, message and terminator) in bytes.
	MaxEventSize int `mapstructure:"max_event_size"`
	// PullingID adds "@devo_pulling_id" to map bodies, as Devo's collectors do.
	PullingID bool `mapstructure:"pulling_id"`
	// Delivery is "confirmed" or "fast".
	Delivery string `mapstructure:"delivery"`
	// IdleTimeout recycles a pooled connection idle this long (Devo closes idle ones near 30 s).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxConnectionAge recycles a pooled connection this old.
	MaxConnectionAge time.Duration `mapstructure:"max_connection_age"`
	// MaxSegmentRecords is the largest segment of a `confirmed` push: each segment goes on its
	// own connection and is confirmed on its own, so a failure repeats at most one segment.
	MaxSegmentRecords int `mapstructure:"max_segment_records"`
	// MinSegmentRecords is the smallest segment: after failures the size halves down to it.
	MinSegmentRecords int `mapstructure:"min_segment_records"`

	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	BackOff       configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	Queue         configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	_ struct{}
}

// Unmarshal applies the user's keys over the defaults. The defaults wait for each push's
// result (wait_for_result), which exporterhelper rejects with a persistent queue: a user who
// only adds `sending_queue::storage` means a persistent queue, so waiting is turned off for
// them; setting both explicitly is still an error (see Validate). A persistent queue also gets
// its own default size (defaultPersistentQueueBytes) unless `queue_size` is set, and batches of
// defaultPersistentBatchRecords unless `batch::min_size` or `batch::max_size` is set.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	if q := c.Queue.Get(); q != nil && q.StorageID != nil {
		if !conf.IsSet("sending_queue::wait_for_result") {
			q.WaitForResult = false
		}
		if !conf.IsSet("sending_queue::queue_size") && q.Sizer == exporterhelper.RequestSizerTypeBytes {
			q.QueueSize = defaultPersistentQueueBytes
		}
		// Batches of one queued part each (see queueItemRecords): with 2,000-row batches the
		// consumers stuck on a Devo that stopped reading, and the batches merged after a
		// restart, put the peak over 150 MB in some runs (BENCHMARKS.md, issue 20).
		b := q.Batch.Get()
		if b != nil && b.Sizer == exporterhelper.RequestSizerTypeItems &&
			!conf.IsSet("sending_queue::batch::min_size") && !conf.IsSet("sending_queue::batch::max_size") {
			b.MinSize, b.MaxSize = defaultPersistentBatchRecords, defaultPersistentBatchRecords
		}
	}
	return nil
}

var (
	errMissingEndpoint = errors.New("`endpoint` is required: set it to the Devo relay as host:port, e.g. collector-us.devo.io:443")
	errMissingTag      = errors.New("`tag` is required: set it to the Devo table of records without their own tag, e.g. my.app.otel.logs")
)

// Validate checks the configuration before the exporter is created. Certificate files are read
// in Start, so a missing file fails start-up with the key named (see loadTLS).
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(validateEndpoint(c.Endpoint))
	if c.Tag == "" {
		add(errMissingTag)
	} else if err := validateTag(c.Tag); err != nil {
		add(fmt.Errorf("`tag` %q is invalid: %w", c.Tag, err))
	}
	if c.TagAttribute != "" && !printableNoSpace(c.TagAttribute) {
		add(fmt.Errorf("`tag_attribute` %q must not contain spaces or control characters", c.TagAttribute))
	}
	if c.Hostname != "" {
		if err := validateHostname(c.Hostname); err != nil {
			add(fmt.Errorf("`hostname` %q is invalid: %w (leave it empty for the machine's host name)", c.Hostname, err))
		}
	}
	if c.Facility < 0 || c.Facility > 23 {
		add(fmt.Errorf("`facility` must be between 0 and 23 (syslog facilities), got %d", c.Facility))
	}
	add(oneOf("date_format", c.DateFormat, DateFormatCollector, DateFormatSDK))
	add(oneOf("framing", c.Framing, FramingLF, FramingOctetCounting))
	add(oneOf("compression", c.Compression, CompressionNone, CompressionGzip))
	add(oneOf("delivery", c.Delivery, DeliveryConfirmed, DeliveryFast))
	if c.Compression == CompressionGzip && c.Framing == FramingOctetCounting {
		add(errors.New("`compression: gzip` requires `framing: lf`: Devo's SDK only sends LF lines inside gzip members"))
	}
	if c.MaxEventSize < minEventSize || c.MaxEventSize > maxEventSize {
		add(fmt.Errorf("`max_event_size` must be between %d and %d bytes, got %d", minEventSize, maxEventSize, c.MaxEventSize))
	}
	if c.IdleTimeout <= 0 {
		add(fmt.Errorf("`idle_timeout` must be positive (Devo closes idle connections after about 30s; 25s is a good value), got %s", c.IdleTimeout))
	}
	if c.MaxConnectionAge <= 0 {
		add(fmt.Errorf("`max_connection_age` must be positive (e.g. 1h), got %s", c.MaxConnectionAge))
	}
	if c.MinSegmentRecords < 1 {
		add(fmt.Errorf("`min_segment_records` must be at least 1, got %d", c.MinSegmentRecords))
	}
	if c.MaxSegmentRecords < c.MinSegmentRecords {
		add(fmt.Errorf("`max_segment_records` (%d) must be at least `min_segment_records` (%d)", c.MaxSegmentRecords, c.MinSegmentRecords))
	}
	add(validateQueue(c.Queue.Get()))
	if c.TimeoutConfig.Timeout <= 0 {
		add(fmt.Errorf("`timeout` must be positive: it bounds connecting, each write and the delivery confirmation, got %s", c.TimeoutConfig.Timeout))
	}
	if v := c.TLS.MinVersion; v == "1.0" || v == "1.1" {
		add(fmt.Errorf("`tls.min_version` must be \"1.2\" or \"1.3\", got %q: Devo requires TLS 1.2 or newer", v))
	}
	if v := c.TLS.MaxVersion; v == "1.0" || v == "1.1" {
		add(fmt.Errorf("`tls.max_version` must be \"1.2\", \"1.3\" or empty, got %q: Devo requires TLS 1.2 or newer", v))
	}
	return errors.Join(errs...)
}

// validateQueue adds what exporterhelper's own checks miss for this exporter's promise.
func validateQueue(q *exporterhelper.QueueBatchConfig) error {
	if q == nil {
		return nil
	}
	if q.StorageID != nil && q.WaitForResult {
		return errors.New("`sending_queue::wait_for_result` cannot be true together with `sending_queue::storage`: " +
			"a persistent queue makes rows durable on disk instead; remove `wait_for_result`")
	}
	if q.Sizer == exporterhelper.RequestSizerTypeBytes && q.QueueSize < minQueueBytes {
		return fmt.Errorf("`sending_queue::queue_size` is %d bytes: use at least %d (16 MiB), or a page of rows could never enter the queue",
			q.QueueSize, minQueueBytes)
	}
	return nil
}

func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return errMissingEndpoint
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil || host == "" {
		return fmt.Errorf("`endpoint` %q must be host:port, e.g. collector-us.devo.io:443", endpoint)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("`endpoint` %q has an invalid port: use 1-65535 (Devo's cloud ELBs listen on 443)", endpoint)
	}
	return nil
}

func oneOf(key, got string, accepted ...string) error {
	for _, a := range accepted {
		if got == a {
			return nil
		}
	}
	return fmt.Errorf("`%s` must be one of %q, got %q", key, accepted, got)
}

func validateHostname(h string) error {
	if len(h) > maxHostnameLen {
		return fmt.Errorf("longer than %d bytes", maxHostnameLen)
	}
	if !printableNoSpace(h) {
		return errors.New("must not contain spaces or control characters")
	}
	return nil
}

// printableNoSpace reports whether s is non-empty and has no space, control or non-ASCII byte:
// such a byte would split or corrupt the syslog header.
func printableNoSpace(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
