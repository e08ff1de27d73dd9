package msgtracetest

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func row(id, recipient string, recv time.Time) Row {
	return Row{
		ID: id, MessageID: "<" + id + "@mail.example>", Sender: "billing@northwind.example",
		Recipient: recipient, Subject: "s " + id, Received: recv, Status: StatusDelivered, Size: 1000, FromIP: "192.0.2.1",
	}
}

func keyOf(r graphRow) string { return r.ID + "|" + strings.ToLower(r.RecipientAddress) }

func TestGraphInclusiveBounds(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	start, end := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	f.s.AddRows(
		row("before", "a@contoso.com", start.Add(-time.Millisecond)),
		row("start", "a@contoso.com", start),
		row("inside", "a@contoso.com", start.Add(30*time.Minute)),
		row("end", "a@contoso.com", end),
		row("after", "a@contoso.com", end.Add(time.Millisecond)),
	)
	tok := f.graphToken(t)
	rows, _ := f.collectGraph(t, f.graphURL(rangeFilter(start, end), 0), tok)
	var got []string
	for _, r := range rows {
		got = append(got, r.ID)
	}
	if want := "end,inside,start"; strings.Join(got, ",") != want {
		t.Fatalf("ids = %v; want %s", got, want)
	}
}

func TestGraphRowShapeAndOrdering(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	recv := t0.Add(-time.Hour).Add(123 * time.Millisecond)
	f.s.AddRows(
		Row{
			ID: "b", MessageID: "<m@x>", Sender: "dan.o'connor@contoso.com", Recipient: "Zed@contoso.com",
			Subject: "Überweisung für Jürgen – 請求書 ✓ \"q\" \\", Received: recv, Status: StatusPending, Size: 73214, FromIP: "2001:db8::1",
		},
		Row{ID: "b", Recipient: "amy@contoso.com", Received: recv, Status: StatusDelivered},
		Row{ID: "a", Recipient: "zed@contoso.com", Received: recv, Status: StatusRecalled},
		Row{ID: "c", Recipient: "x@contoso.com", Received: recv.Add(time.Second), Status: StatusDelivered},
		Row{ID: "d", Recipient: "x@contoso.com", Received: recv.Add(-time.Second), Status: StatusDelivered},
	)
	tok := f.graphToken(t)
	res := f.get(t, f.graphURL(rangeFilter(t0.Add(-2*time.Hour), t0), 0), tok)
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	p := decodeGraphPage(t, res.body)
	if want := f.s.URL() + "/v1.0/$metadata#admin/exchange/tracing/messageTraces"; p.Context != want {
		t.Errorf("@odata.context = %q; want %q", p.Context, want)
	}
	var got []string
	for _, r := range p.Value {
		got = append(got, r.ID+"/"+r.RecipientAddress)
	}
	want := "c/x@contoso.com,a/zed@contoso.com,b/amy@contoso.com,b/Zed@contoso.com,d/x@contoso.com"
	if strings.Join(got, ",") != want {
		t.Fatalf("order = %v; want %s", got, want)
	}
	r := p.Value[3]
	if r.Subject != "Überweisung für Jürgen – 請求書 ✓ \"q\" \\" || r.SenderAddress != "dan.o'connor@contoso.com" ||
		r.Size == nil || *r.Size != 73214 || r.ToIP == nil || *r.ToIP != "" || r.FromIP == nil || *r.FromIP != "2001:db8::1" ||
		r.Status != "pending" || r.MessageID != "<m@x>" {
		t.Fatalf("row = %+v", r)
	}
	if !mustParse(t, r.ReceivedDateTime).Equal(recv) || !strings.HasSuffix(r.ReceivedDateTime, "Z") {
		t.Errorf("receivedDateTime = %q; want %s", r.ReceivedDateTime, recv.Format(time.RFC3339Nano))
	}
	if p.Value[1].Status != "unknownFutureValue" {
		t.Errorf("recalled without Prefer = %q; want unknownFutureValue", p.Value[1].Status)
	}
	res = f.get(t, f.graphURL(rangeFilter(t0.Add(-2*time.Hour), t0), 0), tok, "Prefer", "include-unknown-enum-members")
	if p := decodeGraphPage(t, res.body); p.Value[1].Status != "recalled" {
		t.Errorf("recalled with Prefer = %q; want recalled", p.Value[1].Status)
	}
	// beta answers the same shape
	res = f.get(t, strings.Replace(f.graphURL("", 0), "/v1.0/", "/beta/", 1), tok)
	if p := decodeGraphPage(t, res.body); res.status != 200 || len(p.Value) != 5 || !strings.Contains(p.Context, "/beta/") {
		t.Errorf("beta: %d %s", res.status, truncate(res.body))
	}
}

