package msgtracetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func detailsTestRows(now time.Time) []Row {
	mk := func(id, rcpt, status string) Row {
		return Row{
			ID: id, MessageID: "<m-" + id[:4] + "@example.com>", Sender: "ops@fabrikam.example", Recipient: rcpt,
			Received: now.Add(-time.Hour), Status: status, Size: 1000, FromIP: "192.0.2.1",
		}
	}
	return []Row{
		mk("11111111-1111-4111-8111-111111111111", "o'brien@contoso.com", StatusQuarantined),
		mk("22222222-2222-4222-8222-222222222222", "kim@contoso.com", StatusFailed),
		mk("33333333-3333-4333-8333-333333333333", "ana@contoso.com", StatusFilteredAsSpam),
	}
}

func getDetails(t *testing.T, f *fixture, tok, u string) (int, []byte) {
	t.Helper()
	res := f.get(t, u, tok)
	return res.status, res.body
}

func graphDetailsURL(s *Server, id, rcpt string) string {
	return s.URL() + "/v1.0/admin/exchange/tracing/messageTraces/" + id + "/" +
		url.PathEscape("getDetailsByRecipient(recipientAddress='"+strings.ReplaceAll(rcpt, "'", "''")+"')")
}

func TestDetailsGraphEventsPerStatus(t *testing.T) {
	f := newFixture(t, Options{})
	s := f.s
	rows := detailsTestRows(t0)
	s.AddRows(rows...)
	tok := f.graphToken(t)
	want := map[string][]string{
		StatusFailed:         {"Receive", "Fail"},
		StatusFilteredAsSpam: {"Receive", "Spam", "Deliver"},
	}
	for _, r := range rows {
		code, body := getDetails(t, f, tok, graphDetailsURL(s, r.ID, r.Recipient))
		require.Equal(t, http.StatusOK, code, string(body))
		var out struct {
			Value []struct{ ID, MessageID, DateTime, Event, Action, Description, Data string }
		}
		require.NoError(t, json.Unmarshal(body, &out))
		require.NotEmpty(t, out.Value, r.Status)
		var events []string
		for _, v := range out.Value {
			events = append(events, v.Event)
			assert.Equal(t, r.MessageID, v.MessageID)
			assert.True(t, strings.HasPrefix(v.Data, "<root>"), v.Data)
		}
		assert.Equal(t, "Receive", events[0])
		if w, ok := want[r.Status]; ok {
			assert.Equal(t, w[len(w)-1], events[len(events)-1], r.Status)
		}
		if r.Status == StatusQuarantined {
			assert.Equal(t, "Quarantine", out.Value[1].Action)
		}
	}
	assert.Len(t, s.DetailRequests(), 3)
}

func TestDetailsLegacyFilterAndUnknownRow(t *testing.T) {
	f := newFixture(t, Options{})
	s := f.s
	rows := detailsTestRows(t0)
	s.AddRows(rows...)
	tok := f.legacyToken(t)
	q := url.Values{"$format": {"json"}, "$filter": {"MessageTraceId eq guid'" + rows[0].ID + "' and RecipientAddress eq 'o''brien@contoso.com'"}}
	code, body := getDetails(t, f, tok, s.URL()+"/ecp/reportingwebservice/reporting.svc/MessageTraceDetail?"+q.Encode())
	require.Equal(t, http.StatusOK, code, string(body))
	var out struct {
		Value []struct{ Event, Action, Date, MessageTraceID, RecipientAddress string }
	}
	require.NoError(t, json.Unmarshal(body, &out))
	require.Len(t, out.Value, 2)
	assert.Equal(t, "o'brien@contoso.com", out.Value[0].RecipientAddress)

	q.Set("$filter", "MessageTraceId eq guid'"+rows[0].ID+"'")
	code, _ = getDetails(t, f, tok, s.URL()+"/ecp/reportingwebservice/reporting.svc/MessageTraceDetail?"+q.Encode())
	assert.Equal(t, http.StatusBadRequest, code)

	gtok := f.graphToken(t)
	code, body = getDetails(t, f, gtok, graphDetailsURL(s, "99999999-9999-4999-8999-999999999999", "x@contoso.com"))
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `"value":[]`)
}

func TestDetailsShareQuotaAndFail(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: 3, QuotaWindow: time.Minute, DetailsFailEvery: 2})
	s := f.s
	rows := detailsTestRows(t0)
	s.AddRows(rows...)
	tok := f.graphToken(t)
	codes := []int{}
	for range 4 {
		code, _ := getDetails(t, f, tok, graphDetailsURL(s, rows[1].ID, rows[1].Recipient))
		codes = append(codes, code)
	}
	assert.Equal(t, []int{200, 500, 200, 429}, codes)
	assert.Equal(t, 1, s.QuotaViolations())
}
