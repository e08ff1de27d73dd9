package devotest // import "github.com/msgtrace/otelcol-msgtrace/internal/devotest"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Sink. The zero value is a TLS sink on a free loopback port with fresh
// certificates that requires and verifies client certificates.
type Options struct {
	// Certificates to serve with; nil generates a fresh set (see Sink.Certificates).
	Certificates *Certificates
	// Addr to listen on; empty means 127.0.0.1:0.
	Addr string
	// Plain serves plain TCP, like an on-prem Devo relay port.
	Plain bool
	// MaxFrameSize bounds one frame; <= 0 means DefaultMaxFrameSize.
	MaxFrameSize int
	// MaxStoredEvents bounds the events kept for Events(); more are only counted
	// (Stats.Discarded). <= 0 means 1,000,000.
	MaxStoredEvents int
	// DiscardEvents parses and counts events without storing them (for benchmarks).
	DiscardEvents bool
	// HandshakeTimeout bounds the TLS handshake; <= 0 means 5 s.
	HandshakeTimeout time.Duration
	// RecordRaw keeps every connection's decrypted byte stream for Raw (golden-byte tests).
	RecordRaw bool
	// OnEvent, if set, is called with every parsed event, one call at a time and in arrival
	// order (the runnable sink writes them as JSON lines). It must not call back into the Sink.
	OnEvent func(Event)
}

// Stats counts what the sink saw. Every field only grows.
type Stats struct {
	Connections     int   // TCP connections accepted (including refused ones)
	Handshakes      int   // TLS handshakes completed (or plain connections served)
	HandshakeErrors int   // TLS handshakes that failed (bad or missing client certificate, ...)
	Events          int   // events parsed
	Discarded       int   // events parsed but not stored (MaxStoredEvents, DiscardEvents)
	FrameErrors     int   // frames that could not be decoded or parsed
	Refused         int   // connections reset on accept by RefuseFor
	OutageResets    int   // established connections reset because RefuseFor began an outage
	Resets          int   // connections reset by ResetAfter or ResetEvery
	IdleCloses      int   // connections closed by SetIdleTimeout
	CleanCloses     int   // connections the client ended with a half-close, answered with our close
	BytesRead       int64 // bytes read from sockets (TLS records included)
	// EventsOnFailedConns counts events parsed on connections that did not end with the
	// client's half-close (reset, error, idle close): a confirming client sends them again, so
	// this bounds the duplicates it may cause.
	EventsOnFailedConns int
}

// ConnInfo describes one accepted connection.
type ConnInfo struct {
	ID         int
	ServerName string // SNI sent by the client
	ClientCN   string // common name of the verified client certificate
	TLSVersion uint16
	Resumed    bool  // TLS session resumption was used
	Err        error // handshake error, if the handshake failed
}

// Sink is a Devo-like syslog receiver for tests and demos. Safe for concurrent use.
type Sink struct {
	opts   Options
	certs  *Certificates
	tlsCfg *tls.Config
	ln     net.Listener
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	bytesRead   atomic.Int64
	idleTimeout atomic.Int64 // nanoseconds; 0 disables

	mu          sync.Mutex
	nextID      int
	live        map[int]net.Conn
	events      []Event
	raw         map[int][]byte
	conns       []ConnInfo
	errs        []error
	stats       Stats
	resetAfter  int // events still to accept before the armed RST; 0 = disarmed
	resetEvery  int // ResetEvery's period; 0 = off
	sinceReset  int // events since the last ResetEvery reset
	refuseUntil time.Time
	cut         map[int]bool  // connections RefuseFor reset, so their read error is no frame error
	gate        chan struct{} // closed while reading is allowed
}

// NewSink starts a sink listening on opts.Addr. Close it when done.
func NewSink(opts Options) (*Sink, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxStoredEvents <= 0 {
		opts.MaxStoredEvents = 1_000_000
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 5 * time.Second
	}
	s := &Sink{opts: opts, done: make(chan struct{}), live: map[int]net.Conn{}, gate: make(chan struct{})}
	close(s.gate)
	if !opts.Plain {
		s.certs = opts.Certificates
		if s.certs == nil {
			c, err := NewCertificates(CertOptions{})
			if err != nil {
				return nil, err
			}
			s.certs = c
		}
		cfg, err := s.certs.ServerTLSConfig()
		if err != nil {
			return nil, err
		}
		s.tlsCfg = cfg
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("devotest: listen: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Certificates the sink serves with (nil for a plain sink); clients need the CA and client pair.
func (s *Sink) Certificates() *Certificates { return s.certs }

// Events returns a copy of the events received so far, in arrival order.
func (s *Sink) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// EventCount is the number of events parsed so far (stored or not).
func (s *Sink) EventCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.Events
}

// Raw returns the decrypted bytes received on connection id (1-based, see ConnInfo.ID); only
// recorded with Options.RecordRaw.
func (s *Sink) Raw(id int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.raw[id]...)
}

// Stats returns the counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.BytesRead = s.bytesRead.Load()
	return st
}

