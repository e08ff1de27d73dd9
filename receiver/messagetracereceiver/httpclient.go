package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.opentelemetry.io/collector/component"
)

// newHTTPClient builds the one client of login and API calls from the standard confighttp
// settings, with the receiver's rules on top: no redirect is ever followed (the secret, the
// client assertion and the bearer token go only to the configured login_endpoint and endpoint),
// and the proxy URL, kept apart from ClientConfig so that it prints redacted, is handed back.
// The token requests of x/oauth2 use this client too (it travels under oauth2.HTTPClient).
//
// With the collector's telemetry the transport is wrapped by otelhttp, whose transport does not
// pass CloseIdleConnections on: after Shutdown, kept-alive connections close when the server
// drops them or after keepalive.idle_conn_timeout (90 s by default).
func newHTTPClient(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings) (*http.Client, error) {
	hc := cfg.ClientConfig
	hc.ProxyURL = cfg.proxyURL()
	if hc.ProxyURL != "" {
		// The parser ToClient uses: once it passes here, no error of ToClient quotes the URL.
		if _, err := url.ParseRequestURI(hc.ProxyURL); err != nil {
			return nil, errors.New("`proxy_url` is not a valid URL") // the parser's error quotes credentials
		}
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
		return nil, fmt.Errorf("HTTP client settings: %w", err)
	}
	client.CheckRedirect = refuseRedirect
	return client, nil
}
