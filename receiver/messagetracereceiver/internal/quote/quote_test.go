package quote

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestCutKeepsRunesWholeAndSaysTheLength(t *testing.T) {
	assert.Equal(t, "short", Value("short"))
	long := strings.Repeat("é", 100) // 200 bytes
	got := Value(long)
	assert.True(t, utf8.ValidString(got))
	assert.Equal(t, strings.Repeat("é", 32)+"…(200 bytes)", got)
	assert.Equal(t, strings.Repeat("x", TextLimit), Text(strings.Repeat("x", TextLimit)), "at the limit nothing is cut")
	assert.Equal(t, "ab…(5 bytes)", Cut("ab€", 3), "a rune cut in the middle is dropped whole")
}
