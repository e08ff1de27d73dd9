package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// API names accepted by the `api` key.
const (
	apiGraph  = "graph"
	apiLegacy = "reporting_web_service"
)

// Paths of the two APIs under their endpoint.
const (
	graphPath        = "/v1.0/admin/exchange/tracing/messageTraces"
	legacyPath       = "/ecp/reportingwebservice/reporting.svc/MessageTrace"
	legacyDetailPath = "/ecp/reportingwebservice/reporting.svc/MessageTraceDetail"
)

// traceAPI is everything that differs between Microsoft Graph messageTraces and the Reporting
// Web Service MessageTrace: limits, query building, page and details decoding, and what to
// tell a person when the API refuses the app. It is chosen once, from `api` (apiNamed); the
// rest of the receiver never asks which API it reads.
type traceAPI interface {
	defaultEndpoint() string
	// scope is the OAuth2 scope of a token for the API at endpoint.
	scope(endpoint string) string
	maxPageSize() int
	// maxLookback is how old a query's start may be.
	maxLookback() time.Duration
	// firstSpan is the planner's first range, before it knows the tenant's density, and
	// targetRows how many rows it aims a range at.
	firstSpan() time.Duration
	targetRows(pageSize int) int

	// pageURL is the first page of rows received in [from, to] (whole seconds, inclusive).
	pageURL(base url.URL, from, to time.Time, top int) string
	// decodePage refuses more than maxRows rows with tracepage.ErrTooManyRows.
	decodePage(body []byte, maxRows int) (*tracepage.Page, error)
	// detailsURL is the request for the events of one (message, recipient).
	detailsURL(base string, p *pendingDetail, now time.Time) string
	decodeDetails(body []byte) ([]detailEvent, error)

	// unauthorized says what to grant after a 401 that a fresh login did not cure; forbidden
	// after a 403 whose body said message.
	unauthorized() *setupError
	forbidden(message string) *setupError
}

// apiNamed returns the API an `api` value selects, or nil.
func apiNamed(name string) traceAPI {
	switch name {
	case apiGraph:
		return graphAPI{}
	case apiLegacy:
		return legacyAPI{}
	}
	return nil
}

// graphAPI is Microsoft Graph messageTraces (v1.0), the supported API.
type graphAPI struct{}

func (graphAPI) defaultEndpoint() string      { return "https://graph.microsoft.com" }
func (graphAPI) scope(endpoint string) string { return endpoint + "/.default" }
func (graphAPI) maxPageSize() int             { return 5000 }
func (graphAPI) maxLookback() time.Duration   { return 90 * 24 * time.Hour }

// firstSpan is the full 10 days: Graph has no skiptoken ceiling, a long range is walked in
// turns (pageBudget), and a sparse tenant then costs one request per range.
func (graphAPI) firstSpan() time.Duration { return maxQuerySpan }

func (graphAPI) targetRows(pageSize int) int {
	return 200 * pageSize
}

func (graphAPI) pageURL(base url.URL, from, to time.Time, top int) string {
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("receivedDateTime ge %s and receivedDateTime le %s", from.Format(time.RFC3339), to.Format(time.RFC3339)))
	return odataURL(base, graphPath, q, top)
}

func (graphAPI) decodePage(body []byte, maxRows int) (*tracepage.Page, error) {
	return tracepage.DecodeGraph(body, maxRows)
}

func (graphAPI) detailsURL(base string, p *pendingDetail, _ time.Time) string {
	fn := "getDetailsByRecipient(recipientAddress='" + odataQuote(p.Recipient) + "')"
	return base + graphPath + "/" + url.PathEscape(p.TraceID) + "/" + escapeODataSegment(fn)
}

func (graphAPI) decodeDetails(body []byte) ([]detailEvent, error) { return decodeGraphDetails(body) }

func (graphAPI) unauthorized() *setupError {
	return &setupError{tenantSide: true, msg: "Graph answered 401 after a fresh login: grant the app the application permission ExchangeMessageTrace.Read.All with admin consent"}
}

