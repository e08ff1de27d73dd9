package messagetracereceiver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// Each layer of the client on its own (client.go); retry_test.go and requests_test.go run them
// together.

// Admission: the budget comes before the start slot, and connected gives the slot back before
// the request ends.
func TestAdmissionTakesBudgetThenStartSlot(t *testing.T) {
	g := newStartGate(1, time.Minute)
	first := admission{budget: newRequestBudget(10, time.Hour, time.Now), start: g.join()}
	second := admission{budget: newRequestBudget(10, time.Hour, time.Now), start: g.join()}
	finished, connected, err := first.admit(context.Background())
	require.NoError(t, err)

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = second.admit(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the only start slot is held")

	connected() // the first request has its connection
	finished2, _, err := second.admit(context.Background())
	require.NoError(t, err)
	finished() // after connected: harmless
	finished2()

	full := admission{budget: newRequestBudget(1, time.Hour, time.Now)}
	finished, _, err = full.admit(context.Background())
	require.NoError(t, err)
	finished()
	short, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = full.admit(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "one request per hour")
}

// Request: the token goes in the header, connected is called once the connection is made, the
// status is observed, and the body is bounded.
func TestRequesterSendsTheTokenAndBoundsTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("hello"))
	}))
	defer srv.Close()
	var observed []string
	q := &requester{
		http: srv.Client(), tokens: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}),
		observe: func(status string, _ bool) { observed = append(observed, status) },
	}
	conns := 0
	a, err := q.get(context.Background(), srv.URL, pageRequest, func() { conns++ }, bodyRead{limit: 100})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, a.status)
	assert.Equal(t, "7", a.header.Get("Retry-After"))
	assert.Equal(t, "hello", string(a.body))
	assert.Equal(t, 1, conns)

	_, err = q.get(context.Background(), srv.URL, pageRequest, nil, bodyRead{limit: 3})
	require.ErrorIs(t, err, errPageRefused)
	assert.True(t, strings.HasPrefix(err.Error(), "reading response: "), err.Error())
	assert.Equal(t, []string{"202", "202"}, observed)

	_, err = q.get(context.Background(), "http://\x7f", detailsRequest, nil, bodyRead{limit: 3})
	var be *requestBuildError
	require.ErrorAs(t, err, &be)

	refused := &loginError{status: 401, code: "AADSTS7000215"}
	q.tokens = failingTokens{refused}
	_, err = q.get(context.Background(), srv.URL, pageRequest, nil, bodyRead{limit: 3})
	require.ErrorIs(t, err, refused)
	assert.Len(t, observed, 2, "no request without a token")
}

type failingTokens struct{ err error }

func (f failingTokens) Token() (*oauth2.Token, error) { return nil, f.err }

// Classification: each answer becomes a page or the error type the retry layer acts on.
func TestClassifyPageNamesWhatAnAnswerMeans(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ans := func(status int, retryAfter, body string) *answer {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &answer{status: status, header: h, body: []byte(body)}
	}
	page, err := classifyPage(graphAPI{}, ans(200, "", `{"value":[]}`), false, 10, now)
	require.NoError(t, err)
	assert.Empty(t, page.Rows)

	var throttled *throttledError
	_, err = classifyPage(graphAPI{}, ans(429, "7", ""), false, 10, now)
	require.ErrorAs(t, err, &throttled)
	assert.Equal(t, 7*time.Second, throttled.wait)
	assert.Empty(t, throttled.capped)
	_, err = classifyPage(graphAPI{}, ans(429, "3600", ""), false, 10, now)
	require.ErrorAs(t, err, &throttled)
	assert.Equal(t, maxRetryAfter, throttled.wait)
	assert.Equal(t, "3600", throttled.capped)
	_, err = classifyPage(graphAPI{}, ans(503, "2", ""), false, 10, now)
	require.ErrorAs(t, err, &throttled)
	assert.Equal(t, "HTTP 503: non-JSON body of 0 bytes", err.Error())

	var unauthorized *unauthorizedError
	_, err = classifyPage(graphAPI{}, ans(401, "", servicePrincipalAppID), false, 10, now)
	require.ErrorAs(t, err, &unauthorized)
	assert.True(t, unauthorized.servicePrincipalMissing)

	var se *setupError
	for _, tt := range []struct {
		a          *answer
		isNext     bool
		tenantSide bool
	}{
		{ans(403, "", ""), false, true},
		{ans(400, "", ""), false, false},
		{ans(404, "", ""), false, false},
	} {
		_, err = classifyPage(graphAPI{}, tt.a, tt.isNext, 10, now)
		require.ErrorAs(t, err, &se, tt.a.status)
		assert.Equal(t, tt.tenantSide, se.tenantSide, tt.a.status)
		assert.True(t, isPermanent(err))
	}
	_, err = classifyPage(graphAPI{}, ans(400, "", ""), true, 10, now)
	require.ErrorIs(t, err, errPoisonedLink)

	for _, status := range []int{500, 502, 503} {
		_, err = classifyPage(graphAPI{}, ans(status, "", "<html>"), false, 10, now)
		require.Error(t, err)
		assert.False(t, isPermanent(err) || errors.As(err, &throttled) || errors.Is(err, errPageRefused), "%d is transient", status)
	}

	refused := &loginError{status: 401, code: "AADSTS7000215"}
	assert.Same(t, refused, pageRequestError(errors.Join(errors.New("login"), refused)))
	require.ErrorAs(t, pageRequestError(&requestBuildError{err: errors.New("bad")}), &se)
	assert.Equal(t, "cannot build request: bad", se.Error())
}

