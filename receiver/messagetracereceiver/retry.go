package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v7"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

// retryPolicy bounds the retries of one page request: retry_on_failure for transient failures
// (5xx, timeouts, non-JSON and truncated bodies), and a count of 429s, whose waits Microsoft
// sets and which do not use up retry_on_failure.
type retryPolicy struct {
	backoff      configretry.BackOffConfig
	maxThrottles int // 429s tolerated for one page before the poll gives up
}

// maxThrottles is the number of 429s in a row after which a page is left to the next poll.
const maxThrottles = 10

// retrier is the last layer of a page request: whether and when to try again, from the type
// of the error (classify.go).
type retrier struct {
	policy retryPolicy
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	logger *zap.Logger
	// pauseUntil stops all requests of the tenant (the request budget's), for a Retry-After.
	pauseUntil func(time.Time)
	// relogin forgets the cached token after a 401, so that the next attempt logs in again.
	relogin func()
}

// retryState is what one request's retries have used so far.
type retryState struct {
	failures     int
	firstFailure time.Time
	throttles    int
	refreshed    bool
	backoff      *backoff.ExponentialBackOff
}

// newBackOff is retry_on_failure's schedule as the collector's exporters use it: initial_interval
// times multiplier per earlier failure, capped at max_interval, randomised by
// ±randomization_factor after the cap.
//
// This equals the receiver's hand-written schedule before issue 22 only because validateRetry
// (config.go) requires initial_interval > 0, max_interval >= initial_interval and multiplier
// >= 1. Outside them the two differ: the library does not cap the first wait at max_interval,
// and with a multiplier below 1 an interval truncated to 0 starts again at initial_interval.
// TestBackOffScheduleIsPinned pins the waits.
func newBackOff(b configretry.BackOffConfig) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     b.InitialInterval,
		RandomizationFactor: b.RandomizationFactor,
		Multiplier:          b.Multiplier,
		MaxInterval:         b.MaxInterval,
	}
}

// run calls attempt until it succeeds or the policy gives up.
func (r *retrier) run(ctx context.Context, attempt func(context.Context) error) error {
	s := retryState{backoff: newBackOff(r.policy.backoff)}
	for {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.next(ctx, &s, err); err != nil {
			return err
		}
	}
}

// next decides about a failed attempt: nil to try again (after any wait), or the error that
// ends the request.
func (r *retrier) next(ctx context.Context, s *retryState, err error) error {
	var unauthorized *unauthorizedError
	var throttled *throttledError
	switch {
	case errors.As(err, &unauthorized):
		// A token can be revoked or expire early; log in once more before calling it setup.
		if s.refreshed || unauthorized.servicePrincipalMissing {
			return unauthorized.setup()
		}
		s.refreshed = true
		r.relogin()
		return nil
	case errors.As(err, &throttled):
		return r.throttled(s, throttled)
	case isPermanent(err):
		return err
	case errors.Is(err, errPageRefused):
		// The same request would bring the same answer: spend no more quota on it this poll.
		return err
	}
	return r.backOff(ctx, s, err)
}

// throttled pauses every request of the tenant for the server's Retry-After.
func (r *retrier) throttled(s *retryState, err *throttledError) error {
	s.throttles++
	r.pauseUntil(r.now().Add(err.wait))
	if s.throttles > r.policy.maxThrottles {
		return fmt.Errorf("throttled %d times in a row: %w", s.throttles, err)
	}
	r.logger.Info("Microsoft throttled the receiver; pausing all requests", zap.Duration("retry_after", err.wait))
	if err.capped != "" {
		r.logger.Warn("the API asked to wait longer than Microsoft's 5-minute quota window; waiting 5m instead",
			zap.String("retry_after_header", quote.Value(err.capped)))
	}
	return nil
}

// backOff waits before the next try of a transient failure, within retry_on_failure.
func (r *retrier) backOff(ctx context.Context, s *retryState, err error) error {
	s.failures++
	if s.failures == 1 {
		s.firstFailure = r.now()
	}
	b := r.policy.backoff
	if !b.Enabled {
		return fmt.Errorf("giving up on this page at the first failure (retry_on_failure.enabled is false): %w", err)
	}
	wait := s.backoff.NextBackOff()
	// As configretry means it: no retry that would start after max_elapsed_time; 0 retries
	// until the receiver shuts down.
	if elapsed := r.now().Sub(s.firstFailure); b.MaxElapsedTime > 0 && elapsed+wait > b.MaxElapsedTime {
		return fmt.Errorf("giving up on this page after %d attempts in %v (retry_on_failure.max_elapsed_time %v): %w",
			s.failures, elapsed.Round(time.Millisecond), b.MaxElapsedTime, err)
	}
	r.logger.Warn("message trace request failed; retrying", zap.Error(err), zap.Int("attempt", s.failures), zap.Duration("backoff", wait))
	return r.sleep(ctx, wait)
}
