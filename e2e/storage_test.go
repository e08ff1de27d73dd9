//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/boltcheck"
	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// Issue 20: a damaged storage file costs its own tenant at most. Three tenants in one collector;
// tenant_a's file is cut short while the collector is stopped, tenant_b's is
// overwritten from byte 8,192 while it runs. The collector keeps running, both damaged files
// are moved aside with an error naming them, every row of every tenant arrives exactly once
// (tenant_a from its state copy, tenant_b from its state in memory), and tenant_c never notices.
func TestDamagedStorageFileCostsOnlyItsTenant(t *testing.T) {
	parallel(t)
	e := newEnv(t, msgtracetest.Options{QuotaRequests: -1}, devotest.Options{})
	second := startTenant(t, 21)
	third := startTenant(t, 22)
	src, src2, src3 := rows(20, 300), rows(21, 300), rows(22, 300)
	e.st.Tenant.AddRows(src...)
	second.Tenant.AddRows(src2...)
	third.Tenant.AddRows(src3...)
	e.extra = append(e.extra,
		"MSGTRACE2_URL="+second.Tenant.URL(), "MSGTRACE2_CA="+second.TenantCA, "MSGTRACE2_TENANT="+second.Tenant.Options().TenantID,
		"MSGTRACE2_CLIENT_ID="+second.Tenant.Options().ClientID, "MSGTRACE2_SECRET="+second.Secret,
		"MSGTRACE3_URL="+third.Tenant.URL(), "MSGTRACE3_CA="+third.TenantCA, "MSGTRACE3_TENANT="+third.Tenant.Options().TenantID,
		"MSGTRACE3_CLIENT_ID="+third.Tenant.Options().ClientID, "MSGTRACE3_SECRET="+third.Secret,
	)
	all := append(append(stack.Keys(src), stack.Keys(src2)...), stack.Keys(src3)...)
	c := e.run("three-tenants.yaml")
	e.waitDelivered(c, all, 2*time.Minute)
	e.settle(time.Second)
	if err := c.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	state := filepath.Join(e.st.Dir, "state")
	fileA := filepath.Join(state, "receiver_office365_message_trace_tenant_a")
	fileB := filepath.Join(state, "receiver_office365_message_trace_tenant_b")
	// Issue 20's cut, at 10,000 bytes; if it left every page in use (bbolt would then use the
	// file as it is, which the check accepts), the cut after the meta pages, which never does.
	if err := os.Truncate(fileA, 10000); err != nil {
		t.Fatal(err)
	}
	if boltcheck.Verify(fileA) == nil {
		t.Log("the cut at 10,000 bytes left every page in use; cutting after the meta pages")
		if err := os.Truncate(fileA, int64(2*os.Getpagesize())); err != nil {
			t.Fatal(err)
		}
	}
	before := e.st.Sink.EventCount()
	c = e.run("three-tenants.yaml")
	waitLogLine(t, c, "the storage file is damaged: moved aside", fileA, 30*time.Second)
	// tenant_a resumed from its copy: new rows arrive, nothing old is sent again.
	fresh := func(seed int64) []msgtracetest.Row {
		return msgtracetest.Generate(seed, 30, time.Now().Add(-5*time.Second), time.Now().Add(-time.Second),
			msgtracetest.GenerateOptions{MinRecipients: 1, MaxRecipients: 3})
	}
	moreA := fresh(23)
	e.st.Tenant.AddRows(moreA...)
	all = append(all, stack.Keys(moreA)...)
	e.waitDelivered(c, all, time.Minute)
	e.settle(time.Second)
	if n := e.st.Sink.EventCount() - before; n != len(stack.Keys(moreA)) {
		t.Fatalf("after the restore %d events arrived, want the %d new rows only", n, len(stack.Keys(moreA)))
	}

	// tenant_b's file is overwritten while the collector runs; its next save finds it.
	raw, err := os.ReadFile(fileB)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(fileB, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("\xa5\x5a", (len(raw)-8192)/2+1))[:len(raw)-8192]
	if _, err := f.WriteAt(junk, 8192); err != nil {
		t.Fatal(err)
	}
	f.Close()
	moreB, moreC := fresh(24), fresh(25)
	second.Tenant.AddRows(moreB...)
	third.Tenant.AddRows(moreC...)
	all = append(append(all, stack.Keys(moreB)...), stack.Keys(moreC)...)
	waitLogLine(t, c, "the storage file is damaged: moved aside", fileB, time.Minute)
	got := e.deliverAll(c, all, time.Minute, false)
	if c.Exited() {
		t.Fatalf("the collector exited: %v", c.ExitErr())
	}
	for _, p := range []string{fileA, fileB} {
		if m, _ := filepath.Glob(p + ".damaged-*"); len(m) != 1 {
			t.Errorf("%s: moved aside %d times, want once", p, len(m))
		}
	}
	// And a restart resumes every tenant from its new file.
	e.restartSendsNothing(c, "three-tenants.yaml", second.Tenant, third.Tenant)
	t.Logf("FIGURES %s: rows=%d", t.Name(), len(got))
}

// waitLogLine waits until the collector logged a line holding msg and detail.
func waitLogLine(t *testing.T, c *stack.Collector, msg, detail string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(c.Output(), "\n") {
			if strings.Contains(line, msg) && strings.Contains(line, detail) {
				return
			}
		}
		if c.Exited() {
			t.Fatalf("the collector exited (%v) before logging %q", c.ExitErr(), msg)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q naming %s within %v", msg, detail, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
