package otelcolmsgtrace

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap"
)

// shippedConfigs are the configurations users start from: testdata (not the e2e tests' own),
// the examples, the drop-in and demo configurations, deploy/ (the Kubernetes ConfigMap's
// entries included) and every full configuration shown in the docs.
func shippedConfigs(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pattern := range []string{
		"testdata/*.yaml", "testdata/examples/*.yaml", "testdata/dropin/config.yaml",
		"testdata/demo/config.yaml", "deploy/config.yaml",
	} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[f] = b
		}
	}
	cm := readYAML(t, "deploy/kubernetes/configmap.yaml", mustRead(t, "deploy/kubernetes/configmap.yaml"))
	data, _ := cm["data"].(map[string]any)
	if len(data) == 0 {
		t.Fatal("deploy/kubernetes/configmap.yaml holds no data entries")
	}
	for k, v := range data {
		out["deploy/kubernetes/configmap.yaml:"+k] = []byte(v.(string))
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	top := regexp.MustCompile(`(?m)^service:`)
	for _, pattern := range []string{"README.md", "docs/*.md", "receiver/*/README.md", "exporter/*/README.md"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			for i, m := range block.FindAllSubmatch(mustRead(t, f), -1) {
				if top.Match(m[1]) {
					out[f+" yaml block "+string(rune('1'+i))] = m[1]
				}
			}
		}
	}
	return out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readYAML(t *testing.T, name string, b []byte) map[string]any {
	t.Helper()
	r, err := confmap.NewRetrievedFromYAML(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c, err := r.AsConf()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c.ToStringMap()
}

// Issue 20 item 8: file_storage writes without fsync unless told to, and then a power loss or
// a kernel crash can lose or tear the checkpoint and the queued rows that the docs call
// durable. Every file_storage extension of every shipped configuration sets `fsync: true`
// (its cost is measured in BENCHMARKS.md, "Issue 20").
func TestShippedFileStorageFsyncs(t *testing.T) {
	checked := 0
	for name, body := range shippedConfigs(t) {
		cfg := readYAML(t, name, body)
		exts, _ := cfg["extensions"].(map[string]any)
		for id, v := range exts {
			if typ, _, _ := strings.Cut(id, "/"); typ != "file_storage" {
				continue
			}
			checked++
			m, _ := v.(map[string]any)
			if fsync, _ := m["fsync"].(bool); !fsync {
				t.Errorf("%s: extension %s does not set `fsync: true`: a power loss could lose the checkpoint or queued rows stored in it",
					name, id)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d file_storage extensions in the shipped configurations; the extraction is broken", checked)
	}
	t.Logf("%d file_storage extensions checked", checked)
}
