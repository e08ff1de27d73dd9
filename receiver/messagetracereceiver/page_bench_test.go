package messagetracereceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// benchPages holds realistic response bodies, fetched once from the fake tenant: the bytes a
// real poll hands to the decoder, not fixtures shaped by the decoder's own types.
var benchPages struct {
	once                              sync.Once
	graph, legacyVerbose, legacyLight []byte
	err                               error
}

// realisticPages fetches a full 5,000-row Graph page and full 2,000-row legacy pages (verbose
// and light envelopes) from msgtracetest.
func realisticPages(tb testing.TB) (graph, legacyVerbose, legacyLight []byte) {
	tb.Helper()
	benchPages.once.Do(func() {
		benchPages.graph, benchPages.err = fetchRawPage(false, "light")
		if benchPages.err == nil {
			benchPages.legacyVerbose, benchPages.err = fetchRawPage(true, "verbose")
		}
		if benchPages.err == nil {
			benchPages.legacyLight, benchPages.err = fetchRawPage(true, "light")
		}
	})
	if benchPages.err != nil {
		tb.Fatal(benchPages.err)
	}
	return benchPages.graph, benchPages.legacyVerbose, benchPages.legacyLight
}

func fetchRawPage(legacy bool, envelope string) ([]byte, error) {
	now := time.Now().UTC()
	srv, err := msgtracetest.NewServer(msgtracetest.Options{ClientSecret: testSecret, QuotaRequests: -1, LegacyEnvelope: envelope})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	// 3,000 messages of 1-3 recipients in the last 5 hours: more than one full page of either API.
	srv.AddRows(msgtracetest.Generate(42, 3000, now.Add(-5*time.Hour), now.Add(-time.Hour), msgtracetest.GenerateOptions{})...)
	scope, base, top := srv.GraphScope(), srv.GraphTracesURL(), 5000
	filter := fmt.Sprintf("receivedDateTime ge %s and receivedDateTime le %s", now.Add(-6*time.Hour).Format(time.RFC3339), now.Format(time.RFC3339))
	if legacy {
		scope, base, top = msgtracetest.LegacyScope, srv.LegacyURL(), 2000
		filter = fmt.Sprintf("StartDate eq datetime'%s' and EndDate eq datetime'%s'", now.Add(-6*time.Hour).Format(time.RFC3339), now.Format(time.RFC3339))
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	cc := clientcredentials.Config{ClientID: srv.Options().ClientID, ClientSecret: testSecret, TokenURL: srv.TokenURL(), Scopes: []string{scope}}
	client := cc.Client(ctx)
	q := url.Values{"$filter": {filter}, "$top": {fmt.Sprint(top)}}
	if legacy {
		q.Set("$format", "json")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
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

// plainGraphPage and plainLegacyPage are the baseline's target: the same fields as plain Go
// values, the cheapest thing encoding/json can decode these pages into.
type plainGraphPage struct {
	NextLink string `json:"@odata.nextLink"`
	Value    []struct {
		ID               string `json:"id"`
		MessageID        string `json:"messageId"`
		SenderAddress    string `json:"senderAddress"`
		RecipientAddress string `json:"recipientAddress"`
		Subject          string `json:"subject"`
		ReceivedDateTime string `json:"receivedDateTime"`
		Status           string `json:"status"`
		Size             int64  `json:"size"`
		FromIP           string `json:"fromIP"`
		ToIP             string `json:"toIP"`
	} `json:"value"`
}

type plainLegacyRow struct {
	Organization     string `json:"Organization"`
	MessageID        string `json:"MessageId"`
	Received         string `json:"Received"`
	SenderAddress    string `json:"SenderAddress"`
	RecipientAddress string `json:"RecipientAddress"`
	Subject          string `json:"Subject"`
	Status           string `json:"Status"`
	ToIP             string `json:"ToIP"`
	FromIP           string `json:"FromIP"`
	Size             int64  `json:"Size"`
	MessageTraceID   string `json:"MessageTraceId"`
}

type plainLegacyPage struct {
	D *struct {
		Results []plainLegacyRow `json:"results"`
		Next    string           `json:"__next"`
	} `json:"d"`
	Value    []plainLegacyRow `json:"value"`
	NextLink string           `json:"odata.nextLink"`
}

// BenchmarkDecodeConvert is issue 6 figure 1: a realistic full page to plog.Logs (decode +
// record building), against encoding/json decoding the same page into plain structs in the
// same run. Report rows/s, B/row and allocs/row; the ns/op and B/op columns are per page.
func BenchmarkDecodeConvert(b *testing.B) {
	graph, verbose, light := realisticPages(b)
	builder := &recordBuilder{tenant: "contoso.onmicrosoft.com", includeSubject: true, version: "bench"}
	observed := time.Now()
	cases := []struct {
		name     string
		body     []byte
		decode   func([]byte) (*tracePage, error)
		baseline func([]byte) (int, error)
	}{
		{"graph", graph, decodeGraphPage, func(body []byte) (int, error) {
			var p plainGraphPage
			err := json.Unmarshal(body, &p)
			return len(p.Value), err
		}},
		{"legacy_verbose", verbose, decodeLegacyPage, func(body []byte) (int, error) {
			var p plainLegacyPage
			err := json.Unmarshal(body, &p)
			return len(p.D.Results), err
		}},
		{"legacy_light", light, decodeLegacyPage, func(body []byte) (int, error) {
			var p plainLegacyPage
			err := json.Unmarshal(body, &p)
			return len(p.Value), err
		}},
	}
	for _, c := range cases {
		page, err := c.decode(c.body)
		if err != nil {
			b.Fatal(err)
		}
		rows := len(page.rows)
		b.Run(c.name+"/decode_convert", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				p, err := c.decode(c.body)
				if err != nil {
					b.Fatal(err)
				}
				if ld := builder.build(p.rows, observed); ld.LogRecordCount() != rows {
					b.Fatalf("%d records, want %d", ld.LogRecordCount(), rows)
				}
			}
			reportPerRow(b, rows)
		})
		b.Run(c.name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				n, err := c.baseline(c.body)
				if err != nil || n != rows {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			reportPerRow(b, rows)
		})
	}
}

// reportPerRow adds rows/s and rows/page to a benchmark whose op is one page; B/op and
// allocs/op divided by rows/page give the per-row figures (bench/ prints them).
func reportPerRow(b *testing.B, rows int) {
	b.Helper()
	n := float64(b.N) * float64(rows)
	b.ReportMetric(n/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows), "rows/page")
}
