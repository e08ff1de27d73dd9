package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"errors"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config is the exporter's user contract.
type Config struct {
	// Endpoint is the Devo relay as host:port, e.g. collector-us.devo.io:443.
	Endpoint string `mapstructure:"endpoint"`
	// TLS holds the client certificate, key and CA chain Devo issued for the domain.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Tag is the Devo tag (table) of records that do not carry their own.
	Tag string `mapstructure:"tag"`

	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	BackOff       configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	Queue         configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	_ struct{}
}

var (
	errMissingEndpoint = errors.New("`endpoint` is required: set it to the Devo relay as host:port, e.g. collector-us.devo.io:443")
	errMissingTag      = errors.New("`tag` is required: set it to the Devo table of records without their own tag, e.g. my.app.otel.logs")
)

// Validate checks the configuration before the exporter is created.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errMissingEndpoint)
	}
	if c.Tag == "" {
		errs = append(errs, errMissingTag)
	}
	return errors.Join(errs...)
}
