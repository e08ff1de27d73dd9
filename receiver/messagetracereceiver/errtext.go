package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"errors"
	"net/url"
	"os"
	"strings"
)

// The little helpers that shape error text, shared by the login, managed identity, request and
// redirect code. They call nothing else in the package, so whichever layer quotes an error
// never calls back into another layer's file for it.

// requestBuildError is a request that could not be built from its URL.
type requestBuildError struct{ err error }

func (e *requestBuildError) Error() string { return "cannot build request: " + e.err.Error() }

// stripURLError drops the request URL from a *url.Error: it is the token URL, harmless, but
// the message reads better without it and the rule is that errors carry no request details.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// unwrapPathError drops the *PathError's repetition of the path, which the message names.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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