func TestGraphPagingCoversEveryRowOnce(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	from, to := t0.Add(-6*time.Hour), t0
	rows := Generate(7, 4000, from, to, GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	// Same received time for a whole burst, to exercise the cursor tie-break.
	for i := range 50 {
		rows = append(rows, row(fmt.Sprintf("tie-%02d", i), "r@contoso.com", from.Add(time.Hour)))
	}
	f.s.AddRows(rows...)
	want := f.s.VisibleRows(from, to)
	if len(want) < 5001 {
		t.Fatalf("only %d rows generated; need > 5000", len(want))
	}
	tok := f.graphToken(t)
	for _, top := range []int{0, 1, 7, 1000, 4999, 5000} {
		if top == 1 && testing.Short() {
			continue
		}
		t.Run(fmt.Sprintf("top=%d", top), func(t *testing.T) {
			first := f.graphURL(rangeFilter(from, to), top)
			if top == 1 {
				// 1-row pages over the full set would take >8000 requests; use a sub-window.
				first = f.graphURL(rangeFilter(from.Add(time.Hour), from.Add(time.Hour+5*time.Minute)), 1)
			}
			got, pages := f.collectGraph(t, first, tok)
			wantRows := want
			if top == 1 {
				wantRows = f.s.VisibleRows(from.Add(time.Hour), from.Add(time.Hour+5*time.Minute))
			}
			if len(got) != len(wantRows) {
				t.Fatalf("got %d rows; want %d", len(got), len(wantRows))
			}
			seen := map[string]bool{}
			for i, r := range got {
				k := keyOf(r)
				if seen[k] {
					t.Fatalf("row %s returned twice", k)
				}
				seen[k] = true
				if w := wantRows[i]; w.ID != r.ID || w.Recipient != r.RecipientAddress {
					t.Fatalf("row %d = %s/%s; want %s/%s", i, r.ID, r.RecipientAddress, w.ID, w.Recipient)
				}
			}
			size := top
			if size == 0 {
				size = 1000
			}
			if wantPages := (len(wantRows) + size - 1) / size; pages != wantPages {
				t.Errorf("pages = %d; want %d", pages, wantPages)
			}
		})
	}
}

func TestGraphNextLinkKeepsQuery(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(Generate(1, 30, t0.Add(-time.Hour), t0, GenerateOptions{})...)
	tok := f.graphToken(t)
	first := f.graphURL(rangeFilter(t0.Add(-time.Hour), t0), 5) + "&$select=id"
	res := f.get(t, first, tok)
	p := decodeGraphPage(t, res.body)
	u, err := url.Parse(p.NextLink)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "https" || "https://"+u.Host != f.s.URL() || u.Path != "/v1.0/admin/exchange/tracing/messageTraces" ||
		q.Get("$filter") != rangeFilter(t0.Add(-time.Hour), t0) || q.Get("$top") != "5" || q.Get("$select") != "id" || q.Get("$skiptoken") == "" {
		t.Fatalf("nextLink = %s", p.NextLink)
	}
	// The skiptoken is a cursor, not an offset: it must not be a small integer.
	if _, err := fmt.Sscanf(q.Get("$skiptoken"), "%d", new(int)); err == nil && len(q.Get("$skiptoken")) < 8 {
		t.Errorf("skiptoken %q looks like an offset", q.Get("$skiptoken"))
	}
	// Following twice gives the same page (a cursor is replayable).
	a, b := f.get(t, p.NextLink, tok), f.get(t, p.NextLink, tok)
	if !reflect.DeepEqual(decodeGraphPage(t, a.body).Value, decodeGraphPage(t, b.body).Value) || a.status != 200 {
		t.Errorf("replaying the nextLink changed the answer")
	}
	// No filter: the window of the first page is carried in the token.
	res = f.get(t, f.graphURL("", 5), tok)
	p = decodeGraphPage(t, res.body)
	f.clock.Advance(time.Minute)
	f.s.AddRows(row("new", "a@contoso.com", t0.Add(30*time.Second)))
	all, _ := f.collectGraph(t, p.NextLink, tok)
	for _, r := range all {
		if r.ID == "new" {
			t.Fatal("row newer than the first page's window appeared on a later page")
		}
	}
}

func TestGraphNoFilterIsLast48Hours(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(
		row("old", "a@contoso.com", t0.Add(-48*time.Hour-time.Millisecond)),
		row("edge", "a@contoso.com", t0.Add(-48*time.Hour)),
		row("recent", "a@contoso.com", t0.Add(-time.Minute)),
	)
	got, _ := f.collectGraph(t, f.graphURL("", 0), f.graphToken(t))
	if len(got) != 2 || got[0].ID != "recent" || got[1].ID != "edge" {
		t.Fatalf("rows = %+v", got)
	}
}

func TestGraphQueryValidation(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	f.s.AddRows(row("x", "a@contoso.com", t0.Add(-time.Hour)))
	tok := f.graphToken(t)
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	tests := []struct {
		name   string
		filter string
		top    string
		extra  string
		want   int
	}{
		{name: "plain Z timestamps", filter: "receivedDateTime ge " + ts(t0.Add(-2*time.Hour)) + " and receivedDateTime le " + ts(t0), want: 200},
		{name: "fractional seconds", filter: "receivedDateTime ge 2026-11-21T06:00:00.000Z and receivedDateTime le 2026-11-21T07:59:59.9999999Z", want: 200},
		{name: "nanoseconds", filter: "receivedDateTime ge 2026-11-21T06:00:00.123456789Z and receivedDateTime le 2026-11-21T07:59:59.123456789Z", want: 200},
		{name: "offset", filter: "receivedDateTime ge 2026-11-21T08:00:00+02:00 and receivedDateTime le 2026-11-21T09:30:00+02:00", want: 200},
		{name: "upper case keywords", filter: "receivedDateTime GE 2026-11-21T06:00:00Z AND receivedDateTime LE 2026-11-21T08:00:00Z", want: 200},
		{name: "parenthesised", filter: "(receivedDateTime ge 2026-11-21T06:00:00Z) and (receivedDateTime le 2026-11-21T08:00:00Z)", want: 200},
		{name: "exactly 10 days", filter: "receivedDateTime ge " + ts(t0.Add(-240*time.Hour)) + " and receivedDateTime le " + ts(t0), want: 200},
		{name: "end exactly now", filter: "receivedDateTime ge " + ts(t0.Add(-time.Hour)) + " and receivedDateTime le " + ts(t0), want: 200},
		{name: "more than 10 days", filter: "receivedDateTime ge " + ts(t0.Add(-240*time.Hour-time.Second)) + " and receivedDateTime le " + ts(t0), want: 400},
		{name: "start older than 90 days", filter: "receivedDateTime ge " + ts(t0.Add(-91*24*time.Hour)) + " and receivedDateTime le " + ts(t0.Add(-90*24*time.Hour+time.Hour)), want: 400},
		{name: "end later than now", filter: "receivedDateTime ge " + ts(t0.Add(-time.Hour)) + " and receivedDateTime le " + ts(t0.Add(time.Second)), want: 400},
		{name: "end before start", filter: "receivedDateTime ge " + ts(t0.Add(-time.Hour)) + " and receivedDateTime le " + ts(t0.Add(-2*time.Hour)), want: 400},
		{name: "only ge", filter: "receivedDateTime ge " + ts(t0.Add(-time.Hour)), want: 400},
		{name: "gt is not supported", filter: "receivedDateTime gt " + ts(t0.Add(-time.Hour)) + " and receivedDateTime le " + ts(t0), want: 400},
		{name: "quoted timestamp", filter: "receivedDateTime ge '" + ts(t0.Add(-time.Hour)) + "' and receivedDateTime le '" + ts(t0) + "'", want: 400},
		{name: "no offset", filter: "receivedDateTime ge 2026-11-21T06:00:00 and receivedDateTime le 2026-11-21T07:00:00", want: 400},
		{name: "date only", filter: "receivedDateTime ge 2026-11-20 and receivedDateTime le 2026-11-21", want: 400},
		{name: "garbage", filter: "receivedDateTime ge", want: 400},
		{name: "unknown property", filter: "foo eq 'x'", want: 400},
		{name: "unterminated string", filter: "senderAddress eq 'x", want: 400},
		{name: "not operator", filter: "not (status eq 'delivered')", want: 400},
		{name: "top 1", top: "1", want: 200},
		{name: "top 5000", top: "5000", want: 200},
		{name: "top 0", top: "0", want: 400},
		{name: "top 5001", top: "5001", want: 400},
		{name: "top not a number", top: "1000]", want: 400},
		{name: "garbled skiptoken", extra: "&$skiptoken=garbage", want: 400},
		{name: "duplicate $top", top: "5", extra: "&$top=6", want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := f.s.GraphTracesURL() + "?x=1"
			if tt.filter != "" {
				u += "&$filter=" + url.QueryEscape(tt.filter)
			}
			if tt.top != "" {
				u += "&$top=" + url.QueryEscape(tt.top)
			}
			u += tt.extra
			res := f.get(t, u, tok)
			if res.status != tt.want {
				t.Fatalf("status = %d; want %d (%s)", res.status, tt.want, truncate(res.body))
			}
			if tt.want == 400 {
				if e := decodeGraphError(t, res.body); e.Error.Code != "BadRequest" || e.Error.Message == "" || e.Error.InnerError["request-id"] == nil {
					t.Fatalf("error = %+v", e)
				}
			}
		})
	}
	// A valid but tampered skiptoken (flipped bit) is rejected too.
	res := f.get(t, f.graphURL(rangeFilter(t0.Add(-2*time.Hour), t0), 0), tok)
	_ = res
	f.s.AddRows(row("y", "a@contoso.com", t0.Add(-time.Hour)))
	p := decodeGraphPage(t, f.get(t, f.graphURL(rangeFilter(t0.Add(-2*time.Hour), t0), 1), tok).body)
	u, _ := url.Parse(p.NextLink)
	q := u.Query()
	st := []byte(q.Get("$skiptoken"))
	st[len(st)/2] ^= 1
	q.Set("$skiptoken", string(st))
	u.RawQuery = q.Encode()
	if res := f.get(t, u.String(), tok); res.status != 400 {
		t.Fatalf("tampered skiptoken: status %d", res.status)
	}
}

