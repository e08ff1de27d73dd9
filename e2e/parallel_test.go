//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Most end-to-end tests spend their time asleep: waiting out a backoff, an outage, a login
// retried a minute later. Run one after another they made `make test` last 11 minutes on the
// 2-core CI machine; run side by side (`make e2e` passes -parallel) the package takes about two.
// So a test that waits calls parallel(t). A test stays serial only when it measures something
// that collectors beside it would change (a rate, a peak RSS), starts a shipped example on its
// default ports (8888, 13133: two at once would fight over them), or is short.
//
// TestMain holds that line: a serial test that ran longer than serialLimit fails the package,
// unless serialOnPurpose says why it must stay serial or it is a soak check (soakTests, which
// make check-soak runs one at a time anyway). The time is taken from a test's first stand-in
// or collector binary to its cleanup, the part that waits.
const serialLimit = 15 * time.Second

var serialOnPurpose = map[string]string{
	"TestDetailsListThroughput":                    "compares the list's rate with details off and on: collectors beside it would change both",
	"TestBodiesWithoutLengthKeepTheCollectorSmall": "measures the collector's peak RSS while the stand-in serves 300 MiB bodies, which loads both cores",
	"TestImageDeliversAndKeepsStateOnItsVolume":    "runs only in make check-release-image, alone",
	"TestDebPackageInstallUpgradeRemovePurge":      "runs only in make check-packages, alone",
	"TestSystemdUnitRunsHardened":                  "runs only in make check-systemd, alone",
}

// testSpans records, per top-level test, whether it runs in parallel and when it waited.
type testSpans struct {
	mu       sync.Mutex
	parallel map[string]bool
	waited   map[string]span
}

type span struct{ first, last time.Time }

var spans = &testSpans{parallel: map[string]bool{}, waited: map[string]span{}}

// parallel marks t as a test that runs beside the others; call it first in the test.
func parallel(t *testing.T) {
	t.Helper()
	spans.mu.Lock()
	spans.parallel[t.Name()] = true
	spans.mu.Unlock()
	t.Parallel()
}

// timed counts the rest of t, up to its cleanup, in its top-level test's span.
func timed(t *testing.T) {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	now := time.Now()
	spans.mu.Lock()
	if w, ok := spans.waited[top]; !ok || now.Before(w.first) {
		w.first = now
		spans.waited[top] = w
	}
	spans.mu.Unlock()
	t.Cleanup(func() {
		end := time.Now()
		spans.mu.Lock()
		if w := spans.waited[top]; end.After(w.last) {
			w.last = end
			spans.waited[top] = w
		}
		spans.mu.Unlock()
	})
}

// serialTooLong names the serial tests that took longer than serialLimit without a reason.
func (s *testSpans) serialTooLong() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var slow []string
	for name, w := range s.waited {
		took := w.last.Sub(w.first)
		if s.parallel[name] || took <= serialLimit || serialOnPurpose[name] != "" || slices.Contains(soakTests, name) {
			continue
		}
		slow = append(slow, fmt.Sprintf("%s ran serially for %v (over %v): call parallel(t) first in it, or say in serialOnPurpose (e2e/parallel_test.go) why it must run alone",
			name, took.Round(time.Second), serialLimit))
	}
	slices.Sort(slow)
	return slow
}

func TestMain(m *testing.M) {
	code := m.Run()
	if slow := spans.serialTooLong(); code == 0 && len(slow) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: end-to-end tests that make `make test` slow:\n  "+strings.Join(slow, "\n  "))
		code = 1
	}
	os.Exit(code)
}

// TestSerialTooLongNamesASlowSerialTest: the guard above fails a long serial test and passes a
// long parallel one, a short serial one and one that says why it runs alone.
func TestSerialTooLongNamesASlowSerialTest(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	s := &testSpans{
		parallel: map[string]bool{"TestWaitsBeside": true},
		waited: map[string]span{
			"TestWaitsAlone":            {t0, t0.Add(40 * time.Second)},
			"TestWaitsBeside":           {t0, t0.Add(80 * time.Second)},
			"TestShort":                 {t0, t0.Add(2 * time.Second)},
			"TestDetailsListThroughput": {t0, t0.Add(30 * time.Second)},
		},
	}
	slow := s.serialTooLong()
	if len(slow) != 1 || !strings.HasPrefix(slow[0], "TestWaitsAlone ran serially for 40s") {
		t.Fatalf("want only TestWaitsAlone named, got %q", slow)
	}
	for name, why := range serialOnPurpose {
		if why == "" {
			t.Errorf("serialOnPurpose[%s] gives no reason", name)
		}
	}
}
