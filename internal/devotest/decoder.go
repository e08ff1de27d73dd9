package devotest // import "github.com/msgtrace/otelcol-msgtrace/internal/devotest"

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Framing says how a frame was delimited on the wire.
type Framing string

const (
	// FramingLF is a syslog line terminated by LF (Devo SDK plain mode).
	FramingLF Framing = "lf"
	// FramingOctetCounting is an RFC 6587 "LEN SP FRAME" frame (Devo SDK multiline mode).
	FramingOctetCounting Framing = "octet_counting"
	// FramingGzip is an LF line found inside a gzip member (Devo SDK zip mode).
	FramingGzip Framing = "gzip"
)

// DefaultMaxFrameSize bounds one frame (and one decompressed gzip member is bounded by 64 times
// it), so a broken or hostile sender cannot make the decoder allocate without limit.
const DefaultMaxFrameSize = 16 << 20

var (
	// ErrFrameTooLarge means a frame (or gzip member) exceeded the decoder's limit.
	ErrFrameTooLarge = errors.New("devotest: frame exceeds the size limit")
	// ErrTruncatedFrame means the stream ended inside a frame.
	ErrTruncatedFrame = errors.New("devotest: stream ended inside a frame")
	// ErrBadFrame means a frame starts with a byte no Devo framing starts with, or has a bad length.
	ErrBadFrame = errors.New("devotest: unrecognised frame")
	// ErrBadHeader means a frame is not "<PRI>DATE HOST TAG: MESSAGE".
	ErrBadHeader = errors.New("devotest: malformed syslog header")
)

// Frame is one syslog line as delimited on the wire, without its LF terminator.
type Frame struct {
	Framing Framing
	// Data is only valid until the next call to Next.
	Data []byte
}

// Decoder splits a byte stream into frames, detecting the framing of each frame from its first
// byte: '<' an LF line, a digit an octet count, 0x1f the start of a gzip member.
type Decoder struct {
	r        *bufio.Reader
	max      int
	buf      []byte
	inner    *Decoder // lines of the gzip member being drained
	noGzip   bool     // gzip members cannot nest
	memberSz int
}

// NewDecoder reads frames from r; maxFrameSize <= 0 means DefaultMaxFrameSize.
func NewDecoder(r io.Reader, maxFrameSize int) *Decoder {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Decoder{r: br, max: maxFrameSize}
}

// Next returns the next frame, io.EOF at a clean end of stream, or an error wrapping one of the
// Err values above (or the reader's error).
func (d *Decoder) Next() (Frame, error) {
	if d.inner != nil {
		f, err := d.inner.Next()
		if err == nil {
			f.Framing = FramingGzip
			return f, nil
		}
		d.inner = nil
		if !errors.Is(err, io.EOF) {
			return Frame{}, fmt.Errorf("inside gzip member: %w", err)
		}
	}
	first, err := d.r.Peek(1)
	if err != nil {
		return Frame{}, err // io.EOF at a frame boundary is the clean end
	}
	switch c := first[0]; {
	case c == '<':
		line, err := d.readLine()
		return Frame{Framing: FramingLF, Data: line}, err
	case c >= '0' && c <= '9':
		data, err := d.readOctetCounted()
		return Frame{Framing: FramingOctetCounting, Data: data}, err
	case c == 0x1f && !d.noGzip:
		if err := d.openGzipMember(); err != nil {
			return Frame{}, err
		}
		return d.Next()
	default:
		return Frame{}, fmt.Errorf("%w: first byte 0x%02x", ErrBadFrame, c)
	}
}

func (d *Decoder) readLine() ([]byte, error) {
	d.buf = d.buf[:0]
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(d.buf)+len(chunk) > d.max {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrFrameTooLarge, d.max)
		}
		switch {
		case err == nil && len(d.buf) == 0:
			return chunk[:len(chunk)-1], nil // common case: no copy
		case err == nil:
			d.buf = append(d.buf, chunk...)
			return d.buf[:len(d.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			d.buf = append(d.buf, chunk...)
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: %d bytes of an LF line", ErrTruncatedFrame, len(d.buf)+len(chunk))
		default:
			return nil, err
		}
	}
}

func (d *Decoder) readOctetCounted() ([]byte, error) {
	n := 0
	for digits := 0; ; digits++ {
		c, err := d.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: inside an octet count", ErrTruncatedFrame)
			}
			return nil, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || digits >= 10 {
			return nil, fmt.Errorf("%w: bad octet count byte 0x%02x", ErrBadFrame, c)
		}
		n = n*10 + int(c-'0')
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: zero octet count", ErrBadFrame)
	}
	if n > d.max {
		return nil, fmt.Errorf("%w: octet count %d > %d", ErrFrameTooLarge, n, d.max)
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	d.buf = d.buf[:n]
	if _, err := io.ReadFull(d.r, d.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: octet-counted frame of %d bytes", ErrTruncatedFrame, n)
		}
		return nil, err
	}
	// The count includes the trailing LF in Devo's SDK and in RFC 6587 senders that add one.
	return bytes.TrimSuffix(d.buf, []byte{'\n'}), nil
}