// Conns describes every connection accepted so far (refused ones excluded).
func (s *Sink) Conns() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ConnInfo(nil), s.conns...)
}

// Errors returns handshake and frame errors seen so far.
func (s *Sink) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// WaitForEvents waits until at least n events were parsed or ctx ends.
func (s *Sink) WaitForEvents(ctx context.Context, n int) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if got := s.EventCount(); got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devotest: %d of %d events: %w", s.EventCount(), n, ctx.Err())
		case <-t.C:
		}
	}
}

// ResetAfter arms a one-shot fault: the connection carrying the n-th event from now is reset
// (TCP RST, no TLS close) right after that event is recorded; unread data is lost, as when a
// load balancer node dies. n <= 0 disarms.
func (s *Sink) ResetAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetAfter = max(n, 0)
}

// ResetEvery resets (TCP RST) the connection carrying every n-th event from now on, as a relay
// or load balancer that keeps dropping connections; the count runs across connections. n <= 0
// turns it off.
func (s *Sink) ResetEvery(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetEvery, s.sinceReset = max(n, 0), 0
}

// RefuseFor makes Devo unreachable for d, as a load balancer whose backends are gone: the
// established connections are reset now, every connection accepted during d is reset before its
// TLS handshake, and no frame is stored from the moment RefuseFor returns (a frame read before
// but not yet stored is dropped with its connection, as a dying backend drops it).
func (s *Sink) RefuseFor(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseUntil = time.Now().Add(d)
	if d <= 0 {
		return
	}
	for id, c := range s.live {
		if s.cut == nil {
			s.cut = make(map[int]bool)
		}
		s.cut[id] = true
		s.stats.OutageResets++
		reset(c)
	}
}

// refusing reports whether an outage begun by RefuseFor is on. Callers hold s.mu.
func (s *Sink) refusing() bool { return time.Now().Before(s.refuseUntil) }

// PauseReading stops reading from established connections, so senders' writes back up.
func (s *Sink) PauseReading() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.gate:
		s.gate = make(chan struct{})
	default: // already paused
	}
}

// ResumeReading undoes PauseReading.
func (s *Sink) ResumeReading() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.gate:
	default:
		close(s.gate)
	}
}

// SetIdleTimeout makes the sink close (cleanly) connections that send nothing for d, as Devo's
// ELB does after about 30 s. 0 disables.
func (s *Sink) SetIdleTimeout(d time.Duration) { s.idleTimeout.Store(int64(d)) }

// Close stops listening, closes every connection and waits for the sink's goroutines.
func (s *Sink) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
		s.mu.Lock()
		for _, c := range s.live {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return err
}

func (s *Sink) acceptLoop() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			// Transient accept errors (EMFILE, ...): back off briefly instead of spinning.
			select {
			case <-s.done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		s.mu.Lock()
		s.stats.Connections++
		if s.refusing() {
			s.stats.Refused++
			s.mu.Unlock()
			reset(raw)
			continue
		}
		s.nextID++
		id := s.nextID
		s.live[id] = raw
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(id, raw)
	}
}

