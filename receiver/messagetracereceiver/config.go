package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
)

// Config is the receiver's user contract.
type Config struct {
	// TenantID is the Entra ID tenant (GUID or verified domain) whose message trace is read.
	TenantID string `mapstructure:"tenant_id"`
	// ClientID is the application (client) id of the app registration.
	ClientID string `mapstructure:"client_id"`
	// ClientSecret authenticates the app registration.
	ClientSecret configopaque.String `mapstructure:"client_secret"`
	// StorageID names the storage extension that keeps the checkpoint.
	StorageID *component.ID `mapstructure:"storage"`

	_ struct{}
}

var (
	errMissingTenantID     = errors.New("`tenant_id` is required: set it to the tenant GUID or a verified domain")
	errMissingClientID     = errors.New("`client_id` is required: set it to the application (client) id of the app registration")
	errMissingClientSecret = errors.New("`client_secret` is required: set it, e.g. client_secret: ${env:O365_CLIENT_SECRET}")
)

// Validate checks the configuration before the receiver is created.
func (c *Config) Validate() error {
	var errs []error
	if c.TenantID == "" {
		errs = append(errs, errMissingTenantID)
	}
	if c.ClientID == "" {
		errs = append(errs, errMissingClientID)
	}
	if c.ClientSecret == "" {
		errs = append(errs, errMissingClientSecret)
	}
	return errors.Join(errs...)
}
