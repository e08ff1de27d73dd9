package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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

// fetchDetails sends one details request that already holds its budget slots. It never
// retries by itself: a failed row is tried again at a later turn, up to max_attempts.
func (c *apiClient) fetchDetails(ctx context.Context, p *pendingDetail) ([]detailEvent, error) {
	tok, err := c.tokens.Token()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.detailsURL(p, c.now()), http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot build request: %v", errDetailsRefused, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe("error", false)
		return nil, fmt.Errorf("details request failed: %w", stripURLError(err))
	}
	defer resp.Body.Close()
	body, err := readBody(ctx, resp, maxDetailBodyBytes, nil, 0)
	c.observe(strconv.Itoa(resp.StatusCode), resp.StatusCode == http.StatusTooManyRequests)
	if err != nil {
		return nil, fmt.Errorf("reading details: %w", err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return c.api.decodeDetails(body)
	case code == http.StatusTooManyRequests || (code == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
		c.budget.pauseUntil(c.now().Add(c.retryAfter(resp.Header.Get("Retry-After"))))
		return nil, errDetailsThrottled
	case code == http.StatusUnauthorized:
		c.tokens.invalidate()
		return nil, fmt.Errorf("details answered 401 (%s)", apiMessage(body))
	case code == http.StatusBadRequest || code == http.StatusForbidden || code == http.StatusNotFound:
		return nil, fmt.Errorf("%w: HTTP %d (%s)", errDetailsRefused, code, apiMessage(body))
	default:
		return nil, fmt.Errorf("details answered HTTP %d (%s)", code, apiMessage(body))
	}
}