func (s *Sink) serve(id int, raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.live, id)
		delete(s.cut, id)
		s.mu.Unlock()
		_ = raw.Close()
	}()
	gc := &gatedConn{Conn: raw, s: s}
	var conn net.Conn = gc
	info := ConnInfo{ID: id}
	if !s.opts.Plain {
		tc := tls.Server(gc, s.tlsCfg)
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			info.Err = err
			s.mu.Lock()
			if s.cut[id] {
				delete(s.cut, id)
				s.mu.Unlock()
				return
			}
			s.stats.HandshakeErrors++
			s.conns = append(s.conns, info)
			s.errs = append(s.errs, fmt.Errorf("conn %d: handshake: %w", id, err))
			s.mu.Unlock()
			return
		}
		st := tc.ConnectionState()
		info.ServerName, info.TLSVersion, info.Resumed = st.ServerName, st.Version, st.DidResume
		if len(st.PeerCertificates) > 0 {
			info.ClientCN = st.PeerCertificates[0].Subject.CommonName
		}
		conn = tc
	}
	gc.established.Store(true)
	s.mu.Lock()
	s.stats.Handshakes++
	s.conns = append(s.conns, info)
	s.mu.Unlock()

	var src io.Reader = conn
	if s.opts.RecordRaw {
		src = io.TeeReader(conn, rawRecorder{s: s, id: id})
	}
	dec := NewDecoder(src, s.opts.MaxFrameSize)
	events := 0
	for {
		f, err := dec.Next()
		if err != nil {
			s.endConn(id, conn, err, events)
			return
		}
		counted, cut := s.record(info, f)
		if counted {
			events++
		}
		if cut {
			s.mu.Lock()
			s.stats.EventsOnFailedConns += events
			s.mu.Unlock()
			reset(raw)
			return
		}
	}
}

// record stores one frame's event and reports whether the frame counts as read on its
// connection (an outage drops it unread) and whether the connection is to be reset now (the
// armed RST fires, or an outage began).
func (s *Sink) record(info ConnInfo, f Frame) (counted, cut bool) {
	var ev Event
	var err error
	if s.opts.DiscardEvents {
		_, err = ParseHeader(f.Data) // validate without copying
	} else {
		ev, err = ParseEvent(f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refusing() {
		if !s.cut[info.ID] {
			s.stats.OutageResets++
		}
		return false, true
	}
	if err != nil {
		s.stats.FrameErrors++
		s.errs = append(s.errs, fmt.Errorf("conn %d: %w: %q", info.ID, err, truncate(f.Data, 120)))
		return true, false
	}
	s.stats.Events++
	ev.Conn, ev.ServerName, ev.ClientCN = info.ID, info.ServerName, info.ClientCN
	if s.opts.DiscardEvents || len(s.events) >= s.opts.MaxStoredEvents {
		s.stats.Discarded++
	} else {
		s.events = append(s.events, ev)
	}
	if s.opts.OnEvent != nil && !s.opts.DiscardEvents {
		s.opts.OnEvent(ev)
	}
	if s.resetAfter > 0 {
		s.resetAfter--
		if s.resetAfter == 0 {
			s.stats.Resets++
			return true, true
		}
	}
	if s.resetEvery > 0 {
		s.sinceReset++
		if s.sinceReset >= s.resetEvery {
			s.sinceReset = 0
			s.stats.Resets++
			return true, true
		}
	}
	return true, false
}

func (s *Sink) endConn(id int, conn net.Conn, err error, events int) {
	select {
	case <-s.done:
		return
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !errors.Is(err, io.EOF) {
		s.stats.EventsOnFailedConns += events
	}
	switch {
	case s.cut[id]:
		delete(s.cut, id) // RefuseFor's reset, counted there: no frame error
	case errors.Is(err, io.EOF):
		// The client half-closed after sending everything; everything before it has been read,
		// so answering with our own close is the delivery confirmation Devo's SDK waits for.
		s.stats.CleanCloses++
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.stats.IdleCloses++
	default:
		s.stats.FrameErrors++
		s.errs = append(s.errs, fmt.Errorf("conn %d: %w", id, err))
	}
	_ = conn.Close()
}

// gatedConn counts bytes, applies the idle timeout and blocks reads while reading is paused.
type gatedConn struct {
	net.Conn
	s           *Sink
	established atomic.Bool
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if c.established.Load() {
		c.s.mu.Lock()
		gate := c.s.gate
		c.s.mu.Unlock()
		select {
		case <-gate:
		case <-c.s.done:
			return 0, net.ErrClosed
		}
		if d := time.Duration(c.s.idleTimeout.Load()); d > 0 {
			_ = c.SetReadDeadline(time.Now().Add(d))
		} else {
			_ = c.SetReadDeadline(time.Time{})
		}
	}
	n, err := c.Conn.Read(p)
	c.s.bytesRead.Add(int64(n))
	return n, err
}

// rawRecorder appends a connection's bytes to Sink.raw.
type rawRecorder struct {
	s  *Sink
	id int
}

func (r rawRecorder) Write(p []byte) (int, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.s.raw == nil {
		r.s.raw = map[int][]byte{}
	}
	r.s.raw[r.id] = append(r.s.raw[r.id], p...)
	return len(p), nil
}

// reset closes with SO_LINGER 0, which sends a TCP RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
