package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// detailsURL is the request for one (message, recipient).
func (c *apiClient) detailsURL(p *pendingDetail, now time.Time) string {
	return c.api.detailsURL(strings.TrimRight(c.base.String(), "/"), p, now)
}

// Outcomes of one details request.
var (
	// errDetailsThrottled: the server said 429; everything pauses, the row stays pending.
	errDetailsThrottled = errors.New("details request throttled")
	// errDetailsRefused: the answer will not change (400, 403, 404): retrying wastes quota.
	errDetailsRefused = errors.New("details request refused")
)

// fetchDetails sends one details request that already holds its budget slots (details.go
// takes them: admission), through the same request layer as pages, and classifies its answer.
// It never retries by itself: a failed row is tried again at a later turn, up to max_attempts.
func (c *apiClient) fetchDetails(ctx context.Context, p *pendingDetail) ([]detailEvent, error) {
	a, err := c.request.get(ctx, c.detailsURL(p, c.now()), detailsRequest, nil, bodyRead{limit: maxDetailBodyBytes})
	var be *requestBuildError
	switch {
	case errors.As(err, &be):
		return nil, fmt.Errorf("%w: %w", errDetailsRefused, be)
	case err != nil:
		return nil, err
	}
	return c.classifyDetails(a)
}

// classifyDetails decodes a details answer, or pauses the budget or forgets the token as the
// answer asks.
func (c *apiClient) classifyDetails(a *answer) ([]detailEvent, error) {
	switch code := a.status; {
	case code == http.StatusOK:
		return c.api.decodeDetails(a.body)
	case code == http.StatusTooManyRequests || (code == http.StatusServiceUnavailable && a.header.Get("Retry-After") != ""):
		c.budget.pauseUntil(c.now().Add(parseRetryAfter(a.header.Get("Retry-After"), c.now())))
		return nil, errDetailsThrottled
	case code == http.StatusUnauthorized:
		c.tokens.invalidate()
		return nil, fmt.Errorf("details answered 401 (%s)", apiMessage(a.body))
	case code == http.StatusBadRequest || code == http.StatusForbidden || code == http.StatusNotFound:
		return nil, fmt.Errorf("%w: HTTP %d (%s)", errDetailsRefused, code, apiMessage(a.body))
	default:
		return nil, fmt.Errorf("details answered HTTP %d (%s)", code, apiMessage(a.body))
	}
}
