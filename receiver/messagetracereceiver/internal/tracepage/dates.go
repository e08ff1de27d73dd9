package tracepage // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dateCache parses a date once for consecutive rows that share it: the recipients of one
// message.
type dateCache struct {
	last  strRef
	t     time.Time
	valid bool
}

func (c *dateCache) parse(strs string, r strRef, parse func(string) (time.Time, error)) (time.Time, error) {
	if c.valid && r == c.last {
		return c.t, nil
	}
	t, err := parse(ref(strs, r))
	if err != nil {
		return time.Time{}, err
	}
	c.last, c.t, c.valid = r, t, true
	return t, nil
}

// ParseGraphDate reads receivedDateTime (RFC 3339) as UTC.
func ParseGraphDate(s string) (time.Time, error) {
	if t, ok := parseISOFast(s, true); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// parseISOFast parses the shapes the APIs send, "2006-01-02T15:04:05[.fffffffff]Z" (and
// without the Z when zoneless is allowed), to the same instant time.Parse gives. Anything else
// is left to time.Parse.
func parseISOFast(s string, needZ bool) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(p string) (int, bool) {
		n := 0
		for i := range len(p) {
			if p[i] < '0' || p[i] > '9' {
				return 0, false
			}
			n = n*10 + int(p[i]-'0')
		}
		return n, true
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		digits := 0
		for digits+1 < len(rest) && rest[digits+1] >= '0' && rest[digits+1] <= '9' {
			digits++
		}
		if digits == 0 || digits > 9 {
			return time.Time{}, false
		}
		nsec, _ = num(rest[1 : 1+digits])
		for k := digits; k < 9; k++ {
			nsec *= 10
		}
		rest = rest[1+digits:]
	}
	switch {
	case rest == "Z":
	case rest == "" && !needZ:
	default:
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int((m-1)%7%2)
}

// ParseLegacyDate reads "/Date(1772359262117)/" (optionally with an offset suffix, which does
// not change the instant) or ISO 8601 with or without an offset; no offset means UTC.
func ParseLegacyDate(s string) (time.Time, error) {
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		inner := s[len("/Date(") : len(s)-len(")/")]
		if i := strings.IndexAny(inner[min(1, len(inner)):], "+-"); i >= 0 {
			inner = inner[:i+min(1, len(inner))]
		}
		ms, err := strconv.ParseInt(inner, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a /Date(ms)/ value", s)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	if t, ok := parseISOFast(s, false); ok {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither /Date(ms)/ nor ISO 8601", s)
	}
	return t, nil
}
