package msgtracetest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAddRowsBatchesKeepOrder(t *testing.T) {
	f := newFixture(t, Options{})
	rows := Generate(4, 600, t0.Add(-time.Hour), t0, GenerateOptions{})
	for i := 0; i < len(rows); i += 37 {
		f.s.AddRows(rows[i:min(i+37, len(rows))]...)
	}
	// Replacing a row (same id, recipient in other case) moves it when Received changes.
	moved := rows[10]
	moved.Recipient = strings.ToUpper(moved.Recipient)
	moved.Received = t0.Add(-time.Millisecond)
	f.s.AddRows(moved)

	got := f.s.Rows()
	if len(got) != len(rows) {
		t.Fatalf("Rows() = %d rows; want %d (replacement must not add)", len(got), len(rows))
	}
	if got[0].ID != moved.ID || got[0].Recipient != moved.Recipient {
		t.Fatalf("replaced row not first: %+v", got[0])
	}
	if !slices.IsSortedFunc(got, func(a, b Row) int {
		return cmpKeys(a.Received, rowKey{a.ID, strings.ToLower(a.Recipient)}, b.Received, rowKey{b.ID, strings.ToLower(b.Recipient)})
	}) {
		t.Fatal("Rows() not newest-first")
	}
	if f.s.SetStatus("nope", "x", StatusFailed) {
		t.Fatal("SetStatus on a missing row reported true")
	}
}
