package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// apiClient fetches message trace pages in four layers, each in its file and replaceable on its
// own: admission (admission.go: request budget, start gate, page memory) -> request
// (request.go, body.go: token, HTTP, body bounds) -> classification (classify.go: what the
// answer means) -> retry (retry.go: whether and when to try again). Details requests
// (details_client.go) share the request layer. The passes see Fetch and the URLs, nothing of
// the layers.
type apiClient struct {
	api      traceAPI
	base     *url.URL
	pageSize int
	now      func() time.Time // for Retry-After dates and details' date ranges

	// admission is embedded: details take their own budget slots (details.go).
	admission
	tokens  *tokenProvider // the request layer's token source, forgotten after a 401
	request *requester
	limit   int64 // body limit of a page: maxBodyBytes
	retry   *retrier
}

// Fetch gets and decodes one page, retrying transient failures within the policy. isNext says
// the URL is a next-link: a backlog, which waits for the start wave, and whose 400 means a
// poisoned link rather than a bad query. The page holds its share of the page memory until
// release is called, once it is delivered; release may be called more than once.
func (c *apiClient) Fetch(ctx context.Context, pageURL string, isNext bool) (page *tracepage.Page, release func(), err error) {
	if isNext {
		if err := c.backlog(ctx); err != nil {
			return nil, c.release, err
		}
	}
	err = c.retry.run(ctx, func(ctx context.Context) error {
		var err error
		if page, err = c.attempt(ctx, pageURL, isNext); err != nil {
			c.release()
		}
		return err
	})
	if err != nil {
		return nil, c.release, err
	}
	return page, c.release, nil
}

// attempt is one page request through admission, request and classification.
func (c *apiClient) attempt(ctx context.Context, pageURL string, isNext bool) (*tracepage.Page, error) {
	finished, connected, err := c.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer finished()
	a, err := c.request.get(ctx, pageURL, pageRequest, connected,
		bodyRead{limit: c.limit, hold: c.memory, atLeast: int64(c.pageSize) * inFlightBytesPerRow})
	if err != nil {
		return nil, pageRequestError(err)
	}
	return classifyPage(c.api, a, isNext, c.pageSize, c.now())
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
