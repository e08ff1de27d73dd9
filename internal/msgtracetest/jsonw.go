package msgtracetest

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The fake writes its JSON by hand, without any struct shared with (or shaped like)
// the receiver's decoder, so a decoder bug cannot be mirrored by an encoder bug.

// jsonStyle selects escaping: Graph sends raw UTF-8, the verbose legacy envelope
// escapes non-ASCII and "/" (WCF style).
type jsonStyle struct {
	escapeNonASCII bool
	escapeSlash    bool
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string, st jsonStyle) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '/' && st.escapeSlash:
				b = append(b, '\\', '/')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
			i++
			continue
		}
		if st.escapeNonASCII || r == '\u2028' || r == '\u2029' {
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				b = appendU4(b, r1)
				b = appendU4(b, r2)
			} else {
				b = appendU4(b, r)
			}
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[(r>>12)&0xf], hexDigits[(r>>8)&0xf], hexDigits[(r>>4)&0xf], hexDigits[r&0xf])
}

// appendKey appends "key": (with a leading comma unless first).
func appendKey(b []byte, key string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = appendJSONString(b, key, jsonStyle{})
	return append(b, ':')
}

func appendStrField(b []byte, key, val string, first bool, st jsonStyle) []byte {
	b = appendKey(b, key, first)
	return appendJSONString(b, val, st)
}

// appendNullableStrField writes null for "".
func appendNullableStrField(b []byte, key, val string, first bool, st jsonStyle) []byte {
	b = appendKey(b, key, first)
	if val == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, val, st)
}

func appendIntField(b []byte, key string, val int64, first bool) []byte {
	b = appendKey(b, key, first)
	return strconv.AppendInt(b, val, 10)
}
