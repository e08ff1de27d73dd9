package msgtracetest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// MultiServer serves many fake tenants from one HTTPS address, as Microsoft serves all its
// tenants from one login and one Graph host: the login endpoint finds the tenant in its path,
// the API finds it by the bearer token that tenant's login issued. Each tenant is a *Server of
// its own (ids, secret, quota, rows, faults, request log); use Tenant(i) to reach it.
type MultiServer struct {
	front   *Server // holds the listener, CA and URL; never answers a request itself
	tenants []*Server
	byID    map[string]*Server // lower-case tenant id

	mu      sync.Mutex
	byToken map[string]*Server
}

// NewMultiServer starts one HTTPS server on addr ("" = 127.0.0.1:0) for the tenants, whose
// TenantIDs must differ. Options.Addr of the tenants is ignored.
func NewMultiServer(addr string, tenants ...Options) (*MultiServer, error) {
	if len(tenants) == 0 {
		return nil, errors.New("msgtracetest: NewMultiServer needs at least one tenant")
	}
	ca, err := newCA()
	if err != nil {
		return nil, err
	}
	leaf, err := ca.serverCert()
	if err != nil {
		return nil, err
	}
	frontOpts, _ := fillDefaults(Options{})
	front, err := newUnstarted(frontOpts, ca)
	if err != nil {
		return nil, err
	}
	ms := &MultiServer{front: front, byID: make(map[string]*Server, len(tenants)), byToken: map[string]*Server{}}
	for i, o := range tenants {
		o, err := fillDefaults(o)
		if err != nil {
			return nil, err
		}
		id := strings.ToLower(o.TenantID)
		if ms.byID[id] != nil {
			return nil, fmt.Errorf("msgtracetest: tenant %d repeats tenant id %s", i, o.TenantID)
		}
		t, err := newUnstarted(o, ca)
		if err != nil {
			return nil, err
		}
		t.onToken = func(tok string) {
			ms.mu.Lock()
			ms.byToken[tok] = t
			ms.mu.Unlock()
		}
		ms.byID[id] = t
		ms.tenants = append(ms.tenants, t)
	}
	if err := front.listen(addr, leaf, ms); err != nil {
		return nil, err
	}
	for _, t := range ms.tenants {
		t.url = front.url // scopes, resources and next-links name the shared host
	}
	return ms, nil
}

// NewMulti is NewMultiServer for tests: it fails t on error and registers Close with t.Cleanup.
func NewMulti(t testing.TB, tenants ...Options) *MultiServer {
	t.Helper()
	ms, err := NewMultiServer("", tenants...)
	if err != nil {
		t.Fatalf("msgtracetest.NewMultiServer: %v", err)
	}
	t.Cleanup(ms.Close)
	return ms
}

// ServeHTTP routes a login by the tenant in its path and an API call by its bearer token. A
// request no tenant claims goes to the first tenant, which refuses it as Microsoft would
// (unknown tenant, unknown token).
func (ms *MultiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lp := strings.ToLower(r.URL.Path)
	var t *Server
	if strings.HasSuffix(lp, "/oauth2/v2.0/token") || strings.HasSuffix(lp, "/oauth2/token") {
		seg := strings.TrimPrefix(lp, "/")
		if i := strings.IndexByte(seg, '/'); i >= 0 {
			seg = seg[:i]
		}
		t = ms.byID[seg]
	} else if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		ms.mu.Lock()
		t = ms.byToken[strings.TrimSpace(h[7:])]
		ms.mu.Unlock()
	}
	if t == nil {
		t = ms.tenants[0]
	}
	t.ServeHTTP(w, r)
}

// URL is the one address of every tenant's login, Graph and legacy endpoints.
func (ms *MultiServer) URL() string { return ms.front.url }

// Len is the number of tenants.
func (ms *MultiServer) Len() int { return len(ms.tenants) }

// Tenant is the i-th tenant, in the order given to NewMultiServer.
func (ms *MultiServer) Tenant(i int) *Server { return ms.tenants[i] }

// CAFile writes the CA certificate that signed the server certificate to dir and returns its path.
func (ms *MultiServer) CAFile(dir string) (string, error) {
	p := filepath.Join(dir, "msgtracetest-ca.pem")
	if err := os.WriteFile(p, ms.front.caPEM, 0o600); err != nil {
		return "", fmt.Errorf("msgtracetest: write CA file: %w", err)
	}
	return p, nil
}

// Client returns an *http.Client that trusts the server's CA.
func (ms *MultiServer) Client() *http.Client { return ms.front.Client() }

// QuotaViolations is the sum of every tenant's quota violations.
func (ms *MultiServer) QuotaViolations() int {
	n := 0
	for _, t := range ms.tenants {
		n += t.QuotaViolations()
	}
	return n
}

// Close stops every tenant (waking sleeping handlers) and then the listener.
func (ms *MultiServer) Close() {
	for _, t := range ms.tenants {
		t.Close()
	}
	ms.front.Close()
}
