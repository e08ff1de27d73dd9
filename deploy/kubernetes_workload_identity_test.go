package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The workload identity variant carries no Microsoft credential: no secret in any Secret or
// variable, the configuration logs in with the pod's projected service-account token, and the
// pieces Entra's federated credential matches (service account, audience) fit together.
func TestWorkloadIdentityManifestsCarryNoMicrosoftSecret(t *testing.T) {
	m := loadManifestsFrom(t, "kubernetes-workload-identity")
	s, c := theStatefulSet(t, m)
	spec := s.Spec.Template.Spec

	for name := range m.secrets {
		if name != "otelcol-msgtrace-devo" {
			t.Errorf("Secret %s: the variant's only Secret is Devo's X.509 credentials", name)
		}
	}
	for _, e := range c.Env {
		if secretKey(e) != nil {
			t.Errorf("variable %s comes from a Secret", e.Name)
		}
	}
	cfgs := replicaConfigs(t, m, s, c)
	for key, cfg := range cfgs {
		if regexp.MustCompile(`(?m)^\s*client_(secret|certificate):`).MatchString(cfg) {
			t.Errorf("%s sets a client secret or certificate", key)
		}
		if !strings.Contains(cfg, "federated_token_file: ${env:AZURE_FEDERATED_TOKEN_FILE}") {
			t.Errorf("%s does not log in with federated_token_file: ${env:AZURE_FEDERATED_TOKEN_FILE}", key)
		}
	}

	// The pod runs as the annotated service account whose token the app trusts.
	sa, ok := m.serviceAccounts[spec.ServiceAccountName]
	if !ok {
		t.Fatalf("serviceAccountName %q names no ServiceAccount in the variant", spec.ServiceAccountName)
	}
	env := envValues(c)
	if got := sa.Annotations["azure.workload.identity/client-id"]; got == "" || got != env["AZURE_CLIENT_ID"] {
		t.Errorf("ServiceAccount %s annotation azure.workload.identity/client-id %q must be the app's client id AZURE_CLIENT_ID %q", sa.Name, got, env["AZURE_CLIENT_ID"])
	}
	if env["AZURE_TENANT_ID"] == "" {
		t.Error("AZURE_TENANT_ID is not set")
	}

	// The token file is the projected service-account token for Entra's audience.
	file := env["AZURE_FEDERATED_TOKEN_FILE"]
	vol, rest := volumeFor(s, c, file)
	if vol == nil || vol.Projected == nil {
		t.Fatalf("AZURE_FEDERATED_TOKEN_FILE %s is not on a projected volume", file)
	}
	found := false
	for _, src := range vol.Projected.Sources {
		if st := src.ServiceAccountToken; st != nil && st.Path == rest {
			found = true
			if st.Audience != "api://AzureADTokenExchange" {
				t.Errorf("the projected token's audience %q must be api://AzureADTokenExchange (the federated credential's)", st.Audience)
			}
			// The kubelet's minimum is 10 minutes; it renews at 80 % of the lifetime.
			if st.ExpirationSeconds == nil || *st.ExpirationSeconds < 600 {
				t.Error("the projected token's expirationSeconds must be at least 600")
			}
		}
	}
	if !found {
		t.Fatalf("volume %s projects no service-account token at %s", vol.Name, rest)
	}

	// The objects the variant shares with deploy/kubernetes stay the same.
	for _, f := range []string{"service.yaml", "secret-devo.yaml"} {
		a, errA := os.ReadFile(filepath.Join("kubernetes", f))
		b, errB := os.ReadFile(filepath.Join("kubernetes-workload-identity", f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("kubernetes-workload-identity/%s differs from kubernetes/%s; copy it over", f, f)
		}
	}
}
