package msgtracetest

import "testing"

// While the tenant lacks the service principal every API request answers the 401 Microsoft
// sends; once it has it, requests answer normally again with the same token.
func TestServicePrincipalMissingUntilProvisioned(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.graphToken(t)
	f.s.SetServicePrincipalMissing(true)
	for range 3 {
		if res := f.get(t, f.graphURL("", 0), tok); res.status != 401 || string(res.body) != spMissingBody {
			t.Fatalf("while missing: %d %s", res.status, res.body)
		}
	}
	f.s.SetServicePrincipalMissing(false)
	if res := f.get(t, f.graphURL("", 0), tok); res.status != 200 {
		t.Fatalf("after provisioning: %d %s", res.status, res.body)
	}
}
