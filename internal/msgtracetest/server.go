package msgtracetest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request kinds recorded in Request.Kind.
const (
	KindToken  = "token"
	KindGraph  = "graph"
	KindLegacy = "legacy"
	KindOther  = "other"
)

// Legacy envelopes for Options.LegacyEnvelope.
const (
	EnvelopeLight     = "light"
	EnvelopeVerbose   = "verbose"
	EnvelopeAlternate = "alternate"
)

// LegacyScope is the v2 scope accepted for legacy Reporting Web Service tokens.
const LegacyScope = "https://outlook.office365.com/.default"

// LegacyResource is the v1 resource accepted for legacy Reporting Web Service tokens.
const LegacyResource = "https://outlook.office365.com"

// Default identities used when Options leaves them empty.
const (
	DefaultTenantID     = "6f1c2b3a-4d5e-4f60-8a9b-0c1d2e3f4a5b"
	DefaultClientID     = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
	DefaultOrganization = "msgtrace.onmicrosoft.com"
)

// Options configures a Server. The zero value is usable: default tenant and client ids,
// no accepted credentials (set ClientSecret and/or ClientCert), default quota 100/5m.
type Options struct {
	// TenantID is the only tenant the login endpoint knows (matched case-insensitively;
	// Organization is accepted as tenant too). Default DefaultTenantID.
	TenantID string
	// ClientID is the only application id known in the tenant. Default DefaultClientID.
	ClientID string
	// ClientSecret is the accepted client secret ("" = secrets refused).
	ClientSecret string
	// ClientCert is the certificate registered for private_key_jwt assertions (nil = refused).
	ClientCert *x509.Certificate
	// TokenTTL is the lifetime of issued access tokens (default 3599s).
	TokenTTL time.Duration
	// TokenExpiresIn, if set, is the expires_in the token answer states instead of TokenTTL
	// (a broken or hostile endpoint: negative, zero, absurdly large); the token still lives
	// TokenTTL.
	TokenExpiresIn *int64
	// QuotaRequests is the rolling per-tenant request quota over QuotaWindow
	// (default 100; < 0 disables the quota).
	QuotaRequests int
	// QuotaWindow is the rolling quota window (default 5m).
	QuotaWindow time.Duration
	// RetryAfter, if > 0, is the Retry-After sent with quota 429s. By default it is the
	// time until the window has a free slot again, rounded up to whole seconds, min 1s.
	RetryAfter time.Duration
	// Now is the clock used for quota, token expiry, query validation, VisibleAt and
	// status settling (default time.Now).
	Now func() time.Time
	// Latency is an optional delay added to every API response.
	Latency time.Duration
	// LatencyPer1000Rows is an optional extra delay per 1000 rows returned (real Graph:
	// roughly 2-4 s per 5000 rows).
	LatencyPer1000Rows time.Duration
	// LegacyEnvelope is "light" (default), "verbose" or "alternate" (per request).
	LegacyEnvelope string
	// Organization is echoed in legacy rows (default DefaultOrganization).
	Organization string
	// Addr is the loopback address to listen on (default 127.0.0.1:0, a free port); the
	// runnable stand-in uses it to serve on a fixed port.
	Addr string
	// DetailsFailEvery makes every n-th details request (that passed the quota) fail with a
	// 500; 0 never (details.go).
	DetailsFailEvery int
	// FederatedCredentials are the app's federated identity credentials (federated.go): a
	// client assertion whose iss is not the client id is accepted only when one of them has
	// its issuer, subject and audience, and only before its exp.
	FederatedCredentials []FederatedCredential
}

// Request is one request as seen by the server.
type Request struct {
	// Time is Options.Now() when the request arrived.
	Time   time.Time
	Method string
	Path   string
	Query  url.Values
	// Status is the HTTP status code sent.
	Status int
	// Kind is KindToken, KindGraph, KindLegacy or KindOther.
	Kind string
	// Throttled is true for every 429 (quota or FaultThrottle).
	Throttled bool
	// Violation is true when the request counted as a quota violation.
	Violation bool
	// Fault is the FaultKind applied to this request ("" = none).
	Fault string
	// Rows is the number of rows returned.
	Rows int
	// Federated is the jti (else the subject) of the federated token a successful login
	// presented, so tests can tell which version of a token file was sent.
	Federated string
}

