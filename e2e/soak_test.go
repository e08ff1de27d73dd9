//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"
)

// soakTests are the end-to-end checks that take minutes by design (an outage longer than five
// minutes, a throughput measured over minutes). `make test` leaves them to `make check-soak`
// (part of `make check-release`, which CI runs), which sets OTELCOL_MSGTRACE_SOAK=1 and runs
// exactly these; TestSoakListMatchesCheckSoak keeps the list and the Makefile's in step.
var soakTests = []string{
	"TestDevoOutageLongerThanFiveMinutesWithCrash",
	"TestDetailsListThroughputWhileDetailsRun",
}

// soak skips a soak check unless OTELCOL_MSGTRACE_SOAK=1 (make check-soak).
func soak(t *testing.T) {
	t.Helper()
	if os.Getenv("OTELCOL_MSGTRACE_SOAK") != "1" {
		t.Skip("a soak check of minutes: make check-soak (part of make check-release) runs it")
	}
}

// TestSoakListMatchesCheckSoak: the Makefile's check-soak runs the tests soakTests names (and
// check-soak fails unless each of them passed), so a soak check is never skipped everywhere.
func TestSoakListMatchesCheckSoak(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	want := "SOAK_TESTS  := " + strings.Join(soakTests, " ")
	if !strings.Contains(string(mk), want+"\n") {
		t.Fatalf("the Makefile must say %q (the soak checks of e2e/soak_test.go)", want)
	}
}
