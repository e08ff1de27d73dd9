package msgtracetest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Hostile faults: what a broken or malicious server (or a man in the middle) may answer. They
// are not in AllFaultKinds or the fault mix; tests inject them one by one.
const (
	// FaultRedirect answers Fault.Status (default 302 Found) with Location: Fault.Location, in
	// place of the API answer.
	FaultRedirect FaultKind = "redirect"
	// FaultOversized pads the normal 200 answer with a "padding" member to Fault.Size bytes
	// (default 65 MiB), still valid JSON.
	FaultOversized FaultKind = "oversized"
	// FaultExtraRows adds Fault.Rows (default 1) rows to a Graph page beyond its $top.
	FaultExtraRows FaultKind = "extra_rows"
	// FaultBadRow replaces the receivedDateTime value of the first row of a Graph page with the
	// raw JSON Fault.Value (default "not-a-date"), for this answer only.
	FaultBadRow FaultKind = "bad_row"
	// FaultTokenRedirect makes the token endpoint answer Fault.Status (default 307, which
	// re-posts the body) with Location: Fault.Location. Token queue.
	FaultTokenRedirect FaultKind = "token_redirect"
	// FaultTokenEcho makes the token endpoint refuse the login with an unknown AADSTS code whose
	// error_description starts with the request body it received, credential included.
	// Token queue.
	FaultTokenEcho FaultKind = "token_echo"
	// FaultChunkedBody sends the normal 200 answer after Fault.Size bytes (default 300 MiB) of
	// leading spaces, still valid JSON, chunked: no Content-Length. The spaces are streamed, never
	// held by the server.
	FaultChunkedBody FaultKind = "chunked_body"
	// FaultGzipBody sends the same body as FaultChunkedBody gzip-compressed (Content-Encoding:
	// gzip): 300 MiB of spaces is about 300 KB on the wire.
	FaultGzipBody FaultKind = "gzip_body"
)

// HostileFaultKinds lists the hostile faults.
var HostileFaultKinds = []FaultKind{
	FaultRedirect, FaultOversized, FaultExtraRows, FaultBadRow, FaultTokenRedirect, FaultTokenEcho,
	FaultChunkedBody, FaultGzipBody,
}

func isTokenFault(k FaultKind) bool {
	return k == FaultTokenError || k == FaultTokenRedirect || k == FaultTokenEcho
}

func (f Fault) withHostileDefaults() Fault {
	switch f.Kind {
	case FaultRedirect:
		if f.Status == 0 {
			f.Status = http.StatusFound
		}
	case FaultTokenRedirect:
		if f.Status == 0 {
			f.Status = http.StatusTemporaryRedirect
		}
	case FaultOversized:
		if f.Size <= 0 {
			f.Size = 65 << 20
		}
	case FaultChunkedBody, FaultGzipBody:
		if f.Size <= 0 {
			f.Size = 300 << 20
		}
	case FaultExtraRows:
		if f.Rows <= 0 {
			f.Rows = 1
		}
	case FaultBadRow:
		if f.Value == "" {
			f.Value = `"not-a-date"`
		}
	}
	return f
}

// NextLinkRepeat is how a hostile server repeats pages (RepeatNextLinks).
type NextLinkRepeat int

const (
	// RepeatNone pages as the API does.
	RepeatNone NextLinkRepeat = iota
	// RepeatSameLink answers every request that follows a next-link ($skiptoken, Graph or
	// legacy) with the page it names and, if a page follows, a next-link to itself: a client
	// that follows links blindly gets the same page forever.
	RepeatSameLink
	// RepeatFreshLink answers the same way but with a new next-link to the same page each time
	// (Graph: another skiptoken for the same position; legacy: as RepeatSameLink), so only the
	// rows show that the page repeats.
	RepeatFreshLink
)

// RepeatNextLinks makes next-links repeat their page (RepeatNone turns it off). First pages
// of a query are answered as usual.
func (s *Server) RepeatNextLinks(mode NextLinkRepeat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repeatNext = mode
}

// repeatingNextLinks reports the RepeatNextLinks mode.
func (s *Server) repeatingNextLinks() NextLinkRepeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repeatNext
}

