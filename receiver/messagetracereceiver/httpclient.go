package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
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

// newMetadataHTTPClient is the client of managed identity requests: never through a proxy
// (the metadata service answers only on this machine, and a proxy would see the token), no
// redirect, the receiver's TLS settings (a stand-in's CA) and timeout.
func newMetadataHTTPClient(ctx context.Context, cfg *Config) (*http.Client, error) {
	tlsCfg, err := cfg.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("`tls`: %w", err)
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			TLSClientConfig:     tlsCfg,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        1,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: refuseMetadataRedirect,
		Timeout:       cfg.Timeout,
	}, nil
}

// refuseRedirect is the CheckRedirect of the login and API client. Microsoft does not redirect
// token or message trace calls; following a redirect would resend the client secret, the
// client assertion or the bearer token to wherever the answer points (another port, plain
// http, another host), so every redirect is refused and reported.
func refuseRedirect(req *http.Request, via []*http.Request) error {
	from, status, location := redirected(req, via)
	return &setupError{msg: fmt.Sprintf(redirectRefused+"check endpoint, login_endpoint and proxy_url", from, status, location)}
}

// refuseMetadataRedirect is the CheckRedirect of managed identity requests, whose address
// comes from managed_identity.endpoint or the platform's IDENTITY_ENDPOINT.
func refuseMetadataRedirect(req *http.Request, via []*http.Request) error {
	from, status, location := redirected(req, via)
	return &setupError{msg: fmt.Sprintf(redirectRefused+"check managed_identity.endpoint and the environment's IDENTITY_ENDPOINT", from, status, location)}
}

// redirectRefused starts both refusals; one literal, so the troubleshooting table's check reads it.
const redirectRefused = "%s answered HTTP %d with a redirect to %s: refused, the receiver follows no redirect (Microsoft sends none for these calls) so that credentials go only to the configured endpoint; "

// redirected says who redirected, with which status, and where to.
func redirected(req *http.Request, via []*http.Request) (from string, status int, location string) {
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	if len(via) > 0 {
		from = via[len(via)-1].URL.Scheme + "://" + via[len(via)-1].URL.Host
	}
	// The location is the server's to choose: it could echo the credential it just received.
	return from, status, quote.Value(scrub(redactURL(req.URL), credentialsOf(via)...))
}

// credentialsOf returns the credentials the redirected requests carried: the bearer token, the
// client secret or assertion of a token request's form, and a managed identity request's App
// Service header or Azure Arc key.
func credentialsOf(via []*http.Request) []string {
	var out []string
	for _, r := range via {
		auth := r.Header.Get("Authorization")
		if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
			out = append(out, tok)
		}
		if key, ok := strings.CutPrefix(auth, "Basic "); ok {
			out = append(out, key)
		}
		out = append(out, r.Header.Get("X-IDENTITY-HEADER"))
		if r.GetBody == nil {
			continue
		}
		body, err := r.GetBody()
		if err != nil {
			continue
		}
		raw, _ := io.ReadAll(io.LimitReader(body, 64<<10))
		_ = body.Close()
		if form, err := url.ParseQuery(string(raw)); err == nil {
			out = append(out, form.Get("client_secret"), form.Get("client_assertion"))
		}
	}
	return out
}

// redactURL is a URL without userinfo or query, which may carry credentials.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment = nil, "", false, ""
	return c.String()
}
