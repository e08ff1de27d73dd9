package testcerts

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client with the CA's pool and a server with its leaf complete a mutual TLS handshake; a
// CA of another name is refused.
func TestMutualTLSWithIssuedCertificates(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	require.NoError(t, err)
	server, err := ca.Server("localhost", "127.0.0.1")
	require.NoError(t, err)
	client, err := ca.Client("client-cn")
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.PEM))

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server.TLS}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	defer ln.Close()
	peer := make(chan string, 2)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				peer <- err.Error()
			} else {
				peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			conn.Close()
		}
	}()
	clientPair, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	require.NoError(t, err)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{clientPair}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, "client-cn", <-peer)

	other, err := NewCA("other CA", time.Hour)
	require.NoError(t, err)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(other.Cert)
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: otherPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	require.Error(t, err, "a server certificate from another CA is refused")
}

func TestLeavesShareTheCAValidity(t *testing.T) {
	ca, err := NewCA("test CA", 48*time.Hour)
	require.NoError(t, err)
	leaf, err := ca.Client("c")
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(leaf.TLS.Certificate[0])
	require.NoError(t, err)
	assert.Equal(t, ca.Cert.NotAfter, cert.NotAfter)
	assert.True(t, cert.NotBefore.Before(time.Now()), "backdated against clock skew")
	_, err = ca.Server()
	require.Error(t, err)
}