// Retry: what the retrier does with each kind of failure, on a fake clock.
func TestRetrierActsOnTheErrorType(t *testing.T) {
	clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	type result struct {
		err      error
		attempts int
		sleeps   []time.Duration
		pauses   []time.Duration
		relogins int
	}
	run := func(errs ...error) result {
		var res result
		r := &retrier{
			policy: retryPolicy{backoff: configretry.BackOffConfig{Enabled: true, InitialInterval: time.Second, Multiplier: 2, MaxInterval: time.Minute, MaxElapsedTime: time.Hour}, maxThrottles: 2},
			now:    func() time.Time { return clock },
			sleep: func(_ context.Context, d time.Duration) error {
				res.sleeps = append(res.sleeps, d)
				return nil
			},
			logger:     zap.NewNop(),
			pauseUntil: func(t time.Time) { res.pauses = append(res.pauses, t.Sub(clock)) },
			relogin:    func() { res.relogins++ },
		}
		res.err = r.run(context.Background(), func(context.Context) error {
			res.attempts++
			return errs[min(res.attempts, len(errs))-1]
		})
		return res
	}
	unauthorized := &unauthorizedError{api: graphAPI{}}
	throttled := &throttledError{msg: "429 Too Many Requests", wait: 5 * time.Second}
	transient := errors.New("HTTP 500")

	res := run(unauthorized, nil)
	require.NoError(t, res.err)
	assert.Equal(t, 1, res.relogins, "a 401 logs in once more")
	assert.Empty(t, res.sleeps)

	res = run(unauthorized, unauthorized)
	require.ErrorContains(t, res.err, "after a fresh login")
	assert.Equal(t, 2, res.attempts)

	res = run(&unauthorizedError{api: graphAPI{}, servicePrincipalMissing: true})
	require.ErrorContains(t, res.err, "New-MgServicePrincipal")
	assert.Equal(t, 1, res.attempts, "a missing service principal is not cured by a login")

	res = run(throttled, throttled, nil)
	require.NoError(t, res.err)
	assert.Equal(t, []time.Duration{5 * time.Second, 5 * time.Second}, res.pauses, "Retry-After pauses the budget")
	assert.Empty(t, res.sleeps, "the budget waits, not the retrier")
	res = run(throttled)
	require.ErrorContains(t, res.err, "throttled 3 times in a row: 429 Too Many Requests")

	for _, final := range []error{&setupError{msg: "setup"}, errPoisonedLink, errForeignLink, errPageRefused, &loginError{}} {
		res = run(final)
		require.ErrorIs(t, res.err, final)
		assert.Equal(t, 1, res.attempts)
	}

	res = run(transient, transient, nil)
	require.NoError(t, res.err)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, res.sleeps)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &retrier{}
	require.ErrorIs(t, r.run(ctx, func(context.Context) error { return transient }), context.Canceled)
}