func (d *Decoder) openGzipMember() error {
	zr, err := gzip.NewReader(d.r)
	if err != nil {
		return fmt.Errorf("%w: gzip header: %w", ErrBadFrame, err)
	}
	// One member at a time: what follows it may be another framing.
	zr.Multistream(false)
	limit := int64(d.max) * 64
	member, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: gzip member", ErrTruncatedFrame)
		}
		return fmt.Errorf("%w: gzip member: %w", ErrBadFrame, err)
	}
	if int64(len(member)) > limit {
		return fmt.Errorf("%w: gzip member decompresses to more than %d bytes", ErrFrameTooLarge, limit)
	}
	d.memberSz = len(member)
	d.inner = &Decoder{r: bufio.NewReader(bytes.NewReader(member)), max: d.max, noGzip: true}
	return nil
}

// Header is a parsed "<PRI>DATE HOST TAG: MESSAGE" frame. Its slices alias the frame.
type Header struct {
	PRI     int
	Date    []byte
	Host    []byte
	Tag     []byte
	Message []byte
}

// ParseHeader parses one frame (without its terminator). DATE is recognised in the shapes Devo
// senders use: "Jan  1 00:00:00" (RFC 3164), "2024-05-01 12:34:56.789" (Devo collectors), or
// any token without spaces (RFC 3339). The colon after TAG is optional, as Devo's relay allows.
func ParseHeader(frame []byte) (Header, error) {
	var h Header
	if len(frame) < 3 || frame[0] != '<' {
		return h, fmt.Errorf("%w: no <PRI>", ErrBadHeader)
	}
	i := 1
	for ; i < len(frame) && i <= 4 && frame[i] >= '0' && frame[i] <= '9'; i++ {
		h.PRI = h.PRI*10 + int(frame[i]-'0')
	}
	if i == 1 || i > 4 || i >= len(frame) || frame[i] != '>' || h.PRI > 191 {
		return h, fmt.Errorf("%w: bad <PRI>", ErrBadHeader)
	}
	rest := frame[i+1:]
	n := dateLen(rest)
	if n == 0 || n >= len(rest) || rest[n] != ' ' {
		return h, fmt.Errorf("%w: bad date", ErrBadHeader)
	}
	h.Date, rest = rest[:n], rest[n+1:]
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return h, fmt.Errorf("%w: no hostname", ErrBadHeader)
	}
	h.Host, rest = rest[:sp], rest[sp+1:]
	if sp = bytes.IndexByte(rest, ' '); sp < 0 {
		h.Tag, h.Message = rest, rest[len(rest):]
	} else {
		h.Tag, h.Message = rest[:sp], rest[sp+1:]
	}
	h.Tag = bytes.TrimSuffix(h.Tag, []byte{':'})
	if len(h.Tag) == 0 {
		return h, fmt.Errorf("%w: no tag", ErrBadHeader)
	}
	return h, nil
}

func dateLen(b []byte) int {
	isDigit := func(i int) bool { return i < len(b) && b[i] >= '0' && b[i] <= '9' }
	isTime := func(i int) bool { // hh:mm:ss at i
		return isDigit(i) && isDigit(i+1) && i+2 < len(b) && b[i+2] == ':' && isDigit(i+3) && isDigit(i+4) &&
			i+5 < len(b) && b[i+5] == ':' && isDigit(i+6) && isDigit(i+7)
	}
	// "Jan  1 00:00:00"
	if len(b) >= 15 && b[0] >= 'A' && b[0] <= 'Z' && b[1] >= 'a' && b[1] <= 'z' && b[2] >= 'a' && b[2] <= 'z' &&
		b[3] == ' ' && (b[4] == ' ' || isDigit(4)) && isDigit(5) && b[6] == ' ' && isTime(7) {
		return 15
	}
	// "2024-05-01 12:34:56" with an optional fraction
	if len(b) >= 19 && isDigit(0) && isDigit(1) && isDigit(2) && isDigit(3) && b[4] == '-' && isDigit(5) && isDigit(6) &&
		b[7] == '-' && isDigit(8) && isDigit(9) && b[10] == ' ' && isTime(11) {
		n := 19
		if n < len(b) && b[n] == '.' && isDigit(n+1) {
			n++
			for isDigit(n) {
				n++
			}
		}
		return n
	}
	if sp := bytes.IndexByte(b, ' '); sp > 0 {
		return sp
	}
	return 0
}

// ParseEvent parses a frame into an Event (copying the strings out of the frame).
func ParseEvent(f Frame) (Event, error) {
	h, err := ParseHeader(f.Data)
	if err != nil {
		return Event{}, err
	}
	return Event{
		PRI:     h.PRI,
		Date:    string(h.Date),
		Host:    string(h.Host),
		Tag:     string(h.Tag),
		Message: string(h.Message),
		Framing: f.Framing,
	}, nil
}

// Event is one syslog event as the sink received it.
type Event struct {
	PRI     int
	Date    string
	Host    string
	Tag     string
	Message string
	Framing Framing
	// Conn numbers the connection the event arrived on (1 is the first accepted connection).
	Conn int
	// ServerName is the SNI the client sent (empty for plain TCP).
	ServerName string
	// ClientCN is the common name of the verified client certificate.
	ClientCN string
}

// Facility is PRI / 8.
func (e Event) Facility() int { return e.PRI / 8 }

// Severity is PRI % 8.
func (e Event) Severity() int { return e.PRI % 8 }

// String renders the event the way it looked on the wire, for failure messages.
func (e Event) String() string {
	return "<" + strconv.Itoa(e.PRI) + ">" + e.Date + " " + e.Host + " " + e.Tag + ": " + e.Message
}