// redirect is a 3xx answer pointing at location.
func redirect(status int, location string) *response {
	resp := newResponse(status, "text/html; charset=utf-8", []byte(`<html><body>Moved <a href="`+location+`">here</a></body></html>`))
	resp.header.Set("Location", location)
	return resp
}

// spoil applies a hostile fault that rewrites a normal 200 answer.
func spoil(resp *response, f Fault, legacy bool) {
	if resp.status != http.StatusOK || len(resp.body) < 2 {
		return
	}
	switch f.Kind {
	case FaultChunkedBody:
		body, pad := resp.body, f.Size
		resp.body, resp.stream = nil, func(w io.Writer) error { return writeSpaced(w, pad, body) }
	case FaultGzipBody:
		resp.body = gzipSpaced(f.Size, resp.body)
		resp.header.Set("Content-Encoding", "gzip")
	case FaultOversized:
		pad := f.Size - len(resp.body) - len(`"padding":"",`)
		if pad < 0 {
			pad = 0
		}
		b := make([]byte, 0, f.Size)
		b = append(b, `{"padding":"`...)
		b = append(b, bytes.Repeat([]byte{'x'}, pad)...)
		b = append(b, `",`...)
		resp.body = append(b, resp.body[1:]...)
	case FaultExtraRows:
		if legacy || !bytes.HasSuffix(resp.body, []byte("]}")) {
			return
		}
		end := len(resp.body) - 2
		var extra []byte
		for i := range f.Rows {
			if end > 0 && resp.body[end-1] != '[' || i > 0 {
				extra = append(extra, ',')
			}
			r := Row{ID: "extra-" + strconv.Itoa(i) + "-" + newUUID(), Recipient: "extra@example.com", Received: time.Unix(0, 0).UTC(), Status: StatusDelivered}
			extra = appendGraphRow(extra, &r, false)
		}
		resp.body = append(resp.body[:end:end], append(extra, "]}"...)...)
		resp.rows += f.Rows
	case FaultBadRow:
		key := []byte(`"receivedDateTime":"`)
		if legacy {
			key = []byte(`"Received":"`)
		}
		i := bytes.Index(resp.body, key)
		if i < 0 {
			return
		}
		start := i + len(key) - 1
		end := bytes.IndexByte(resp.body[start+1:], '"')
		if end < 0 {
			return
		}
		end += start + 2
		b := append([]byte(nil), resp.body[:start]...)
		b = append(b, f.Value...)
		resp.body = append(b, resp.body[end:]...)
	}
}

// writeSpaced writes pad spaces, then body, in 64 KiB writes.
func writeSpaced(w io.Writer, pad int, body []byte) error {
	spaces := bytes.Repeat([]byte{' '}, 64<<10)
	for pad > 0 {
		n, err := w.Write(spaces[:min(pad, len(spaces))])
		if err != nil {
			return err
		}
		pad -= n
	}
	_, err := w.Write(body)
	return err
}

// gzipped caches the compressed spaces by their count: compressing 300 MiB takes a second.
var gzipped sync.Map // int -> []byte, a complete gzip member of that many spaces

// gzipSpaced is body after pad spaces, gzip-compressed: the spaces' member (cached) followed
// by the body's (a gzip stream may hold several members; readers join them).
func gzipSpaced(pad int, body []byte) []byte {
	spaces, ok := gzipped.Load(pad)
	if !ok {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_ = writeSpaced(zw, pad, nil)
		_ = zw.Close()
		spaces, _ = gzipped.LoadOrStore(pad, b.Bytes())
	}
	out := bytes.NewBuffer(append([]byte(nil), spaces.([]byte)...))
	zw := gzip.NewWriter(out)
	_, _ = zw.Write(body)
	_ = zw.Close()
	return out.Bytes()
}