func TestGraphFilters(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	recv := t0.Add(-time.Hour)
	f.s.AddRows(
		Row{ID: "1", Recipient: "dan.o'connor@contoso.com", Sender: "x@y", Subject: "Invoice 4471", Received: recv, Status: StatusDelivered},
		Row{ID: "2", Recipient: "ana@contoso.com", Sender: "x@y", Subject: "Weekly invoice", Received: recv, Status: StatusFailed},
		Row{ID: "3", Recipient: "ana@contoso.com", Sender: "z@y", Subject: "Hello", Received: recv, Status: StatusDelivered, FromIP: "192.0.2.9"},
	)
	tok := f.graphToken(t)
	base := rangeFilter(t0.Add(-2*time.Hour), t0)
	tests := []struct {
		name, clause, want string
	}{
		{"recipient with apostrophe", "recipientAddress eq 'DAN.O''CONNOR@contoso.com'", "1"},
		{"status", "status eq 'failed'", "2"},
		{"sender", "senderAddress eq 'z@y'", "3"},
		{"fromIP", "fromIP eq '192.0.2.9'", "3"},
		{"subject contains", "contains(subject,'invoice')", "1,2"},
		{"subject startsWith", "startsWith(subject, 'Weekly')", "2"},
		{"or is treated as and, last value wins", "(status eq 'failed' or status eq 'delivered')", "1,3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := f.collectGraph(t, f.graphURL(base+" and "+tt.clause, 0), tok)
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if strings.Join(ids, ",") != tt.want {
				t.Fatalf("ids = %v; want %s", ids, tt.want)
			}
		})
	}
}

