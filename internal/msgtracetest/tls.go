package msgtracetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/testcerts"
)

// certAuthority is the tenant's CA as server.go uses it; testcerts issues the certificates.
type certAuthority struct {
	ca   *testcerts.CA
	cert *x509.Certificate
	pem  []byte
}

func newCA() (*certAuthority, error) {
	ca, err := testcerts.NewCA("msgtracetest CA", 10*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("msgtracetest: %w", err)
	}
	return &certAuthority{ca: ca, cert: ca.Cert, pem: ca.PEM}, nil
}

func (c *certAuthority) serverCert() (tls.Certificate, error) {
	leaf, err := c.ca.Server("127.0.0.1", "::1", "localhost")
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("msgtracetest: %w", err)
	}
	return leaf.TLS, nil
}

// ClientCert is a self-signed RSA certificate and key for private_key_jwt client
// assertions. Register Cert in Options.ClientCert; give the receiver CertPEM/KeyPEM.
type ClientCert struct {
	Cert    *x509.Certificate
	Key     *rsa.PrivateKey
	CertPEM []byte
	// KeyPEM is the PKCS#8 "PRIVATE KEY" encoding of Key.
	KeyPEM []byte
}

// NewClientCert generates a 2048-bit RSA key and a self-signed certificate for it.
func NewClientCert(commonName string) (*ClientCert, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("msgtracetest: client key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: testcerts.Serial(),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("msgtracetest: client cert: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("msgtracetest: client cert: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("msgtracetest: client key: %w", err)
	}
	return &ClientCert{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
	}, nil
}

// WriteFiles writes the certificate and key PEM files into dir and returns their paths.
func (c *ClientCert) WriteFiles(dir string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, "client-cert.pem")
	keyFile = filepath.Join(dir, "client-key.pem")
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("msgtracetest: write cert: %w", err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("msgtracetest: write key: %w", err)
	}
	return certFile, keyFile, nil
}
