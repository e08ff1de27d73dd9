package devotest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Frames captured from Devo's Python SDK (see shared/reference/devo-ingestion.md section 2).
const (
	sdkPlain     = "<14>Jan  1 00:00:00 host1 cloud.office365.messagetracing: {\"a\":1}\n"
	sdkMultiline = "74 <14>Jan  1 00:00:00 host1 cloud.office365.messagetracing: {\"a\":1,\n \"b\":2}\n"
	sdkDated     = "<14>2024-05-01 12:34:56.789 host1 cloud.office365.messagetracing: {\"a\":1}\n"
)

func gzipMember(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func decodeAll(t *testing.T, stream []byte) ([]Event, error) {
	t.Helper()
	d := NewDecoder(bytes.NewReader(stream), 0)
	var out []Event
	for {
		f, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		ev, err := ParseEvent(f)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestDecoderMixedFramingsOnOneStream(t *testing.T) {
	var stream []byte
	stream = append(stream, sdkPlain...)
	stream = append(stream, sdkMultiline...)
	stream = append(stream, gzipMember(t, sdkPlain+sdkPlain)...)
	stream = append(stream, sdkDated...)

	events, err := decodeAll(t, stream)
	require.NoError(t, err)
	require.Len(t, events, 5)

	want := Event{PRI: 14, Date: "Jan  1 00:00:00", Host: "host1", Tag: "cloud.office365.messagetracing", Message: `{"a":1}`, Framing: FramingLF}
	assert.Equal(t, want, events[0])
	assert.Equal(t, FramingOctetCounting, events[1].Framing)
	assert.Equal(t, "{\"a\":1,\n \"b\":2}", events[1].Message)
	assert.Equal(t, FramingGzip, events[2].Framing)
	assert.Equal(t, FramingGzip, events[3].Framing)
	assert.Equal(t, want.Message, events[3].Message)
	assert.Equal(t, "2024-05-01 12:34:56.789", events[4].Date)
	assert.Equal(t, FramingLF, events[4].Framing)
	assert.Equal(t, 1, events[0].Facility())
	assert.Equal(t, 6, events[0].Severity())
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   error
	}{
		{"unknown first byte", "hello\n", ErrBadFrame},
		{"line cut by end of stream", "<14>Jan  1 00:00:00 h t: abc", ErrTruncatedFrame},
		{"octet frame cut by end of stream", "74 <14>Jan", ErrTruncatedFrame},
		{"octet count without space", "12345678901 x", ErrBadFrame},
		{"octet count zero", "0 ", ErrBadFrame},
		{"octet count over limit", "99999999 x", ErrFrameTooLarge},
		{"gzip magic without member", "\x1f\x8bxx", ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader([]byte(tt.stream)), 1<<20)
			_, err := d.Next()
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestDecoderLineLimit(t *testing.T) {
	line := "<14>Jan  1 00:00:00 h t: " + string(bytes.Repeat([]byte("x"), 200)) + "\n"
	_, err := NewDecoder(bytes.NewReader([]byte(line)), 100).Next()
	require.ErrorIs(t, err, ErrFrameTooLarge)
	f, err := NewDecoder(bytes.NewReader([]byte(line)), 1000).Next()
	require.NoError(t, err)
	assert.Len(t, f.Data, len(line)-1)
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  Event
		err   bool
	}{
		{name: "sdk date", frame: "<131>Jan  1 00:00:00 host1 a.b: m", want: Event{PRI: 131, Date: "Jan  1 00:00:00", Host: "host1", Tag: "a.b", Message: "m"}},
		{name: "two-digit day", frame: "<134>Nov 27 10:49:37 h my.app.x {}", want: Event{PRI: 134, Date: "Nov 27 10:49:37", Host: "h", Tag: "my.app.x", Message: "{}"}},
		{name: "collector date", frame: "<14>2024-05-01 12:34:56.789 h t: x y", want: Event{PRI: 14, Date: "2024-05-01 12:34:56.789", Host: "h", Tag: "t", Message: "x y"}},
		{name: "rfc3339 date", frame: "<14>2024-05-01T12:34:56Z h t: x", want: Event{PRI: 14, Date: "2024-05-01T12:34:56Z", Host: "h", Tag: "t", Message: "x"}},
		{name: "empty message", frame: "<14>Jan  1 00:00:00 h t: ", want: Event{PRI: 14, Date: "Jan  1 00:00:00", Host: "h", Tag: "t", Message: ""}},
		{name: "PRI 191 is the maximum", frame: "<191>Jan  1 00:00:00 h t: x", want: Event{PRI: 191, Date: "Jan  1 00:00:00", Host: "h", Tag: "t", Message: "x"}},
		{name: "PRI 192", frame: "<192>Jan  1 00:00:00 h t: x", err: true},
		{name: "no PRI", frame: "Jan  1 00:00:00 h t: x", err: true},
		{name: "no hostname", frame: "<14>Jan  1 00:00:00 ", err: true},
		{name: "no tag", frame: "<14>Jan  1 00:00:00 h : x", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEvent(Frame{Data: []byte(tt.frame)})
			if tt.err {
				require.ErrorIs(t, err, ErrBadHeader)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
