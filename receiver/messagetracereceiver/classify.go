package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// The third layer of a page request: what an answer means. A page, or an error whose type
// tells the retry layer (retry.go) what to do: throttledError and unauthorizedError are tried
// again, isPermanent and errPageRefused are not, anything else is transient.

// servicePrincipalAppID is Microsoft's Transport Data Platform app, whose service principal
// must exist in the tenant before Graph message trace answers.
const servicePrincipalAppID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"

// errPoisonedLink is a next-link the API now refuses (Microsoft's "Invalid starting recipient
// address"); retrying it never helps, so the rest of the range is queried afresh.
var errPoisonedLink = errors.New("the API refused a next-link it issued")

// errForeignLink is a next-link that points away from the configured endpoint; following it
// would send the bearer token elsewhere.
var errForeignLink = errors.New("next-link does not point at the configured endpoint")

// errPageRefused marks an answer the receiver refuses to believe: a body over maxBodyBytes or
// more rows than $top. Asking again at once would bring the same answer, so the poll ends and
// the next one tries again from the unchanged checkpoint.
var errPageRefused = errors.New("response refused")

// throttledError is a 429, or a 503 with Retry-After: every request of the tenant pauses for
// wait. capped is the Retry-After header when it asked for more than maxRetryAfter.
type throttledError struct {
	msg    string
	wait   time.Duration
	capped string
}

func (e *throttledError) Error() string { return e.msg }

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

func isPermanent(err error) bool {
	var se *setupError
	var le *loginError
	return errors.As(err, &se) || errors.As(err, &le) || errors.Is(err, errPoisonedLink) || errors.Is(err, errForeignLink)
}

// pageRequestError is a page request that got no answer: a refused login is reported as
// itself, a request that cannot be built is a setup problem.
func pageRequestError(err error) error {
	var le *loginError
	var be *requestBuildError
	switch {
	case errors.As(err, &le):
		return le
	case errors.As(err, &be):
		return &setupError{msg: "cannot build request: " + be.err.Error()}
	}
	return err
}

// classifyPage decodes a page answer or says why not. isNext says the URL was a next-link,
// whose 400 means a poisoned link rather than a bad query.
func classifyPage(api traceAPI, a *answer, isNext bool, pageSize int, now time.Time) (*tracepage.Page, error) {
	switch code := a.status; {
	case code == http.StatusOK:
		page, err := api.decodePage(a.body, pageSize)
		if errors.Is(err, tracepage.ErrTooManyRows) {
			err = fmt.Errorf("%w: %w", errPageRefused, err)
		}
		return page, err
	case code == http.StatusTooManyRequests:
		return nil, throttled("429 Too Many Requests", a.header.Get("Retry-After"), now)
	case code == http.StatusUnauthorized:
		return nil, &unauthorizedError{api: api, servicePrincipalMissing: strings.Contains(string(a.body), servicePrincipalAppID)}
	case code == http.StatusForbidden:
		return nil, api.forbidden(apiMessage(a.body))
	case code == http.StatusBadRequest && isNext:
		return nil, fmt.Errorf("%w: %s", errPoisonedLink, apiMessage(a.body))
	case code == http.StatusBadRequest:
		return nil, &setupError{msg: "the API refused the query with 400 (" + apiMessage(a.body) + "); check endpoint, api, initial_lookback and page_size"}
	case code == http.StatusNotFound:
		return nil, &setupError{msg: "the API answered 404: check endpoint and api (message trace lives at " + graphPath + " on Graph)"}
	case code == http.StatusServiceUnavailable && a.header.Get("Retry-After") != "":
		// Graph sends Retry-After with 503 too when it sheds load.
		return nil, throttled("HTTP 503: "+apiMessage(a.body), a.header.Get("Retry-After"), now)
	default:
		return nil, fmt.Errorf("HTTP %d: %s", code, apiMessage(a.body))
	}
}

// throttled reads a Retry-After header, remembering it when it had to be capped.
func throttled(msg, retryAfter string, now time.Time) *throttledError {
	e := &throttledError{msg: msg, wait: parseRetryAfter(retryAfter, now)}
	if e.wait == maxRetryAfter && retryAfter != strconv.Itoa(int(maxRetryAfter/time.Second)) {
		e.capped = retryAfter
	}
	return e
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
