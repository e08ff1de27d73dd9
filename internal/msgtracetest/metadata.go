package msgtracetest

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MetadataPath is the token path of the Azure Instance Metadata Service.
const MetadataPath = "/metadata/identity/oauth2/token"

// MetadataFault is a failure of the fake metadata service.
type MetadataFault string

// Faults of the metadata service. They last until SetFault("") clears them.
const (
	// MetadataUnreachable closes the listener: connections are refused (a VM whose
	// metadata service is down, or a machine outside Azure).
	MetadataUnreachable MetadataFault = "unreachable"
	// MetadataServerError answers 500.
	MetadataServerError MetadataFault = "server_error"
	// MetadataSlow delays every answer by the duration given to SetFault.
	MetadataSlow MetadataFault = "slow"
	// MetadataIdentityNotFound answers 400 "Identity not found" to every request, as IMDS
	// does while an identity is not (yet) assigned to the VM.
	MetadataIdentityNotFound MetadataFault = "identity_not_found"
)

// ManagedIdentity is a user-assigned identity of the fake machine.
type ManagedIdentity struct {
	ClientID   string
	ResourceID string
}

// MetadataOptions configures a MetadataServer.
type MetadataOptions struct {
	// SystemAssigned gives the machine a system-assigned identity (asked for without
	// client_id/msi_res_id).
	SystemAssigned bool
	// UserAssigned are the identities assigned to the machine.
	UserAssigned []ManagedIdentity
}

// MetadataRequest is one token request as the metadata service saw it.
type MetadataRequest struct {
	Time time.Time
	// Identity is "system", or the client id / resource id asked for.
	Identity string
	Resource string
	Status   int
	Fault    string
}

// MetadataServer is a fake Azure Instance Metadata Service token endpoint on loopback. It
// serves HTTPS with the tenant's CA (the real one is plain HTTP on 169.254.169.254, which a
// test cannot bind), and hands out tokens that the tenant's API accepts, per identity: a
// request for an identity the machine does not have gets IMDS's 400.
type MetadataServer struct {
	tenant *Server
	opts   MetadataOptions
	cert   tls.Certificate
	addr   string

	mu       sync.Mutex
	srv      *http.Server // nil while unreachable
	fault    MetadataFault
	slow     time.Duration
	requests []MetadataRequest
	closed   bool
}

// NewMetadataServer starts a metadata service whose tokens are valid at tenant.
func NewMetadataServer(tenant *Server, opts MetadataOptions) (*MetadataServer, error) {
	leaf, err := tenant.ca.serverCert()
	if err != nil {
		return nil, err
	}
	m := &MetadataServer{tenant: tenant, opts: opts, cert: leaf, addr: "127.0.0.1:0"}
	if err := m.up(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *MetadataServer) up() error {
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return fmt.Errorf("msgtracetest: metadata listen: %w", err)
	}
	if strings.HasSuffix(m.addr, ":0") {
		m.addr = ln.Addr().String() // kept: an outage ends on the same port
	}
	srv := &http.Server{
		Handler:           m,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	m.srv = srv
	go func() {
		_ = srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{m.cert}, MinVersion: tls.VersionTLS12}))
	}()
	return nil
}

// TokenURL is the endpoint to configure as managed_identity.endpoint.
func (m *MetadataServer) TokenURL() string { return "https://" + m.addr + MetadataPath }

// SetFault makes every request fail with f (slow: delayed by d) until SetFault("", 0).
// MetadataUnreachable stops listening; clearing it listens again on the same port.
func (m *MetadataServer) SetFault(f MetadataFault, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.fault, m.slow = f, d
	switch {
	case f == MetadataUnreachable && m.srv != nil:
		err := m.srv.Close()
		m.srv = nil
		return err
	case f != MetadataUnreachable && m.srv == nil:
		return m.up()
	}
	return nil
}

// Requests returns the token requests seen so far.
func (m *MetadataServer) Requests() []MetadataRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MetadataRequest(nil), m.requests...)
}

// Close stops the server.
func (m *MetadataServer) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.srv != nil {
		_ = m.srv.Close()
		m.srv = nil
	}
}

func (m *MetadataServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec := MetadataRequest{Time: m.tenant.now(), Resource: q.Get("resource"), Identity: "system"}
	for _, k := range []string{"client_id", "msi_res_id", "object_id"} {
		if v := q.Get(k); v != "" {
			rec.Identity = v
		}
	}
	m.mu.Lock()
	fault, slow := m.fault, m.slow
	m.mu.Unlock()
	status, body := m.answer(r, fault, slow, &rec)
	rec.Status = status
	m.mu.Lock()
	m.requests = append(m.requests, rec)
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func imdsError(status int, code, desc string) (int, []byte) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	return status, b
}

func (m *MetadataServer) answer(r *http.Request, fault MetadataFault, slow time.Duration, rec *MetadataRequest) (int, []byte) {
	rec.Fault = string(fault)
	switch fault {
	case MetadataServerError:
		return imdsError(http.StatusInternalServerError, "unknown_error", "An unexpected error occurred while fetching the AAD token.")
	case MetadataSlow:
		t := time.NewTimer(slow)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return imdsError(http.StatusGatewayTimeout, "timeout", "client went away")
		}
	case MetadataIdentityNotFound:
		return imdsError(http.StatusBadRequest, "invalid_request", "Identity not found")
	}
	if r.URL.Path != MetadataPath {
		return imdsError(http.StatusNotFound, "not_found", "Not found")
	}
	if r.Method != http.MethodGet {
		return imdsError(http.StatusMethodNotAllowed, "invalid_request", "Method not allowed")
	}
	if r.Header.Get("Metadata") != "true" {
		return imdsError(http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		return imdsError(http.StatusBadRequest, "invalid_request", "Request was sent through a proxy")
	}
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		return imdsError(http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing")
	}
	if rec.Resource == "" {
		return imdsError(http.StatusBadRequest, "invalid_request", "Required query variable 'resource' is missing")
	}
	if !m.hasIdentity(q.Get("client_id"), q.Get("msi_res_id"), q.Get("object_id")) {
		return imdsError(http.StatusBadRequest, "invalid_request", "Identity not found")
	}
	tok, ttl, err := m.tenant.IssueToken(rec.Resource)
	if err != nil {
		return imdsError(http.StatusBadRequest, "invalid_resource", "AADSTS500011: The resource principal named "+rec.Resource+" was not found in the tenant.")
	}
	now := m.tenant.now()
	secs := strconv.FormatInt(int64(ttl/time.Second), 10)
	b, _ := json.Marshal(map[string]string{
		"access_token":   tok,
		"client_id":      rec.Identity,
		"expires_in":     secs,
		"expires_on":     strconv.FormatInt(now.Add(ttl).Unix(), 10),
		"ext_expires_in": secs,
		"not_before":     strconv.FormatInt(now.Unix(), 10),
		"resource":       rec.Resource,
		"token_type":     "Bearer",
	})
	return http.StatusOK, b
}

func (m *MetadataServer) hasIdentity(clientID, resourceID, objectID string) bool {
	if clientID == "" && resourceID == "" && objectID == "" {
		return m.opts.SystemAssigned
	}
	for _, id := range m.opts.UserAssigned {
		if (clientID != "" && strings.EqualFold(clientID, id.ClientID)) ||
			(resourceID != "" && strings.EqualFold(resourceID, id.ResourceID)) {
			return true
		}
	}
	return false
}
