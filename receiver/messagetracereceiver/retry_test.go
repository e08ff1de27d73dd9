package messagetracereceiver

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// retryRun is one page fetch against a server that answers 503 every time, on a fake clock
// that only the retry waits move: the schedule is exact, whatever the machine's load.
type retryRun struct {
	requests int
	waits    []time.Duration
	err      error
}

func runRetries(t *testing.T, b configretry.BackOffConfig, stopAfterWaits int) retryRun {
	t.Helper()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)

	clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	var run retryRun
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tokens := newTokenProvider(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "token", Expiry: clock.Add(time.Hour)}), func() time.Time { return clock })
	budget := newRequestBudget(1_000_000, time.Second, now)
	c := &apiClient{
		api:       graphAPI{},
		base:      base,
		pageSize:  10,
		now:       now,
		admission: admission{budget: budget},
		tokens:    tokens,
		request:   &requester{http: srv.Client(), tokens: tokens, observe: func(string, bool) {}},
		limit:     maxBodyBytes,
		retry: &retrier{
			policy: retryPolicy{backoff: b, maxThrottles: maxThrottles},
			now:    now,
			sleep: func(ctx context.Context, d time.Duration) error {
				run.waits = append(run.waits, d)
				clock = clock.Add(d)
				if stopAfterWaits > 0 && len(run.waits) >= stopAfterWaits {
					cancel() // stands for Shutdown
				}
				return ctx.Err()
			},
			logger:     zap.NewNop(),
			pauseUntil: budget.pauseUntil,
			relogin:    tokens.invalidate,
		},
	}
	_, _, run.err = c.Fetch(ctx, c.firstPageURL(clock.Add(-time.Hour), clock), false)
	run.requests = int(requests.Load())
	return run
}

// Issue 12: the defaults keep the policy the receiver had before retry_on_failure existed: 2 s
// doubling per failure, and a page failing at once is given up after 5 tries (the next retry
// would start after max_elapsed_time, 1m).
func TestDefaultRetryKeepsThePreviousPolicy(t *testing.T) {
	b := createDefaultConfig().(*Config).BackOffConfig
	b.RandomizationFactor = 0 // exact waits; jitter is checked on its own
	run := runRetries(t, b, 0)
	require.Error(t, run.err)
	assert.Contains(t, run.err.Error(), "giving up on this page after 5 attempts in 30s (retry_on_failure.max_elapsed_time 1m0s)")
	assert.Contains(t, run.err.Error(), "HTTP 503")
	assert.Equal(t, 5, run.requests)
	assert.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}, run.waits)
}

// Issue 12: every retry_on_failure key is obeyed: initial_interval, multiplier, the
// max_interval cap and max_elapsed_time.
func TestRetryFollowsRetryOnFailure(t *testing.T) {
	run := runRetries(t, configretry.BackOffConfig{
		Enabled: true, InitialInterval: time.Second, Multiplier: 3, MaxInterval: 10 * time.Second, MaxElapsedTime: 40 * time.Second,
	}, 0)
	require.ErrorContains(t, run.err, "(retry_on_failure.max_elapsed_time 40s)")
	// 1 + 3 + 9 + 10 + 10 = 33 s; the next 10 s would end after 40 s.
	assert.Equal(t, []time.Duration{time.Second, 3 * time.Second, 9 * time.Second, 10 * time.Second, 10 * time.Second}, run.waits)
	assert.Equal(t, 6, run.requests)
}

// Issue 12: enabled: false tries a page once; the poll ends and the next poll starts again
// from the checkpoint.
func TestRetryDisabledTriesOnce(t *testing.T) {
	b := createDefaultConfig().(*Config).BackOffConfig
	b.Enabled = false
	run := runRetries(t, b, 0)
	require.ErrorContains(t, run.err, "at the first failure (retry_on_failure.enabled is false)")
	assert.Equal(t, 1, run.requests)
	assert.Empty(t, run.waits)
}

