package details

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPendingDetailsBoundsAndRemove(t *testing.T) {
	s := NewSet(3, 1<<20)
	mk := func(id, rcpt string) Row {
		return Row{TraceID: id, Recipient: rcpt, Status: "failed"}
	}
	a := mk("9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4", "JÜRGEN@contoso.com")
	added, full := s.add(a)
	assert.True(t, added)
	assert.False(t, full)
	added, _ = s.add(mk(a.TraceID, "jürgen@contoso.com"))
	assert.False(t, added, "the same row (recipient case aside) waits once")
	s.add(mk("9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c5", "b@x"))
	s.add(mk("9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c6", "c@x"))
	_, full = s.add(mk("9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c7", "d@x"))
	assert.True(t, full, "max_pending")
	s.remove(a.Key())
	assert.Len(t, s.entries, 2, "a non-ASCII recipient is found again")
	assert.Equal(t, s.entries[0].bytes()+s.entries[1].bytes(), s.bytes)

	small := NewSet(100, 2*pendingOverhead+100)
	small.add(a)
	_, full = small.add(mk("9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c5", strings.Repeat("x", 200)+"@x"))
	assert.True(t, full, "max_pending_bytes")

	assert.NotEmpty(t, (&Row{TraceID: "../../x", Recipient: "a@b"}).check())
	assert.NotEmpty(t, (&Row{TraceID: a.TraceID, Recipient: "a\r\n@b"}).check())
	assert.Empty(t, a.check())
}
