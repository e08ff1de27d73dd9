//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docsWithExamples are the Markdown files whose yaml blocks users copy.
var docsWithExamples = []string{
	"README.md", "docs/*.md", "receiver/messagetracereceiver/README.md", "exporter/devoexporter/README.md",
}

var (
	yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")
	envRef    = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)
	topKey    = regexp.MustCompile(`(?m)^(service|receivers|exporters):`)
)

// Every full configuration shown in the docs (a yaml block with service: and receivers: or
// exporters: at the top level) validates with the built binary, started as deploy/ starts it.
// Fragments (a receiver's keys alone) are checked by the reference-table test instead.
func TestDocExamplesValidate(t *testing.T) {
	n := 0
	for _, pattern := range docsWithExamples {
		files, err := filepath.Glob(filepath.Join("..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range yamlBlock.FindAllSubmatchIndex(raw, -1) {
				block := string(raw[m[2]:m[3]])
				keys := map[string]bool{}
				for _, k := range topKey.FindAllStringSubmatch(block, -1) {
					keys[k[1]] = true
				}
				if !keys["service"] || (!keys["receivers"] && !keys["exporters"]) {
					continue
				}
				n++
				line := 1 + strings.Count(string(raw[:m[0]]), "\n")
				name, _ := filepath.Rel("..", f)
				t.Run(filepath.ToSlash(name)+":"+strconv.Itoa(line), func(t *testing.T) {
					validateExample(t, block)
				})
			}
		}
	}
	if n < 3 {
		t.Fatalf("found %d full configurations in the docs; the extraction is broken", n)
	}
}

// validateExample runs `validate` on one block; environment variables it reads without a
// default get a placeholder, as a user's environment would hold the real value.
func validateExample(t *testing.T, block string) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(f, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	env := os.Environ()
	for _, m := range envRef.FindAllStringSubmatch(block, -1) {
		if m[2] == "" {
			env = append(env, m[1]+"=placeholder")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "validate", "--config", f, healthGate)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("validate: %v\n%s\n--- the example:\n%s", err, out, block)
	}
}
