package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strconv"

	"golang.org/x/oauth2"
)

// requester is the second layer of a request: one authorised GET and its body, read within
// bounds (body.go). It knows nothing of what the answer means (classify.go) or whether to try
// again (retry.go).
type requester struct {
	http    *http.Client
	tokens  oauth2.TokenSource
	observe func(status string, throttled bool) // per request, for self-metrics
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// requestKind names a kind of request in its errors.
type requestKind struct {
	failed, reading string
}

var (
	pageRequest    = requestKind{failed: "request failed", reading: "reading response"}
	detailsRequest = requestKind{failed: "details request failed", reading: "reading details"}
)

// bodyRead bounds the body of one request: at most limit bytes, taken from hold (nil: none) as
// it is read, at least atLeast (the page size's estimate).
type bodyRead struct {
	limit   int64
	hold    *pageHold
	atLeast int64
}

// get sends one request. connected (nil: none) is called once the request has its connection
// (handshake done), not when the answer comes: Microsoft's seconds of thinking must not hold
// other tenants' start slots. The token is asked for here, after admission, so it is fresh.
func (q *requester) get(ctx context.Context, url string, kind requestKind, connected func(), bounds bodyRead) (*answer, error) {
	tok, err := q.tokens.Token()
	if err != nil {
		return nil, err
	}
	if connected != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected() }})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return nil, &requestBuildError{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := q.http.Do(req)
	if err != nil {
		q.observe("error", false)
		return nil, fmt.Errorf("%s: %w", kind.failed, stripURLError(err))
	}
	defer resp.Body.Close()
	// Memory is taken once the answer starts, not before the request: Microsoft's seconds of
	// thinking then cost no budget, so many tenants can wait on the API at once. readBody
	// takes more as the body grows, before each buffer is allocated.
	body, err := readBody(ctx, resp, bounds.limit, bounds.hold, bounds.atLeast)
	if err == nil {
		err = bounds.hold.take(ctx, int64(len(body))*inFlightBytesPerBodyByte)
	}
	q.observe(strconv.Itoa(resp.StatusCode), resp.StatusCode == http.StatusTooManyRequests)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind.reading, err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}
