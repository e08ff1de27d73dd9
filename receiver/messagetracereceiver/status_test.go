package messagetracereceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestIsWarningFollowsTheTable: the severity of a record is the warn flag of its status's
// table entry, for every status in the table, in either API's casing once normalised.
func TestIsWarningFollowsTheTable(t *testing.T) {
	for _, s := range deliveryStatuses {
		assert.Equal(t, s.warn, isWarning(s.name), "%s: isWarning disagrees with the table", s.name)
		assert.Equal(t, s.warn, isWarning(normaliseStatus(s.legacy)), "%s (legacy form): isWarning disagrees with the table", s.legacy)
	}
	assert.False(t, isWarning("someFutureStatus"), "a status not in the table is no warning")
	assert.False(t, isWarning(""))
}

// BenchmarkIsWarning is the per-record cost of the severity, for the statuses pages mostly hold.
func BenchmarkIsWarning(b *testing.B) {
	names := []string{"delivered", "expanded", "pending", "failed", "quarantined"}
	n := 0
	for i := 0; b.Loop(); i++ {
		if isWarning(names[i%len(names)]) {
			n++
		}
	}
	_ = n
}

// TestNoStatusHasTheCodeOfARowNeverEmitted: deliver skips the table's scan for a row never
// emitted because no status, known or not, is given statusUnknown's code.
func TestNoStatusHasTheCodeOfARowNeverEmitted(t *testing.T) {
	for _, s := range deliveryStatuses {
		assert.NotEqual(t, uint8(statusUnknown), statusCode(s.name), s.name)
	}
	assert.NotEqual(t, uint8(statusUnknown), statusCode("someFutureStatus"))
	assert.NotEqual(t, uint8(statusUnknown), statusCode(""))
}
