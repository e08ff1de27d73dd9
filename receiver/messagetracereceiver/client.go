package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

const (
	// maxBodyBytes bounds one response; a 5,000-row Graph page is about 2 MB. A longer body is
	// refused, never cut and parsed.
	maxBodyBytes = 64 << 20
	// servicePrincipalAppID is Microsoft's Transport Data Platform app, whose service principal
	// must exist in the tenant before Graph message trace answers.
	servicePrincipalAppID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"
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

// setupError is an answer that only a change of configuration or tenant setup can fix (403,
// a refused login, the missing service principal): the receiver says what to fix and retries
// slowly. tenantSide marks the ones fixed in the tenant (a permission, consent, the service
// principal Microsoft provisions): the receiver reads again without a restart, so health
// reports them as recoverable (health.go).
type setupError struct {
	msg        string
	tenantSide bool
}

func (e *setupError) Error() string { return e.msg }

// errPoisonedLink is a next-link the API now refuses (Microsoft's "Invalid starting recipient
// address"); retrying it never helps, so the rest of the range is queried afresh.
var errPoisonedLink = errors.New("the API refused a next-link it issued")

// errForeignLink is a next-link that points away from the configured endpoint; following it
// would send the bearer token elsewhere.
var errForeignLink = errors.New("next-link does not point at the configured endpoint")

// apiClient fetches message trace pages within the request budget, retrying what is transient.
type apiClient struct {
	api      traceAPI
	base     *url.URL
	pageSize int
	http     *http.Client
	tokens   *tokenProvider
	budget   *requestBudget
	retry    retryPolicy
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	logger   *zap.Logger
	observe  func(status string, throttled bool) // per request, for self-metrics

	maxBody          int64  // maxBodyBytes; tests lower it
	cappedRetryAfter string // the last Retry-After header if it was over maxRetryAfter, for the warning

	memory *pageHold // this receiver's share of the collector's page memory; nil = unbounded

	start *startTurn // this receiver's place in its start wave (startgate.go); nil = none
}

// firstPageURL builds the query for rows received in [from, to], both inclusive, at whole
// seconds: the documented filter format. Callers filter rows exactly on their side.
func (c *apiClient) firstPageURL(from, to time.Time) string {
	from = from.UTC().Truncate(time.Second)
	if t := to.UTC().Truncate(time.Second); t.Before(to) {
		to = t.Add(time.Second)
	} else {
		to = t
	}
	return c.api.pageURL(*c.base, from, to, c.pageSize)
}

// resolveNextLink makes a next-link absolute (the legacy API sends relative ones) and refuses
// any that leaves the configured scheme and host.
func (c *apiClient) resolveNextLink(current, next string) (string, error) {
	cur, err := url.Parse(current)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("%w: unparsable", errForeignLink)
	}
	abs := cur.ResolveReference(ref)
	if !strings.EqualFold(abs.Scheme, c.base.Scheme) || !strings.EqualFold(hostPort(abs), hostPort(c.base)) {
		return "", fmt.Errorf("%w (%s, configured %s://%s)", errForeignLink, quote.Value(abs.Scheme+"://"+abs.Host), c.base.Scheme, c.base.Host)
	}
	return abs.String(), nil
}

// hostPort is the URL's host with the scheme's default port made explicit, so that
// https://graph.microsoft.com and https://graph.microsoft.com:443 are the same place.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return u.Hostname() + ":80"
	}
	return u.Hostname() + ":443"
}

