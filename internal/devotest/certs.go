package devotest // import "github.com/msgtrace/otelcol-msgtrace/internal/devotest"

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/testcerts"
)

// CertOptions shapes the generated certificates. The zero value gives a server certificate for
// localhost and 127.0.0.1 and a client certificate with CN DefaultClientCN.
type CertOptions struct {
	// ServerHosts are the DNS names and IP addresses the server certificate is valid for.
	ServerHosts []string
	// ClientCN is the common name of the client certificate (Devo puts the domain name there).
	ClientCN string
	// CAName is the common name of the CA; different names make different CAs easy to tell apart.
	CAName string
}

// DefaultClientCN is the client certificate's common name when CertOptions.ClientCN is empty.
const DefaultClientCN = "devotest-client"

// Certificates holds a throw-away CA with one server and one client certificate, PEM encoded.
type Certificates struct {
	CAPEM         []byte
	ServerCertPEM []byte
	ServerKeyPEM  []byte
	ClientCertPEM []byte
	ClientKeyPEM  []byte
}

// CertFiles are the paths WriteFiles and GenerateCertificates wrote; the names follow what Devo
// hands out (chain, certificate, key) so configs in docs and tests look alike.
type CertFiles struct {
	CA         string
	ServerCert string
	ServerKey  string
	ClientCert string
	ClientKey  string
}

// NewCertificates generates a fresh CA and server and client certificates signed by it.
func NewCertificates(opts CertOptions) (*Certificates, error) {
	if len(opts.ServerHosts) == 0 {
		opts.ServerHosts = []string{"localhost", "127.0.0.1"}
	}
	if opts.ClientCN == "" {
		opts.ClientCN = DefaultClientCN
	}
	if opts.CAName == "" {
		opts.CAName = "devotest CA"
	}
	// 47 h from now (48 h from the backdated start): long enough for any test run, short enough
	// that a leaked key is worthless.
	ca, err := testcerts.NewCA(opts.CAName, 47*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("devotest: %w", err)
	}
	server, err := ca.Server(opts.ServerHosts...)
	if err != nil {
		return nil, fmt.Errorf("devotest: %w", err)
	}
	client, err := ca.Client(opts.ClientCN)
	if err != nil {
		return nil, fmt.Errorf("devotest: %w", err)
	}
	return &Certificates{
		CAPEM:         ca.PEM,
		ServerCertPEM: server.CertPEM,
		ServerKeyPEM:  server.KeyPEM,
		ClientCertPEM: client.CertPEM,
		ClientKeyPEM:  client.KeyPEM,
	}, nil
}

// GenerateCertificates writes a fresh CA, server and client certificate set into dir.
func GenerateCertificates(dir string) (CertFiles, error) {
	c, err := NewCertificates(CertOptions{})
	if err != nil {
		return CertFiles{}, err
	}
	return c.WriteFiles(dir)
}

// WriteFiles writes the PEM files into dir (keys with mode 0600) and returns their paths.
func (c *Certificates) WriteFiles(dir string) (CertFiles, error) {
	files := CertFiles{
		CA:         filepath.Join(dir, "chain.crt"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "domain.crt"),
		ClientKey:  filepath.Join(dir, "domain.key"),
	}
	writes := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{files.CA, c.CAPEM, 0o644},
		{files.ServerCert, c.ServerCertPEM, 0o644},
		{files.ServerKey, c.ServerKeyPEM, 0o600},
		{files.ClientCert, c.ClientCertPEM, 0o644},
		{files.ClientKey, c.ClientKeyPEM, 0o600},
	}
	for _, w := range writes {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return CertFiles{}, fmt.Errorf("devotest: write certificate file: %w", err)
		}
	}
	return files, nil
}

// ServerTLSConfig requires client certificates and verifies them against the CA, like Devo's ELB.
func (c *Certificates) ServerTLSConfig() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.ServerCertPEM, c.ServerKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("devotest: server key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAPEM) {
		return nil, errors.New("devotest: CA PEM holds no certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// ClientTLSConfig is what a well-configured sender uses: client certificate, CA chain, and
// verification of serverName (empty means: derive it from the dialed address).
func (c *Certificates) ClientTLSConfig(serverName string) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.ClientCertPEM, c.ClientKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("devotest: client key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAPEM) {
		return nil, errors.New("devotest: CA PEM holds no certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
