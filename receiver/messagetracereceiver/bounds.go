package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

// Bounds on what a server or a stored file may make the receiver believe or do. The README's
// "Bounds" section lists them with what happens at each.
const (
	// maxRetryAfter caps a Retry-After: Microsoft's quota window is 5 minutes, so no honest
	// answer asks for longer, and a bigger value (a bug, or a hostile proxy) would otherwise
	// stop every request until a restart.
	maxRetryAfter = 5 * time.Minute
	// maxClockSkew is how far ahead of this machine's clock a stored checkpoint may lie before
	// it is taken for corruption or a clock that jumped.
	maxClockSkew = 5 * time.Minute
)

// refuseRedirect is the CheckRedirect of the login and API client. Microsoft does not redirect
// token or message trace calls; following a redirect would resend the client secret, the
// client assertion or the bearer token to wherever the answer points (another port, plain
// http, another host), so every redirect is refused and reported.
func refuseRedirect(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	from := ""
	if len(via) > 0 {
		from = via[len(via)-1].URL.Scheme + "://" + via[len(via)-1].URL.Host
	}
	// The location is the server's to choose: it could echo the credential it just received.
	location := quote.Value(scrub(redactURL(req.URL), credentialsOf(via)...))
	return &setupError{msg: fmt.Sprintf("%s answered HTTP %d with a redirect to %s: refused, the receiver follows no redirect "+
		"(Microsoft sends none for these calls) so that credentials go only to the configured endpoint; "+
		"check endpoint, login_endpoint and proxy_url", from, status, location)}
}

// credentialsOf returns the credentials the redirected requests carried: the bearer token, and
// the client secret or assertion of a token request's form.
func credentialsOf(via []*http.Request) []string {
	var out []string
	for _, r := range via {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			out = append(out, tok)
		}
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

// scrub removes every form of the given secrets (as sent, form-encoded, path-escaped) from a
// text a server sent back, e.g. a token endpoint's error_description echoing the request.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue // too short to be a secret worth searching for, and would mangle the text
		}
		for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			s = strings.ReplaceAll(s, form, "[REDACTED]")
		}
	}
	return s
}