// fetch gets and decodes one page, retrying transient failures within the policy. isNext says
// the URL is a next-link, whose 400 means a poisoned link rather than a bad query.
func (c *apiClient) fetch(ctx context.Context, pageURL string, isNext bool) (*tracepage.Page, error) {
	var (
		lastErr      error
		failures     int
		firstFailure time.Time
		throttles    int
		refreshed    bool
	)
	for {
		page, retryAfter, err := c.once(ctx, pageURL, isNext)
		if err == nil {
			return page, nil // the caller releases c.memory once the page is delivered
		}
		c.memory.release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var unauthorized *unauthorizedError
		switch {
		case errors.As(err, &unauthorized):
			// A token can be revoked or expire early; log in once more before calling it setup.
			if refreshed || unauthorized.servicePrincipalMissing {
				return nil, unauthorized.setup()
			}
			refreshed = true
			c.tokens.invalidate()
			continue
		case retryAfter > 0:
			throttles++
			c.budget.pauseUntil(c.now().Add(retryAfter))
			if throttles > c.retry.maxThrottles {
				return nil, fmt.Errorf("throttled %d times in a row: %w", throttles, err)
			}
			c.logger.Info("Microsoft throttled the receiver; pausing all requests", zap.Duration("retry_after", retryAfter))
			if c.cappedRetryAfter != "" {
				c.logger.Warn("the API asked to wait longer than Microsoft's 5-minute quota window; waiting 5m instead",
					zap.String("retry_after_header", quote.Value(c.cappedRetryAfter)))
			}
			continue
		case isPermanent(err):
			return nil, err
		case errors.Is(err, errPageRefused):
			// The same request would bring the same answer: spend no more quota on it this poll.
			return nil, err
		}
		lastErr = err
		failures++
		if failures == 1 {
			firstFailure = c.now()
		}
		b := c.retry.backoff
		if !b.Enabled {
			return nil, fmt.Errorf("giving up on this page at the first failure (retry_on_failure.enabled is false): %w", lastErr)
		}
		wait := backoff(b, failures)
		// As configretry means it: no retry that would start after max_elapsed_time; 0 retries
		// until the receiver shuts down.
		if elapsed := c.now().Sub(firstFailure); b.MaxElapsedTime > 0 && elapsed+wait > b.MaxElapsedTime {
			return nil, fmt.Errorf("giving up on this page after %d attempts in %v (retry_on_failure.max_elapsed_time %v): %w",
				failures, elapsed.Round(time.Millisecond), b.MaxElapsedTime, lastErr)
		}
		c.logger.Warn("message trace request failed; retrying", zap.Error(err), zap.Int("attempt", failures), zap.Duration("backoff", wait))
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func isPermanent(err error) bool {
	var se *setupError
	var le *loginError
	return errors.As(err, &se) || errors.As(err, &le) || errors.Is(err, errPoisonedLink) || errors.Is(err, errForeignLink)
}

// backoff is the wait before retry number failures: initial_interval times multiplier per
// earlier failure, capped at max_interval, randomised by ±randomization_factor.
func backoff(b configretry.BackOffConfig, failures int) time.Duration {
	d := float64(b.InitialInterval) * math.Pow(b.Multiplier, float64(failures-1))
	if d > float64(b.MaxInterval) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.MaxInterval)
	}
	if f := b.RandomizationFactor; f > 0 {
		d += d * f * (2*rand.Float64() - 1)
	}
	return time.Duration(d)
}

// unauthorizedError is a 401 from the API.
type unauthorizedError struct {
	api                     traceAPI
	servicePrincipalMissing bool
}

func (e *unauthorizedError) Error() string { return "the API answered 401 Unauthorized" }

func (e *unauthorizedError) setup() error {
	if e.servicePrincipalMissing {
		return &setupError{tenantSide: true, msg: "Graph answered 401: the service principal of Microsoft's app " + servicePrincipalAppID +
			" (Transport Data Platform) does not exist in the tenant yet. Create it once with " +
			"New-MgServicePrincipal -AppId " + servicePrincipalAppID + " (or POST /v1.0/servicePrincipals) and allow several hours for provisioning"}
	}
	return e.api.unauthorized()
}

