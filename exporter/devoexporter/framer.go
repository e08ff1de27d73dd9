package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

const (
	// sdkDate is the constant date Devo's Python SDK writes; Devo indexes by arrival time anyway.
	sdkDate = "Jan  1 00:00:00"
	// collectorDateLayout is what Devo's collectors write (UTC, milliseconds).
	collectorDateLayout = "2006-01-02 15:04:05.000"
	// truncationMarker ends every truncated message so a reader can tell it is incomplete.
	truncationMarker = "...[truncated]"
	// pullingIDKey is the member Devo's collectors add to every JSON event.
	pullingIDKey = "@devo_pulling_id"
	// octetPrefixRoom is reserved before a frame for "LEN " (max_event_size has at most 8 digits).
	octetPrefixRoom = 9
)

// framer turns one log record into one Devo syslog frame: <PRI>DATE HOSTNAME TAG: MESSAGE\n.
// It is immutable after construction and safe for concurrent use.
type framer struct {
	facility  int
	sdkDate   bool
	octet     bool // octet_counting; otherwise LF framing with line breaks escaped
	hostname  string
	maxEvent  int // bytes of header + message + LF
	pullingID bool
}

func newFramer(cfg *Config, hostname string) *framer {
	return &framer{
		facility:  cfg.Facility,
		sdkDate:   cfg.DateFormat == DateFormatSDK,
		octet:     cfg.Framing == FramingOctetCounting,
		hostname:  hostname,
		maxEvent:  cfg.MaxEventSize,
		pullingID: cfg.PullingID,
	}
}

// appendFrame appends rec's frame (with its octet-count prefix if configured) to dst and reports
// whether the message had to be truncated to max_event_size. now stands in for missing record
// timestamps.
func (f *framer) appendFrame(dst []byte, tag string, rec plog.LogRecord, now time.Time) ([]byte, bool) {
	prefixAt := len(dst)
	if f.octet {
		dst = append(dst, make([]byte, octetPrefixRoom)...)
	}
	start := len(dst)
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(f.facility*8+syslogSeverity(rec.SeverityNumber())), 10)
	dst = append(dst, '>')
	if f.sdkDate {
		dst = append(dst, sdkDate...)
	} else {
		dst = appendCollectorDate(dst, recordTime(rec, now).UTC())
	}
	dst = append(dst, ' ')
	dst = append(dst, f.hostname...)
	dst = append(dst, ' ')
	dst = append(dst, tag...)
	dst = append(dst, ':', ' ')
	msgStart := len(dst)
	dst = f.appendMessage(dst, rec, now)

	truncated := false
	if frameLen := len(dst) - start + 1; frameLen > f.maxEvent {
		// Header + marker + LF always fit: Validate keeps max_event_size above the longest header.
		keep := f.maxEvent - 1 - len(truncationMarker) - (msgStart - start)
		cut := max(msgStart+keep, msgStart)
		// Never split a UTF-8 sequence: back up to the start of the rune at the cut.
		for i := 0; i < utf8.UTFMax && cut > msgStart && !utf8.RuneStart(dst[cut]); i++ {
			cut--
		}
		dst = append(dst[:cut], truncationMarker...)
		truncated = true
	}
	dst = append(dst, '\n')

	if f.octet {
		// Devo's SDK counts the trailing LF too ("%d %s" % (len(record), record)).
		var num [octetPrefixRoom]byte
		p := strconv.AppendInt(num[:0], int64(len(dst)-start), 10)
		p = append(p, ' ')
		n := copy(dst[prefixAt:], p)
		dst = append(dst[:prefixAt+n], dst[start:]...)
	}
	return dst, truncated
}

// appendMessage writes the body: strings verbatim, maps and slices as compact JSON, anything else
// as text. With LF framing, CR and LF are escaped as \r and \n so an event never spans lines;
// JSON output never holds raw line breaks, so only text bodies need it.
func (f *framer) appendMessage(dst []byte, rec plog.LogRecord, now time.Time) []byte {
	body := rec.Body()
	switch body.Type() {
	case pcommon.ValueTypeStr:
		return f.appendText(dst, body.Str())
	case pcommon.ValueTypeMap:
		if f.pullingID {
			var num [20]byte
			id := strconv.AppendInt(num[:0], pullingID(rec, now), 10)
			return appendJSONMap(dst, body.Map(), pullingIDKey, string(id))
		}
		return appendJSONMap(dst, body.Map(), "", "")
	case pcommon.ValueTypeSlice:
		return appendJSON(dst, body)
	case pcommon.ValueTypeEmpty:
		return dst
	default:
		return f.appendText(dst, body.AsString())
	}
}

func (f *framer) appendText(dst []byte, s string) []byte {
	// Most events have no line break: IndexByte is vectorised, the byte loop below is not
	// (nor is IndexAny with two characters).
	if f.octet || (strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0) {
		return append(dst, s...)
	}
	start := 0
	for i := range len(s) {
		if c := s[i]; c == '\n' || c == '\r' {
			dst = append(dst, s[start:i]...)
			if c == '\n' {
				dst = append(dst, '\\', 'n')
			} else {
				dst = append(dst, '\\', 'r')
			}
			start = i + 1
		}
	}
	return append(dst, s[start:]...)
}

// syslogSeverity maps an OpenTelemetry severity number range to a syslog severity; unset
// records are informational, as in Devo's SDK.
func syslogSeverity(n plog.SeverityNumber) int {
	switch {
	case n >= 1 && n <= 8: // TRACE, DEBUG
		return 7
	case n >= 13 && n <= 16: // WARN
		return 4
	case n >= 17 && n <= 20: // ERROR
		return 3
	case n >= 21 && n <= 24: // FATAL
		return 2
	default: // INFO, unset and out-of-range values
		return 6
	}
}

// recordTime is the event time: Timestamp, else ObservedTimestamp, else the push time.
func recordTime(rec plog.LogRecord, now time.Time) time.Time {
	if ts := rec.Timestamp(); ts != 0 {
		return ts.AsTime()
	}
	if ts := rec.ObservedTimestamp(); ts != 0 {
		return ts.AsTime()
	}
	return now
}

// pullingID is the record's ObservedTimestamp in epoch milliseconds (when the receiver pulled it,
// as Devo's collectors use the pull time), else its Timestamp, else the push time.
func pullingID(rec plog.LogRecord, now time.Time) int64 {
	if ts := rec.ObservedTimestamp(); ts != 0 {
		return int64(ts) / int64(time.Millisecond)
	}
	if ts := rec.Timestamp(); ts != 0 {
		return int64(ts) / int64(time.Millisecond)
	}
	return now.UnixMilli()
}

// appendCollectorDate appends t as collectorDateLayout without parsing the layout for every
// record (AppendFormat was a tenth of the exporter's CPU).
func appendCollectorDate(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, collectorDateLayout)
	}
	dst = append(dst, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	dst = append(dst, byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), ' ')
	dst = append(dst, byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':')
	return append(dst, byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}
