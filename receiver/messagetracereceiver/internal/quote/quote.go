// Package quote bounds what the receiver quotes of a server-sent value in errors and logs, so
// a 5 MB value never becomes a 5 MB log line.
package quote // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"

import (
	"strconv"
	"unicode/utf8"
)

const (
	// ValueLimit is how much of a server-sent value an error or log line quotes.
	ValueLimit = 64
	// TextLimit is for error texts Microsoft writes for people (error.message,
	// error_description): longer than a value, still bounded.
	TextLimit = 300
)

// Value quotes at most ValueLimit bytes of s (on a rune boundary) and says how long it was.
func Value(s string) string { return Cut(s, ValueLimit) }

// Text quotes at most TextLimit bytes of s.
func Text(s string) string { return Cut(s, TextLimit) }

// Cut quotes at most limit bytes of s, on a rune boundary, followed by its full length when cut.
func Cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