// once performs a single request. It returns the Retry-After of a 429 separately so the caller
// can pause the whole budget.
func (c *apiClient) once(ctx context.Context, pageURL string, isNext bool) (*tracepage.Page, time.Duration, error) {
	// The slot comes first: waiting for it can take minutes, and a token fetched before the
	// wait could expire during it. Logins themselves are not part of Microsoft's quota.
	finished, err := c.budget.acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer finished()
	leave, err := c.start.enter(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer leave() // on every way out before the connection; calling it twice is harmless
	tok, err := c.tokens.Token()
	if err != nil {
		var le *loginError
		if errors.As(err, &le) {
			return nil, 0, le
		}
		return nil, 0, err
	}
	// A start slot is given back once this request has its connection (handshake done), not
	// when the answer comes: Microsoft's seconds of thinking must not hold other tenants back.
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { leave() }}),
		http.MethodGet, pageURL, http.NoBody)
	if err != nil {
		return nil, 0, &setupError{msg: "cannot build request: " + err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe("error", false)
		return nil, 0, fmt.Errorf("request failed: %w", stripURLError(err))
	}
	defer resp.Body.Close()
	// Memory is taken once the answer starts, not before the request: Microsoft's seconds of
	// thinking then cost no budget, so many tenants can wait on the API at once. readBody
	// takes more as the body grows, before each buffer is allocated.
	body, err := readBody(ctx, resp, cmp.Or(c.maxBody, maxBodyBytes), c.memory, int64(c.pageSize)*inFlightBytesPerRow)
	if err == nil {
		err = c.memory.take(ctx, int64(len(body))*inFlightBytesPerBodyByte)
	}
	c.observe(strconv.Itoa(resp.StatusCode), resp.StatusCode == http.StatusTooManyRequests)
	if err != nil {
		return nil, 0, fmt.Errorf("reading response: %w", err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		page, err := c.api.decodePage(body, c.pageSize)
		if errors.Is(err, tracepage.ErrTooManyRows) {
			err = fmt.Errorf("%w: %w", errPageRefused, err)
		}
		return page, 0, err
	case code == http.StatusTooManyRequests:
		return nil, c.retryAfter(resp.Header.Get("Retry-After")), errors.New("429 Too Many Requests")
	case code == http.StatusUnauthorized:
		return nil, 0, &unauthorizedError{api: c.api, servicePrincipalMissing: strings.Contains(string(body), servicePrincipalAppID)}
	case code == http.StatusForbidden:
		return nil, 0, c.api.forbidden(apiMessage(body))
	case code == http.StatusBadRequest && isNext:
		return nil, 0, fmt.Errorf("%w: %s", errPoisonedLink, apiMessage(body))
	case code == http.StatusBadRequest:
		return nil, 0, &setupError{msg: "the API refused the query with 400 (" + apiMessage(body) + "); check endpoint, api, initial_lookback and page_size"}
	case code == http.StatusNotFound:
		return nil, 0, &setupError{msg: "the API answered 404: check endpoint and api (message trace lives at " + graphPath + " on Graph)"}
	case code == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		// Graph sends Retry-After with 503 too when it sheds load.
		return nil, c.retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("HTTP 503: %s", apiMessage(body))
	default:
		return nil, 0, fmt.Errorf("HTTP %d: %s", code, apiMessage(body))
	}
}

// errPageRefused marks an answer the receiver refuses to believe: a body over maxBodyBytes or
// more rows than $top. Asking again at once would bring the same answer, so the poll ends and
// the next one tries again from the unchanged checkpoint.
var errPageRefused = errors.New("response refused")

// Body buffers: a body of unknown length (chunked, or gzip the transport decompresses) is read
// into chunks that start small and grow to bodyChunkMax, then joined once it has ended. Unlike
// a doubling buffer, nothing is copied while reading, a refused body never costs more than its
// limit, and each chunk's memory is taken from the page budget before it is allocated.
const (
	bodyChunkMin = 32 << 10
	bodyChunkMax = 4 << 20
)

// readBody reads a response of at most limit bytes (decompressed), sized from Content-Length
// when the server sends one. hold is taken for what is read before each buffer is allocated, at
// least atLeast (the page size's estimate), so that the page memory of the whole collector holds
// whatever the server sends; the body never outgrows the budget either (limit is lowered to
// it). One byte more than the limit is read so that a longer body is detected and refused
// rather than cut and parsed. The caller gives hold back on every path.
func readBody(ctx context.Context, resp *http.Response, limit int64, hold *pageHold, atLeast int64) ([]byte, error) {
	if hold != nil {
		limit = min(limit, hold.m.size)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: the body is %d bytes (Content-Length), over the limit of %d bytes; if this persists, lower page_size or check what sits between the receiver and Microsoft", errPageRefused, resp.ContentLength, limit)
	}
	reserve := func(n int64) error {
		return hold.take(ctx, max(atLeast, n*inFlightBytesPerBodyByte))
	}
	if n := resp.ContentLength; n >= 0 {
		// The length is known and within the limit: one buffer of that size, and a probe that
		// the body really ends there.
		if err := reserve(n); err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, bodyEnds(resp.Body, limit, n)
	}
	var (
		chunks [][]byte
		total  int64
		size   = int64(bodyChunkMin)
	)
	for total < limit {
		n := min(size, limit-total)
		if err := reserve(total + n); err != nil {
			recycleChunks(chunks)
			return nil, err
		}
		chunk := newChunk(n)
		got, err := fill(resp.Body, chunk)
		total += int64(got)
		chunks = append(chunks, chunk[:got])
		if errors.Is(err, io.EOF) {
			return joinChunks(chunks, total), nil
		}
		if err != nil {
			recycleChunks(chunks)
			return nil, err
		}
		size = min(2*size, bodyChunkMax)
	}
	if err := bodyEnds(resp.Body, limit, total); err != nil {
		recycleChunks(chunks)
		return nil, err
	}
	return joinChunks(chunks, total), nil
}

// fill reads into buf until it is full or the body ends. Unlike io.ReadFull it keeps a body cut
// short apart from its end: the transport answers io.ErrUnexpectedEOF for a chunked or gzip
// stream that stops mid-way, which io.ReadFull passes on looking like a short last chunk, and
// a cut body must be retried, not parsed as if complete.
func fill(r io.Reader, buf []byte) (int, error) {
	n, idle := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			if idle++; idle > 100 {
				return n, io.ErrNoProgress
			}
		} else {
			idle = 0
		}
	}
	return n, nil
}