// tokenEcho is a refused login whose description echoes the request, as a broken proxy or
// endpoint might.
func (s *Server) tokenEcho(r *http.Request, now time.Time) *response {
	_ = r.ParseForm()
	// The credential first, so that even a short quote of the description would hold it.
	echo := url.Values{}
	for _, k := range []string{"client_secret", "client_assertion"} {
		if v := r.PostForm.Get(k); v != "" {
			echo.Set(k, v)
		}
	}
	desc := "AADSTS9002999: request " + echo.Encode() + "&" + r.PostForm.Encode() + "\r\nTimestamp: " + now.UTC().Format(time.RFC3339)
	b, _ := json.Marshal(map[string]any{"error": "invalid_request", "error_description": desc, "error_codes": []int{9002999}})
	return newResponse(http.StatusBadRequest, "application/json; charset=utf-8", b)
}

// corruptGraphRow writes a row whose members Row.Corrupt replaces (raw JSON; "" drops the
// member), in the order Graph sends them.
func appendCorruptGraphRow(b []byte, r *Row, includeUnknown bool) []byte {
	clean := *r
	clean.Corrupt = nil
	var members map[string]json.RawMessage
	_ = json.Unmarshal(appendGraphRow(nil, &clean, includeUnknown), &members)
	b = append(b, '{')
	first := true
	for _, k := range []string{"id", "senderAddress", "recipientAddress", "messageId", "receivedDateTime", "subject", "size", "fromIP", "toIP", "status"} {
		v := string(members[k])
		if c, ok := r.Corrupt[k]; ok {
			v = c
		}
		if v == "" {
			continue
		}
		b = appendKey(b, k, first)
		b = append(b, v...)
		first = false
	}
	// Members Graph does not send come last, in name order.
	extra := make([]string, 0, len(r.Corrupt))
	for k := range r.Corrupt {
		if _, known := members[k]; !known && r.Corrupt[k] != "" {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		b = appendKey(b, k, first)
		b = append(b, r.Corrupt[k]...)
		first = false
	}
	return append(b, '}')
}

// Trap is a plain-HTTP listener on the loopback that records whatever reaches it, to prove
// that credentials never do: point a redirect at it and check Connections and Requests.
type Trap struct {
	srv   *httptest.Server
	mu    sync.Mutex
	conns int
	reqs  []TrapRequest
}

// TrapRequest is one request that reached a Trap.
type TrapRequest struct {
	Method, Path, RawQuery, Authorization string
	Form                                  url.Values
}

// HasCredential reports whether the request carried a bearer token, a client secret or a
// client assertion.
func (r TrapRequest) HasCredential() bool {
	return r.Authorization != "" || r.Form.Has("client_secret") || r.Form.Has("client_assertion")
}

// NewTrap starts a Trap; Close stops it.
func NewTrap() (*Trap, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &Trap{}
	t.srv = &httptest.Server{
		Listener: &countingListener{Listener: ln, t: t},
		Config:   &http.Server{Handler: t, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)},
	}
	t.srv.Start()
	return t, nil
}

// URL is the trap's plain-http root.
func (t *Trap) URL() string { return t.srv.URL }

// Addr is the trap's host:port (to redirect https to a port that is not the server's).
func (t *Trap) Addr() string { return t.srv.Listener.Addr().String() }

// ServeHTTP records the request and answers 200 with a page of one row, so that a client that
// followed a redirect here would take it for data.
func (t *Trap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	t.mu.Lock()
	t.reqs = append(t.reqs, TrapRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Authorization: r.Header.Get("Authorization"), Form: r.PostForm})
	t.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"access_token":"trap","token_type":"Bearer","expires_in":3599,"value":[{"id":"trap","recipientAddress":"trap@example.com","receivedDateTime":"2026-01-01T00:00:00Z","status":"delivered"}]}`))
}

// Connections is how many TCP connections reached the trap (a TLS client refused at the
// handshake still counts).
func (t *Trap) Connections() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns
}

// Requests are the HTTP requests that reached the trap.
func (t *Trap) Requests() []TrapRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]TrapRequest(nil), t.reqs...)
}

// Close stops the trap.
func (t *Trap) Close() { t.srv.Close() }

type countingListener struct {
	net.Listener
	t *Trap
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.t.mu.Lock()
		l.t.conns++
		l.t.mu.Unlock()
	}
	return c, err
}
