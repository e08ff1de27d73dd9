package messagetracereceiver

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// benchPages are realistic response bodies, fetched once from the fake tenant.
var benchPages msgtracetest.FullPages

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
	graph, verbose, light := benchPages.For(b)
	builder := &recordBuilder{tenant: "contoso.onmicrosoft.com", includeSubject: true, version: "bench"}
	observed := time.Now()
	cases := []struct {
		name     string
		body     []byte
		decode   func([]byte) (*tracepage.Page, error)
		baseline func([]byte) (int, error)
	}{
		{"graph", graph, decodeGraphAll, func(body []byte) (int, error) {
			var p plainGraphPage
			err := json.Unmarshal(body, &p)
			return len(p.Value), err
		}},
		{"legacy_verbose", verbose, decodeLegacyAll, func(body []byte) (int, error) {
			var p plainLegacyPage
			err := json.Unmarshal(body, &p)
			return len(p.D.Results), err
		}},
		{"legacy_light", light, decodeLegacyAll, func(body []byte) (int, error) {
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
		rows := len(page.Rows)
		b.Run(c.name+"/decode_convert", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				p, err := c.decode(c.body)
				if err != nil {
					b.Fatal(err)
				}
				if ld := builder.build(newRecords(p.Rows), observed); ld.LogRecordCount() != rows {
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

// decodeGraphAll and decodeLegacyAll decode a page without a row limit.
func decodeGraphAll(body []byte) (*tracepage.Page, error) { return tracepage.DecodeGraph(body, 0) }

func decodeLegacyAll(body []byte) (*tracepage.Page, error) { return tracepage.DecodeLegacy(body, 0) }
