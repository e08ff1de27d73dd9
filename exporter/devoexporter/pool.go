package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter/internal/metadata"
)

// errPoolClosed is returned to pushes that race with Shutdown.
var errPoolClosed = errors.New("devo: exporter is shutting down")

// keepAlive probes a silent peer well before Devo's ~30 s idle cut would, so a dead path is
// noticed by the kernel even while a connection sits in the pool.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

// dialer opens one TLS (or, for a relay, plain TCP) connection.
type dialer struct {
	addr    string
	tlsCfg  *tls.Config // nil: plain TCP (`tls.insecure: true`)
	timeout time.Duration
}

func (d *dialer) dial(ctx context.Context) (net.Conn, *net.TCPConn, error) {
	nd := &net.Dialer{Timeout: d.timeout, KeepAliveConfig: keepAlive}
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("devo: connect to %s: %w", d.addr, err)
	}
	tcp, _ := raw.(*net.TCPConn)
	if d.tlsCfg == nil {
		return raw, tcp, nil
	}
	tc := tls.Client(raw, d.tlsCfg)
	hctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("devo: TLS handshake with %s (server name %q): %w", d.addr, d.tlsCfg.ServerName, err)
	}
	return tc, tcp, nil
}

// conn is one connection to Devo. Devo never sends application data, so a goroutine keeps
// reading: whatever ends that read (EOF, RST, a TLS alert such as "certificate required") is the
// peer closing, noticed without probing before each write.
type conn struct {
	net.Conn
	tcp      *net.TCPConn
	created  time.Time
	lastUsed time.Time // written by the owning push or under the pool lock

	halfClosed atomic.Bool   // set once our half-close went out
	done       chan struct{} // closed when the reader ends; readErr and early are set before
	readErr    error
	early      bool // the peer ended the connection before our half-close
}

func newConn(nc net.Conn, tcp *net.TCPConn, now time.Time) *conn {
	c := &conn{Conn: nc, tcp: tcp, created: now, lastUsed: now, done: make(chan struct{})}
	go c.watch()
	return c
}

func (c *conn) watch() {
	defer close(c.done)
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			c.readErr = err
			c.early = !c.halfClosed.Load()
			return
		}
		// Bytes from Devo are unexpected and carry no meaning; discarded, as Devo's SDK does.
	}
}

// peerClosed reports whether the peer has ended the connection, and why.
func (c *conn) peerClosed() (bool, error) {
	select {
	case <-c.done:
		if c.readErr == nil || errors.Is(c.readErr, io.EOF) {
			return true, errors.New("devo: connection closed by the server")
		}
		return true, fmt.Errorf("devo: connection failed: %w", c.readErr)
	default:
		return false, nil
	}
}

// withPeerReason adds why the peer ended the connection to a local write error: after a TLS
// rejection the write only sees "broken pipe", while the reader got the server's alert (e.g.
// "unknown certificate authority"), which is what an operator needs. Waits briefly for it.
func (c *conn) withPeerReason(err error) error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		return err
	}
	if c.readErr == nil || errors.Is(c.readErr, io.EOF) || errors.Is(c.readErr, net.ErrClosed) {
		return err
	}
	return fmt.Errorf("%w (server side: %v)", err, c.readErr)
}

// confirm half-closes the connection and waits until the server closes its side. A clean EOF
// after our half-close means the server read everything we wrote (a server that closes with
// unread data sends RST instead); that is the only delivery signal syslog over TLS offers, and
// the one Devo's SDK relies on.
func (c *conn) confirm(ctx context.Context, timeout time.Duration) error {
	if closed, err := c.peerClosed(); closed {
		return fmt.Errorf("before the push was confirmed: %w", err)
	}
	// Marked before sending: a server answers the half-close within microseconds, and its EOF
	// must not be mistaken for an early close. The cost is a window of one round trip in which a
	// server closing on its own (not in answer to us) would pass for a confirmation; Devo only
	// closes idle connections, and this one is busy.
	c.halfClosed.Store(true)
	if tc, ok := c.Conn.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil { // TLS close_notify
			return c.withPeerReason(fmt.Errorf("devo: half-close: %w", err))
		}
	}
	if c.tcp != nil {
		if err := c.tcp.CloseWrite(); err != nil { // TCP FIN, what Devo's SDK sends
			return c.withPeerReason(fmt.Errorf("devo: half-close: %w", err))
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		return fmt.Errorf("devo: server did not confirm the push within %s", timeout)
	case <-ctx.Done():
		return fmt.Errorf("devo: waiting for the server to confirm the push: %w", ctx.Err())
	}
	switch {
	case c.early:
		return errors.New("devo: connection closed by the server before the push was confirmed")
	case errors.Is(c.readErr, io.EOF):
		return nil
	default:
		return fmt.Errorf("devo: push not confirmed: %w", c.readErr)
	}
}

// close releases the connection. graceful sends TLS close_notify (only sensible for an idle,
// healthy connection); otherwise the socket is just closed. Waits for the reader goroutine.
func (c *conn) close(graceful bool) {
	switch {
	case graceful:
		_ = c.Close()
	case c.tcp != nil:
		_ = c.tcp.Close()
	default:
		_ = c.Close()
	}
	<-c.done
}

// pool hands out connections. `fast` delivery reuses them across pushes; `confirmed` delivery
// ends each push's connection with the half-close and only uses dial.
type pool struct {
	dialer      dialer
	idleTimeout time.Duration
	maxAge      time.Duration
	maxIdle     int
	now         func() time.Time
	tel         *metadata.TelemetryBuilder
	logger      *zap.Logger

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool
}

// get returns a healthy pooled connection or dials a new one. reused tells the caller whether a
// write failure might just mean the pooled connection went stale.
func (p *pool) get(ctx context.Context) (c *conn, reused bool, err error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, false, errPoolClosed
		}
		if len(p.idle) == 0 {
			p.mu.Unlock()
			break
		}
		c = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		p.mu.Unlock()
		if reason := p.staleReason(c); reason != "" {
			p.discard(ctx, c, reason)
			continue
		}
		return c, true, nil
	}
	c, err = p.dial(ctx)
	return c, false, err
}

func (p *pool) staleReason(c *conn) string {
	if closed, err := c.peerClosed(); closed {
		return err.Error()
	}
	now := p.now()
	if now.Sub(c.lastUsed) >= p.idleTimeout {
		return "idle longer than idle_timeout"
	}
	if now.Sub(c.created) >= p.maxAge {
		return "older than max_connection_age"
	}
	return ""
}

// dial opens a new connection.
func (p *pool) dial(ctx context.Context) (*conn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errPoolClosed
	}
	nc, tcp, err := p.dialer.dial(ctx)
	if err != nil {
		return nil, err
	}
	p.tel.DevoExporterConnectionsOpened.Add(ctx, 1)
	return newConn(nc, tcp, p.now()), nil
}

// put returns a healthy connection after a successful push.
func (p *pool) put(c *conn) {
	c.lastUsed = p.now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		c.close(true)
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard drops a connection that failed or went stale; the next push dials a replacement.
func (p *pool) discard(ctx context.Context, c *conn, reason string) {
	c.close(false)
	p.tel.DevoExporterReconnects.Add(ctx, 1)
	p.logger.Debug("recycling Devo connection", zap.String("reason", reason))
}

// close closes idle connections and makes later get/dial calls fail; safe to call twice.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.close(true)
	}
}