// Server is the fake login + Graph + legacy reporting endpoint.
type Server struct {
	opts   Options
	url    string
	srv    *httptest.Server
	caPEM  []byte
	caPool *x509.CertPool
	ca     *certAuthority
	macKey []byte

	done      chan struct{}
	closeOnce sync.Once
	inflight  sync.WaitGroup

	mu           sync.Mutex
	closed       bool
	store        rowStore
	tokens       map[string]*tokenInfo
	jtis         map[string]time.Time
	tokensIssued int
	quota        quotaState
	apiRequests  int
	requests     []Request
	apiFaults    []Fault
	// spMissing makes every API request answer FaultServicePrincipalMissing until cleared.
	spMissing   bool
	tokenFaults []Fault
	mix         *faultMix
	poisoned    map[string]bool
	repeatNext  NextLinkRepeat
	legacyCount int
	transports  []*http.Transport

	detailsServed int              // details requests answered, for DetailsFailEvery
	onToken       func(tok string) // a MultiServer learns here which tenant a token belongs to
}

// NewServer starts an HTTPS server on 127.0.0.1:0 with a freshly generated CA.
// It needs no testing.TB so demos and benchmarks can use it; call Close when done.
func NewServer(opts Options) (*Server, error) {
	opts, err := fillDefaults(opts)
	if err != nil {
		return nil, err
	}
	ca, err := newCA()
	if err != nil {
		return nil, err
	}
	leaf, err := ca.serverCert()
	if err != nil {
		return nil, err
	}
	s, err := newUnstarted(opts, ca)
	if err != nil {
		return nil, err
	}
	if err := s.listen(opts.Addr, leaf, s); err != nil {
		return nil, err
	}
	return s, nil
}

// fillDefaults fills in the documented defaults of Options.
func fillDefaults(opts Options) (Options, error) {
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.Organization == "" {
		opts.Organization = DefaultOrganization
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 3599 * time.Second
	}
	if opts.QuotaRequests == 0 {
		opts.QuotaRequests = 100
	}
	if opts.QuotaWindow <= 0 {
		opts.QuotaWindow = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch opts.LegacyEnvelope {
	case "":
		opts.LegacyEnvelope = EnvelopeLight
	case EnvelopeLight, EnvelopeVerbose, EnvelopeAlternate:
	default:
		return opts, fmt.Errorf("msgtracetest: unknown LegacyEnvelope %q", opts.LegacyEnvelope)
	}

	return opts, nil
}

// newUnstarted builds a Server (defaults already filled in) that serves nothing until listen,
// or until a MultiServer routes requests to it.
func newUnstarted(opts Options, ca *certAuthority) (*Server, error) {
	macKey := make([]byte, 32)
	if _, err := rand.Read(macKey); err != nil {
		return nil, fmt.Errorf("msgtracetest: mac key: %w", err)
	}
	s := &Server{
		opts:     opts,
		caPEM:    ca.pem,
		ca:       ca,
		caPool:   x509.NewCertPool(),
		macKey:   macKey,
		done:     make(chan struct{}),
		tokens:   map[string]*tokenInfo{},
		jtis:     map[string]time.Time{},
		poisoned: map[string]bool{},
		store:    newRowStore(),
	}
	s.caPool.AddCert(ca.cert)
	return s, nil
}

// listen serves h on addr (default 127.0.0.1:0) over TLS with leaf and sets s.url. It is
// httptest's server on a listener of our own, so that Options.Addr can pin the port (the demo
// and restart tests reuse one) and the certificate is the tenant CA's, which a collector can be
// told to trust.
func (s *Server) listen(addr string, leaf tls.Certificate, h http.Handler) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("msgtracetest: listen: %w", err)
	}
	s.srv = &httptest.Server{
		Listener: ln,
		TLS: &tls.Config{
			Certificates: []tls.Certificate{leaf},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		},
		Config: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          log.New(io.Discard, "", 0),
		},
	}
	s.srv.StartTLS()
	s.url = s.srv.URL
	return nil
}

// New is NewServer for tests: it fails t on error and registers Close with t.Cleanup.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("msgtracetest.NewServer: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// URL is https://127.0.0.1:port: the login, Graph and legacy endpoints all live here.
func (s *Server) URL() string { return s.url }

// TokenURL is the v2 token endpoint of the configured tenant.
func (s *Server) TokenURL() string { return s.url + "/" + s.opts.TenantID + "/oauth2/v2.0/token" }