// fullChunks keeps chunks of bodyChunkMax bytes that no body holds any more, so that a server
// sending huge bodies poll after poll reuses the same memory instead of leaving the garbage
// collector a limit's worth of garbage each time (with the default GOGC the heap would grow to
// twice the limit). The pool empties itself over two garbage collections.
var fullChunks sync.Pool // *[]byte of bodyChunkMax bytes

func newChunk(n int64) []byte {
	if n == bodyChunkMax {
		if p, ok := fullChunks.Get().(*[]byte); ok {
			return *p
		}
	}
	return make([]byte, n)
}

// recycleChunks gives the full-sized chunks back; none may be used afterwards.
func recycleChunks(chunks [][]byte) {
	for _, c := range chunks {
		if cap(c) == bodyChunkMax {
			c = c[:bodyChunkMax]
			fullChunks.Put(&c)
		}
	}
}

// bodyEnds reads one byte past the read bytes: a body that goes on is over the limit.
func bodyEnds(body io.Reader, limit, read int64) error {
	var probe [1]byte
	n, err := io.ReadFull(body, probe[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: the body is over the limit of %d bytes (more than %d bytes read, decompressed); if this persists, lower page_size or check what sits between the receiver and Microsoft", errPageRefused, limit, read)
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// joinChunks returns the body as one slice, copying only when it took more than one chunk.
func joinChunks(chunks [][]byte, total int64) []byte {
	if len(chunks) == 1 {
		return chunks[0]
	}
	body := make([]byte, 0, total)
	for _, c := range chunks {
		body = append(body, c...)
	}
	recycleChunks(chunks) // copied: the body holds none of them
	return body
}

// retryAfter reads a Retry-After header and remembers it when it had to be capped.
func (c *apiClient) retryAfter(v string) time.Duration {
	d := parseRetryAfter(v, c.now())
	c.cappedRetryAfter = ""
	if d == maxRetryAfter && v != strconv.Itoa(int(maxRetryAfter/time.Second)) {
		c.cappedRetryAfter = v
	}
	return d
}

// parseRetryAfter reads delta-seconds or an HTTP date, capped at maxRetryAfter; a missing or
// bad value waits 30 s, Graph's usual hint.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s >= 0 {
		if s >= int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return max(time.Duration(s)*time.Second, time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), time.Second), maxRetryAfter)
	}
	return 30 * time.Second
}

// apiMessage extracts Microsoft's error message from Graph, OData or RWS error bodies, bounded
// in length; HTML and other bodies are summarised instead of quoted.
func apiMessage(body []byte) string {
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		OData *struct {
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"odata.error"`
		Message string `json:"Message"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Error != nil:
			msg = strings.TrimSpace(e.Error.Code + " " + e.Error.Message)
		case e.OData != nil:
			msg = e.OData.Message.Value
		default:
			msg = e.Message
		}
	}
	if msg == "" {
		if tracepage.LooksLikeJSONObject(body) {
			msg = "unrecognised JSON error body"
		} else {
			msg = fmt.Sprintf("non-JSON body of %d bytes", len(body))
		}
	}
	return quote.Text(msg)
}
