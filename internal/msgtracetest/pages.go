package msgtracetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// FullPage fetches one full page from a fresh fake tenant over HTTP, as a poll would: a
// 5,000-row Graph page, or a 2,000-row Reporting Web Service page in the given envelope
// ("verbose" or "light"). Benchmarks and decoder tests use it so that they measure the bytes a
// real poll hands to the decoder, not fixtures shaped by the decoder's own types.
func FullPage(legacy bool, envelope string) ([]byte, error) {
	const secret = "full-page-secret"
	now := time.Now().UTC()
	srv, err := NewServer(Options{ClientSecret: secret, QuotaRequests: -1, LegacyEnvelope: envelope})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	// 3,000 messages of 1-3 recipients in the last 5 hours: more than one full page of either API.
	srv.AddRows(Generate(42, 3000, now.Add(-5*time.Hour), now.Add(-time.Hour), GenerateOptions{})...)
	scope, base, top := srv.GraphScope(), srv.GraphTracesURL(), 5000
	filter := fmt.Sprintf("receivedDateTime ge %s and receivedDateTime le %s", now.Add(-6*time.Hour).Format(time.RFC3339), now.Format(time.RFC3339))
	if legacy {
		scope, base, top = LegacyScope, srv.LegacyURL(), 2000
		filter = fmt.Sprintf("StartDate eq datetime'%s' and EndDate eq datetime'%s'", now.Add(-6*time.Hour).Format(time.RFC3339), now.Format(time.RFC3339))
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	cc := clientcredentials.Config{ClientID: srv.Options().ClientID, ClientSecret: secret, TokenURL: srv.TokenURL(), Scopes: []string{scope}}
	q := url.Values{"$filter": {filter}, "$top": {strconv.Itoa(top)}}
	if legacy {
		q.Set("$format", "json")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cc.Client(ctx).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fake tenant answered %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// FullPages fetches the three full pages (Graph, legacy verbose, legacy light) once per value;
// a benchmark package keeps one in a variable so its benchmarks share the fetch.
type FullPages struct {
	once                              sync.Once
	graph, legacyVerbose, legacyLight []byte
	err                               error
}

// Get returns the pages, fetching them at the first call.
func (p *FullPages) Get() (graph, legacyVerbose, legacyLight []byte, err error) {
	p.once.Do(func() {
		p.graph, p.err = FullPage(false, "light")
		if p.err == nil {
			p.legacyVerbose, p.err = FullPage(true, "verbose")
		}
		if p.err == nil {
			p.legacyLight, p.err = FullPage(true, "light")
		}
	})
	return p.graph, p.legacyVerbose, p.legacyLight, p.err
}

// For is Get for tests and benchmarks: it fails tb when the pages cannot be fetched.
func (p *FullPages) For(tb testing.TB) (graph, legacyVerbose, legacyLight []byte) {
	tb.Helper()
	graph, legacyVerbose, legacyLight, err := p.Get()
	if err != nil {
		tb.Fatal(err)
	}
	return graph, legacyVerbose, legacyLight
}