// GraphScope is the accepted v2 scope for Graph tokens ({URL}/.default).
func (s *Server) GraphScope() string { return s.url + "/.default" }

// GraphTracesURL is the v1.0 messageTraces collection URL.
func (s *Server) GraphTracesURL() string {
	return s.url + "/v1.0/admin/exchange/tracing/messageTraces"
}

// LegacyURL is the legacy MessageTrace report URL.
func (s *Server) LegacyURL() string {
	return s.url + "/ecp/reportingwebservice/reporting.svc/MessageTrace"
}

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// CAFile writes the CA certificate to dir/msgtracetest-ca.pem and returns its path.
func (s *Server) CAFile(dir string) (string, error) {
	p := filepath.Join(dir, "msgtracetest-ca.pem")
	if err := os.WriteFile(p, s.caPEM, 0o600); err != nil {
		return "", fmt.Errorf("msgtracetest: write CA file: %w", err)
	}
	return p, nil
}

// Client returns an *http.Client that trusts the server's CA. Its idle connections
// are closed by Close.
func (s *Server) Client() *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: s.caPool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	s.mu.Lock()
	s.transports = append(s.transports, tr)
	s.mu.Unlock()
	return &http.Client{Transport: tr}
}

// Close stops the server: sleeping handlers are woken, connections are closed and
// Close waits until every handler and the serve goroutine have returned.
// It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		trs := s.transports
		s.transports = nil
		s.mu.Unlock()
		close(s.done)
		if s.srv != nil { // nil for a MultiServer's tenant, which has no listener of its own
			s.srv.Close() // waits for the handlers, woken by done
		}
		s.inflight.Wait()
		for _, tr := range trs {
			tr.CloseIdleConnections()
		}
	})
}

// Requests returns a copy of every request recorded so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// APIRequestCount is the number of Graph and legacy requests received (any outcome).
func (s *Server) APIRequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiRequests
}

// TokensIssued is the number of access tokens handed out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

func (s *Server) now() time.Time { return s.opts.Now() }

// response is a fully built answer, written in one go so faults can rewrite it.
type response struct {
	status int
	header http.Header
	body   []byte
	rows   int
	// stream, when set, writes the body instead, chunked (no Content-Length).
	stream func(io.Writer) error
}

func newResponse(status int, contentType string, body []byte) *response {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return &response{status: status, header: h, body: body}
}

// ServeHTTP routes to the token, Graph and legacy handlers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	rec := Request{
		Time:   s.now(),
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  cloneValues(r.URL.Query()),
	}
	lp := strings.ToLower(r.URL.Path)
	var resp *response
	switch {
	case isDetailsPath(lp): // same quota, token and faults as the list
		rec.Kind = KindGraph
		if strings.HasPrefix(lp, "/ecp/") {
			rec.Kind = KindLegacy
		}
		resp = s.serveAPI(r, &rec)
	case isGraphPath(lp):
		rec.Kind = KindGraph
		resp = s.serveAPI(r, &rec)
	case isLegacyPath(lp):
		rec.Kind = KindLegacy
		resp = s.serveAPI(r, &rec)
	case strings.HasSuffix(lp, "/oauth2/v2.0/token") || strings.HasSuffix(lp, "/oauth2/token"):
		rec.Kind = KindToken
		resp = s.serveToken(r, &rec)
	default:
		rec.Kind = KindOther
		resp = graphError(s.now(), r, http.StatusNotFound, "UnknownError",
			"Resource not found for the segment '"+lastSegment(r.URL.Path)+"'.")
	}
	rec.Status = resp.status
	rec.Rows = resp.rows
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	for k, v := range resp.header {
		w.Header()[k] = v
	}
	if resp.stream != nil {
		w.WriteHeader(resp.status)
		_ = resp.stream(w)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// sleep waits d unless the client goes away or the server closes. It reports whether
// the full delay elapsed.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

func isGraphPath(lp string) bool {
	return lp == "/v1.0/admin/exchange/tracing/messagetraces" || lp == "/beta/admin/exchange/tracing/messagetraces"
}

func isLegacyPath(lp string) bool {
	return lp == "/ecp/reportingwebservice/reporting.svc/messagetrace"
}

func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// newUUID returns a random version 4 UUID string.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
