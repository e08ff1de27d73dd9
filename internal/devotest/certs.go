package devotest // import "github.com/msgtrace/otelcol-msgtrace/internal/devotest"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
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
	// Backdated so clock skew between test processes never makes a fresh certificate "not yet valid".
	notBefore := time.Now().Add(-time.Hour)
	notAfter := notBefore.Add(48 * time.Hour)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devotest: generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: opts.CAName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("devotest: create CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("devotest: parse CA: %w", err)
	}

	serverTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: opts.ServerHosts[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range opts.ServerHosts {
		if ip := net.ParseIP(h); ip != nil {
			serverTmpl.IPAddresses = append(serverTmpl.IPAddresses, ip)
		} else {
			serverTmpl.DNSNames = append(serverTmpl.DNSNames, h)
		}
	}
	serverCert, serverKey, err := leaf(serverTmpl, caCert, caKey)
	if err != nil {
		return nil, err
	}
	clientTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: opts.ClientCN},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientCert, clientKey, err := leaf(clientTmpl, caCert, caKey)
	if err != nil {
		return nil, err
	}
	return &Certificates{
		CAPEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		ServerCertPEM: serverCert,
		ServerKeyPEM:  serverKey,
		ClientCertPEM: clientCert,
		ClientKeyPEM:  clientKey,
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

func leaf(tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devotest: generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("devotest: create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("devotest: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		// crypto/rand never fails on supported platforms; a constant keeps certificates valid anyway.
		return big.NewInt(1)
	}
	return n
}
