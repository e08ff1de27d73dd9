package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/component"
)

// newHTTPClient builds the one client of login and API calls from the standard confighttp
// settings, with the receiver's rules on top: no redirect is ever followed (the secret, the
// client assertion and the bearer token go only to the configured login_endpoint and endpoint),
// and the proxy URL, kept apart from ClientConfig so that it prints redacted, is handed back.
// The token requests of x/oauth2 use this client too (it travels under oauth2.HTTPClient).
func newHTTPClient(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings) (*http.Client, error) {
	hc := cfg.ClientConfig
	hc.ProxyURL = cfg.proxyURL()
	var password string
	if hc.ProxyURL != "" {
		u, err := url.Parse(hc.ProxyURL)
		if err != nil {
			return nil, errors.New("`proxy_url` is not a valid URL") // the parser's error quotes credentials
		}
		password, _ = u.User.Password()
	}
	// Loaded here first so that a bad file is reported under its key; ToClient loads it again.
	if _, err := hc.TLS.LoadTLSConfig(ctx); err != nil {
		return nil, fmt.Errorf("`tls`: %w", err)
	}
	var extensions map[component.ID]component.Component
	if host != nil {
		extensions = host.GetExtensions()
	}
	client, err := hc.ToClient(ctx, extensions, set)
	if err != nil {
		// confighttp's errors may quote the proxy URL.
		msg := err.Error()
		if hc.ProxyURL != "" {
			msg = scrub(strings.ReplaceAll(msg, hc.ProxyURL, ProxyURL(hc.ProxyURL).String()), password)
		}
		return nil, fmt.Errorf("HTTP client settings: %s", msg)
	}
	client.CheckRedirect = refuseRedirect
	return client, nil
}
