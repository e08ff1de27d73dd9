package devotest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dialSink(t *testing.T, s *Sink, serverName string) *tls.Conn {
	t.Helper()
	cfg, err := s.Certificates().ClientTLSConfig(serverName)
	require.NoError(t, err)
	c, err := tls.Dial("tcp", s.Addr(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// halfCloseAndWait ends the write side and waits for the sink's answer, as the exporter does.
func halfCloseAndWait(t *testing.T, c *tls.Conn) error {
	t.Helper()
	// A sink that resets the connection may do so before the half-close: that error counts.
	if err := c.CloseWrite(); err != nil {
		return err
	}
	if err := c.NetConn().(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := c.Read(make([]byte, 1))
	return err
}

func TestSinkRecordsEventsSNIAndClientCN(t *testing.T) {
	s := New(t, Options{RecordRaw: true})
	c := dialSink(t, s, "localhost")
	_, err := io.WriteString(c, sdkPlain+sdkMultiline)
	require.NoError(t, err)
	require.ErrorIs(t, halfCloseAndWait(t, c), io.EOF, "the sink answers a half-close with a clean close")

	events := s.Events()
	require.Len(t, events, 2)
	for _, ev := range events {
		assert.Equal(t, "localhost", ev.ServerName)
		assert.Equal(t, DefaultClientCN, ev.ClientCN)
		assert.Equal(t, 1, ev.Conn)
	}
	assert.Equal(t, []byte(sdkPlain+sdkMultiline), s.Raw(1))
	st := s.Stats()
	assert.Equal(t, 1, st.CleanCloses)
	assert.Equal(t, 2, st.Events)
	assert.Positive(t, st.BytesRead)
}

func TestSinkRequiresClientCertificate(t *testing.T) {
	s := New(t, Options{})
	cfg, err := s.Certificates().ClientTLSConfig("localhost")
	require.NoError(t, err)
	cfg.Certificates = nil
	c, err := tls.Dial("tcp", s.Addr(), cfg)
	if err == nil { // TLS 1.3: the client learns of the rejection on its first read
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		_ = c.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate required")
	require.Eventually(t, func() bool { return s.Stats().HandshakeErrors == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Zero(t, s.Stats().Handshakes)
}

func TestSinkResetAfter(t *testing.T) {
	s := New(t, Options{})
	s.ResetAfter(2)
	c := dialSink(t, s, "localhost")
	_, err := io.WriteString(c, strings.Repeat(sdkPlain, 5))
	require.NoError(t, err)
	err = halfCloseAndWait(t, c)
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF), "got %v", err)
	assert.Equal(t, 2, s.EventCount())
	assert.Equal(t, 1, s.Stats().Resets)

	// One-shot: the next connection is served normally.
	c2 := dialSink(t, s, "localhost")
	_, err = io.WriteString(c2, strings.Repeat(sdkPlain, 3))
	require.NoError(t, err)
	require.ErrorIs(t, halfCloseAndWait(t, c2), io.EOF)
	assert.Equal(t, 5, s.EventCount())
}

func TestSinkResetEvery(t *testing.T) {
	s := New(t, Options{})
	s.ResetEvery(3)
	// 5 events: reset at the 3rd; the count runs on across connections.
	c := dialSink(t, s, "localhost")
	_, err := io.WriteString(c, strings.Repeat(sdkPlain, 5))
	require.NoError(t, err)
	require.Error(t, halfCloseAndWait(t, c))
	assert.Equal(t, 3, s.EventCount())
	// 2 events on a clean connection: counted, not reset (the count is now 2).
	c2 := dialSink(t, s, "localhost")
	_, err = io.WriteString(c2, strings.Repeat(sdkPlain, 2))
	require.NoError(t, err)
	require.ErrorIs(t, halfCloseAndWait(t, c2), io.EOF)
	// The next event is the 3rd since the last reset.
	c3 := dialSink(t, s, "localhost")
	_, err = io.WriteString(c3, strings.Repeat(sdkPlain, 4))
	require.NoError(t, err)
	require.Error(t, halfCloseAndWait(t, c3))
	st := s.Stats()
	assert.Equal(t, 6, st.Events)
	assert.Equal(t, 2, st.Resets)
	assert.Equal(t, 4, st.EventsOnFailedConns, "3 on the first reset connection, 1 on the last")

	s.ResetEvery(0)
	c4 := dialSink(t, s, "localhost")
	_, err = io.WriteString(c4, strings.Repeat(sdkPlain, 10))
	require.NoError(t, err)
	require.ErrorIs(t, halfCloseAndWait(t, c4), io.EOF)
	assert.Equal(t, 16, s.EventCount())
}

func TestSinkRefuseFor(t *testing.T) {
	s := New(t, Options{})
	s.RefuseFor(time.Hour)
	cfg, err := s.Certificates().ClientTLSConfig("localhost")
	require.NoError(t, err)
	_, err = tls.Dial("tcp", s.Addr(), cfg)
	require.Error(t, err)
	assert.Equal(t, 1, s.Stats().Refused)
	s.RefuseFor(0)
	c := dialSink(t, s, "localhost")
	_, err = io.WriteString(c, sdkPlain)
	require.NoError(t, err)
	require.ErrorIs(t, halfCloseAndWait(t, c), io.EOF)
}

// An outage also ends the connections already established, and nothing sent on them from then
// on is counted: a test that reads EventCount right after RefuseFor has a fixed "before".
func TestSinkRefuseForResetsEstablishedConnections(t *testing.T) {
	s := New(t, Options{})
	c := dialSink(t, s, "localhost")
	_, err := io.WriteString(c, sdkPlain)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.EventCount() == 1 }, 5*time.Second, time.Millisecond)

	s.RefuseFor(time.Hour)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		_, werr = io.WriteString(c, sdkPlain)
		time.Sleep(time.Millisecond)
	}
	require.Error(t, werr, "the established connection must be reset by the outage")
	assert.Equal(t, 1, s.EventCount(), "nothing is stored once the outage began")
	require.Eventually(t, func() bool { return s.Stats().EventsOnFailedConns == 1 }, 5*time.Second, time.Millisecond,
		"the event before the outage may be sent again: it counts as sent on a failed connection")
	st := s.Stats()
	assert.Equal(t, 1, st.OutageResets)
	assert.Zero(t, st.FrameErrors)
	assert.Empty(t, s.Errors(), "an outage's reset is not a protocol error")

	s.RefuseFor(0)
	c2 := dialSink(t, s, "localhost")
	_, err = io.WriteString(c2, sdkPlain)
	require.NoError(t, err)
	require.ErrorIs(t, halfCloseAndWait(t, c2), io.EOF)
	assert.Equal(t, 2, s.EventCount())
}

func TestSinkPauseReadingBacksUpWriters(t *testing.T) {
	s := New(t, Options{})
	c := dialSink(t, s, "localhost")
	_, err := io.WriteString(c, sdkPlain) // completes the handshake on both sides
	require.NoError(t, err)
	require.NoError(t, s.WaitForEvents(context.Background(), 1))
	s.PauseReading()
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
	chunk := []byte(strings.Repeat(sdkPlain, 10000)) // 660 KB per write
	var werr error
	for i := 0; i < 200 && werr == nil; i++ { // 132 MB is far beyond any loopback socket buffer
		_, werr = c.Write(chunk)
	}
	require.ErrorIs(t, werr, os.ErrDeadlineExceeded)
	s.ResumeReading()
	require.NoError(t, s.WaitForEvents(context.Background(), 2))
}

func TestSinkIdleClose(t *testing.T) {
	s := New(t, Options{})
	s.SetIdleTimeout(50 * time.Millisecond)
	c := dialSink(t, s, "localhost")
	_, err := io.WriteString(c, sdkPlain)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "an idle connection is closed cleanly")
	assert.Equal(t, 1, s.Stats().IdleCloses)
	assert.Equal(t, 1, s.EventCount())
}

func TestSinkPlainAndFrameErrors(t *testing.T) {
	s := New(t, Options{Plain: true})
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "%s<14>garbage\n%s", sdkPlain, sdkPlain)
	require.NoError(t, err)
	require.NoError(t, s.WaitForEvents(context.Background(), 2))
	assert.Equal(t, 1, s.Stats().FrameErrors)
	require.Len(t, s.Errors(), 1)
	assert.ErrorIs(t, s.Errors()[0], ErrBadHeader)
}

func TestGenerateCertificatesWritesUsableFiles(t *testing.T) {
	files, err := GenerateCertificates(t.TempDir())
	require.NoError(t, err)
	for _, p := range []string{files.CA, files.ServerCert, files.ServerKey, files.ClientCert, files.ClientKey} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}
	_, err = tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	require.NoError(t, err)
	_, err = tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	require.NoError(t, err)
}