// Issue 12: max_elapsed_time: 0 retries until the receiver shuts down, at most max_interval
// apart; shutting down ends it.
func TestRetryWithoutElapsedLimitEndsAtShutdown(t *testing.T) {
	run := runRetries(t, configretry.BackOffConfig{
		Enabled: true, InitialInterval: time.Second, Multiplier: 2, MaxInterval: 5 * time.Second,
	}, 50)
	require.ErrorIs(t, run.err, context.Canceled)
	require.Len(t, run.waits, 50)
	assert.Equal(t, 50, run.requests)
	for _, w := range run.waits[3:] {
		assert.Equal(t, 5*time.Second, w)
	}
}

// Issue 12: randomization_factor spreads each wait over ±factor of its step, and the cap is
// applied before the spread, as configretry's users know it from the exporters.
func TestRetryJitterStaysWithinRandomizationFactor(t *testing.T) {
	b := configretry.BackOffConfig{InitialInterval: 2 * time.Second, Multiplier: 2, MaxInterval: time.Minute, RandomizationFactor: 0.5}
	seen := map[bool]bool{}
	for range 2000 {
		d := nthBackOff(b, 3) // step 8 s
		require.GreaterOrEqual(t, d, 4*time.Second)
		require.LessOrEqual(t, d, 12*time.Second)
		seen[d > 8*time.Second] = true
		d = nthBackOff(b, 40) // far past the cap: 2^39 steps would overflow
		require.GreaterOrEqual(t, d, 30*time.Second)
		require.LessOrEqual(t, d, 90*time.Second)
	}
	assert.Len(t, seen, 2, "waits fall on both sides of the step")
}

// nthBackOff is the wait before retry number n of one request.
func nthBackOff(b configretry.BackOffConfig, n int) time.Duration {
	s := newBackOff(b)
	var d time.Duration
	for range n {
		d = s.NextBackOff()
	}
	return d
}

// The library's schedule, without jitter, is the one the receiver computed itself before issue
// 22 (initial_interval * multiplier^(failures-1), capped at max_interval), for the default
// retry_on_failure and another valid one: a library upgrade that changes it fails here.
func TestBackOffScheduleIsPinned(t *testing.T) {
	def := createDefaultConfig().(*Config).BackOffConfig
	def.RandomizationFactor = 0
	other := configretry.BackOffConfig{Enabled: true, InitialInterval: 500 * time.Millisecond, Multiplier: 1.5, MaxInterval: 3 * time.Second}
	constant := configretry.BackOffConfig{Enabled: true, InitialInterval: 3 * time.Second, Multiplier: 1, MaxInterval: 3 * time.Second}
	for _, c := range []struct {
		name string
		b    configretry.BackOffConfig
		want []time.Duration
	}{
		{"default", def, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}},
		{"other", other, []time.Duration{500 * time.Millisecond, 750 * time.Millisecond, 1125 * time.Millisecond, 1687500 * time.Microsecond, 2531250 * time.Microsecond, 3 * time.Second, 3 * time.Second}},
		{"constant", constant, []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Empty(t, (&Config{BackOffConfig: c.b}).validateRetry(), "a configuration the receiver accepts")
			s := newBackOff(c.b)
			var got []time.Duration
			for range c.want {
				got = append(got, s.NextBackOff())
			}
			assert.Equal(t, c.want, got)
			// And far past the cap, as the old formula gave it (it capped an infinite step too).
			for n := 1; n <= 200; n++ {
				old := float64(c.b.InitialInterval) * math.Pow(c.b.Multiplier, float64(n-1))
				if old > float64(c.b.MaxInterval) || math.IsInf(old, 0) {
					old = float64(c.b.MaxInterval)
				}
				require.Equal(t, time.Duration(old), nthBackOff(c.b, n), "retry %d", n)
			}
		})
	}
}
