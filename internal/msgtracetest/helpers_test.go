package msgtracetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the fixed "now" of most tests.
var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

const testSecret = "s3cr3t~value+/=&%"

type fixture struct {
	s     *Server
	clock *Clock
	c     *http.Client
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	clock := NewClock(t0)
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = testSecret
	}
	s := New(t, opts)
	return &fixture{s: s, clock: clock, c: s.Client()}
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(t testing.TB, req *http.Request) httpResult {
	t.Helper()
	resp, err := f.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func (f *fixture) postForm(t testing.TB, path string, form url.Values, basicUser, basicPass string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.s.URL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return f.do(t, req)
}

func (f *fixture) token(t testing.TB, scope string) string {
	t.Helper()
	res := f.postForm(t, "/"+f.s.Options().TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {f.s.Options().ClientID},
		"client_secret": {f.s.Options().ClientSecret},
		"scope":         {scope},
	}, "", "")
	if res.status != http.StatusOK {
		t.Fatalf("token: status %d body %s", res.status, res.body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(res.body, &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token body %s: %v", res.body, err)
	}
	return tr.AccessToken
}

func (f *fixture) graphToken(t testing.TB) string  { return f.token(t, f.s.GraphScope()) }
func (f *fixture) legacyToken(t testing.TB) string { return f.token(t, LegacyScope) }

func (f *fixture) get(t testing.TB, rawURL, token string, hdr ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(t, req)
}

// graphURL builds a Graph list URL with %20-encoded spaces, like real clients.
func (f *fixture) graphURL(filter string, top int) string {
	u := f.s.GraphTracesURL()
	var qs []string
	if filter != "" {
		qs = append(qs, "$filter="+strings.ReplaceAll(url.QueryEscape(filter), "+", "%20"))
	}
	if top > 0 {
		qs = append(qs, "$top="+itoa(top))
	}
	if len(qs) > 0 {
		u += "?" + strings.Join(qs, "&")
	}
	return u
}

func itoa(n int) string { return strconv.Itoa(n) }

func rangeFilter(from, to time.Time) string {
	return "receivedDateTime ge " + from.UTC().Format(time.RFC3339Nano) + " and receivedDateTime le " + to.UTC().Format(time.RFC3339Nano)
}

// graphRow mirrors the documented wire shape; decoded independently of the server.
type graphRow struct {
	ID               string  `json:"id"`
	SenderAddress    string  `json:"senderAddress"`
	RecipientAddress string  `json:"recipientAddress"`
	MessageID        string  `json:"messageId"`
	ReceivedDateTime string  `json:"receivedDateTime"`
	Subject          string  `json:"subject"`
	Size             *int    `json:"size"`
	FromIP           *string `json:"fromIP"`
	ToIP             *string `json:"toIP"`
	Status           string  `json:"status"`
}

type graphPage struct {
	Context  string     `json:"@odata.context"`
	NextLink string     `json:"@odata.nextLink"`
	Value    []graphRow `json:"value"`
}

func decodeGraphPage(t testing.TB, b []byte) graphPage {
	t.Helper()
	var p graphPage
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode graph page: %v\n%s", err, truncate(b))
	}
	return p
}

type graphErrBody struct {
	Error struct {
		Code       string         `json:"code"`
		Message    string         `json:"message"`
		InnerError map[string]any `json:"innerError"`
	} `json:"error"`
}

func decodeGraphError(t testing.TB, b []byte) graphErrBody {
	t.Helper()
	var e graphErrBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not a Graph error body (%v): %s", err, truncate(b))
	}
	return e
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

func mustParse(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// collectGraph follows nextLinks from first and returns all rows and the page count.
func (f *fixture) collectGraph(t testing.TB, first, token string) ([]graphRow, int) {
	t.Helper()
	var all []graphRow
	pages := 0
	for next := first; next != ""; pages++ {
		res := f.get(t, next, token)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", next, res.status, truncate(res.body))
		}
		p := decodeGraphPage(t, res.body)
		all = append(all, p.Value...)
		if p.NextLink != "" && !strings.HasPrefix(p.NextLink, f.s.URL()+"/") {
			t.Fatalf("nextLink %q does not point to %s", p.NextLink, f.s.URL())
		}
		next = p.NextLink
		if pages > 100000 {
			t.Fatal("paging does not end")
		}
	}
	return all, pages
}

// signJWT builds a client assertion. header/claims are marshalled as given.
func signJWT(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(in))
	var sig []byte
	var err error
	switch header["alg"] {
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func x5t(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw) //nolint:gosec // thumbprint
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func x5tS256(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

var (
	certOnce sync.Once
	certA    *ClientCert
	certB    *ClientCert
	certErr  error
)

// testCerts returns two client certificates, generated once per test binary.
func testCerts(t testing.TB) (*ClientCert, *ClientCert) {
	t.Helper()
	certOnce.Do(func() {
		certA, certErr = NewClientCert("msgtrace-a")
		if certErr == nil {
			certB, certErr = NewClientCert("msgtrace-b")
		}
	})
	if certErr != nil {
		t.Fatal(certErr)
	}
	return certA, certB
}