func TestGraphLateRowsAndStatusChanges(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	from, to := t0.Add(-3*time.Hour), t0.Add(-time.Hour)
	f.s.AddRows(
		row("r1", "a@contoso.com", from.Add(100*time.Minute)),
		row("r2", "a@contoso.com", from.Add(90*time.Minute)),
		row("r3", "a@contoso.com", from.Add(80*time.Minute)),
		row("r4", "a@contoso.com", from.Add(70*time.Minute)),
	)
	lateNew := row("late-new", "a@contoso.com", from.Add(95*time.Minute)) // newer than the cursor after page 1
	lateNew.VisibleAt = t0.Add(time.Minute)
	lateOld := row("late-old", "a@contoso.com", from.Add(60*time.Minute)) // older than the cursor
	lateOld.VisibleAt = t0.Add(time.Minute)
	pending := row("pend", "a@contoso.com", from.Add(85*time.Minute))
	pending.Status, pending.SettlesAt, pending.FinalStatus = StatusPending, t0.Add(time.Minute), StatusDelivered
	f.s.AddRows(lateNew, lateOld, pending)
	tok := f.graphToken(t)

	res := f.get(t, f.graphURL(rangeFilter(from, to), 2), tok)
	p := decodeGraphPage(t, res.body)
	if len(p.Value) != 2 || p.Value[0].ID != "r1" || p.Value[1].ID != "r2" {
		t.Fatalf("page 1 = %+v", p.Value)
	}
	f.clock.Advance(time.Minute) // late rows become visible, pending settles
	rest, _ := f.collectGraph(t, p.NextLink, tok)
	var ids []string
	for _, r := range rest {
		ids = append(ids, r.ID+":"+r.Status)
	}
	if want := "pend:delivered,r3:delivered,r4:delivered,late-old:delivered"; strings.Join(ids, ",") != want {
		t.Fatalf("later pages = %v; want %s (late row newer than the cursor is missed, older one is found)", ids, want)
	}
	all, _ := f.collectGraph(t, f.graphURL(rangeFilter(from, to), 0), tok)
	if len(all) != 7 {
		t.Fatalf("fresh query: %d rows; want 7", len(all))
	}
	if !f.s.SetStatus("pend", "A@CONTOSO.COM", StatusFailed) {
		t.Fatal("SetStatus: row not found")
	}
	for _, r := range f.s.Rows() {
		if r.ID == "pend" && r.Status != StatusFailed {
			t.Fatalf("Rows() status = %s; want failed", r.Status)
		}
	}
}

func TestGraphMethodAndPath(t *testing.T) {
	f := newFixture(t, Options{QuotaRequests: -1})
	tok := f.graphToken(t)
	if res := f.get(t, f.s.URL()+"/v1.0/admin/exchange/tracing/nope", tok); res.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", res.status)
	}
	req, _ := http.NewRequest(http.MethodPost, f.s.GraphTracesURL(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if res := f.do(t, req); res.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.status)
	}
}