func (graphAPI) forbidden(message string) *setupError {
	return &setupError{tenantSide: true, msg: "Graph answered 403 (" + message + "): grant the app the application permission ExchangeMessageTrace.Read.All and admin consent"}
}

// legacyAPI is the Reporting Web Service MessageTrace report, which Microsoft is retiring.
type legacyAPI struct{}

func (legacyAPI) defaultEndpoint() string    { return "https://reports.office365.com" }
func (legacyAPI) scope(string) string        { return "https://outlook.office365.com/.default" }
func (legacyAPI) maxPageSize() int           { return 2000 }
func (legacyAPI) maxLookback() time.Duration { return 10 * 24 * time.Hour }

// firstSpan is an hour: a 10-day first range of a dense tenant would pass the legacy API's
// ~1,000,000-row skiptoken ceiling, which targetRows keeps every later range far below.
func (legacyAPI) firstSpan() time.Duration { return time.Hour }

func (legacyAPI) targetRows(pageSize int) int {
	return min(250*pageSize, 500_000)
}

func (legacyAPI) pageURL(base url.URL, from, to time.Time, top int) string {
	q := url.Values{}
	q.Set("$format", "json")
	q.Set("$filter", fmt.Sprintf("StartDate eq datetime'%s' and EndDate eq datetime'%s'", from.Format(time.RFC3339), to.Format(time.RFC3339)))
	return odataURL(base, legacyPath, q, top)
}

func (legacyAPI) decodePage(body []byte, maxRows int) (*tracepage.Page, error) {
	return tracepage.DecodeLegacy(body, maxRows)
}

func (legacyAPI) detailsURL(base string, p *pendingDetail, now time.Time) string {
	// Without dates the report covers the last 48 hours only; events follow the receipt,
	// within the 10 days the service keeps.
	from := p.Received.Add(-time.Hour).UTC().Truncate(time.Second)
	to := p.Received.Add(maxQuerySpan - 2*time.Hour).UTC().Truncate(time.Second)
	if n := now.UTC().Truncate(time.Second); to.After(n) {
		to = n
	}
	q := url.Values{}
	q.Set("$format", "json")
	q.Set("$filter", fmt.Sprintf("MessageTraceId eq guid'%s' and RecipientAddress eq '%s' and StartDate eq datetime'%s' and EndDate eq datetime'%s'",
		p.TraceID, odataQuote(p.Recipient), from.Format(time.RFC3339), to.Format(time.RFC3339)))
	return base + legacyDetailPath + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

func (legacyAPI) decodeDetails(body []byte) ([]detailEvent, error) { return decodeLegacyDetails(body) }

func (legacyAPI) unauthorized() *setupError {
	return &setupError{tenantSide: true, msg: "the Reporting Web Service answered 401 after a fresh login: grant the app the Office 365 Exchange Online application permission ReportingWebService.Read.All with admin consent"}
}

func (legacyAPI) forbidden(message string) *setupError {
	return &setupError{tenantSide: true, msg: "the Reporting Web Service answered 403 (" + message + "): grant ReportingWebService.Read.All with admin consent and give the app's service principal a directory role (Global Reader or Security Reader)"}
}

// odataURL is base + path with the query and $top; spaces as %20, which both APIs expect.
func odataURL(base url.URL, path string, q url.Values, top int) string {
	base.Path = strings.TrimRight(base.Path, "/") + path
	q.Set("$top", strconv.Itoa(top))
	base.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return base.String()
}

// maxQuerySpan is the longest range either API answers in one query.
const maxQuerySpan = 10 * 24 * time.Hour

// odataQuote writes s as an OData string literal body: a single quote is doubled.
func odataQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// escapeODataSegment percent-encodes a path segment but keeps the sub-delimiters an OData
// function call is written with ( ' = ) as Microsoft documents them; / ? # % and everything
// outside ASCII letters, digits and -._~!$&*+,;:@ are encoded, so an address cannot leave its
// segment.
func escapeODataSegment(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
