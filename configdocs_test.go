package otelcolmsgtrace

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"
)

// configKeys walks a configuration type by its mapstructure tags, squashed structs merged into
// their parent, configoptional.Optional[T] read as T. It returns every key path ("a.b.c") and,
// for each, whether its type is a struct defined outside this module (a standard group such as
// `tls` or `sending_queue`, which a README may document as a whole).
func configKeys(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if strings.HasPrefix(t.Name(), "Optional[") {
			if get, ok := reflect.PointerTo(t).MethodByName("Get"); ok {
				// configoptional reads an `enabled` key of its own.
				out[prefix+"enabled"] = false
				walk(get.Type.Out(0), prefix)
				return
			}
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || (!f.IsExported() && !strings.Contains(opts, "squash")) {
				continue
			}
			if strings.Contains(opts, "squash") {
				walk(f.Type, prefix)
				continue
			}
			if name == "" {
				continue
			}
			path := prefix + name
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			out[path] = ft.Kind() == reflect.Struct && !strings.HasPrefix(ft.PkgPath(), "github.com/msgtrace/")
			walk(f.Type, path+".")
		}
	}
	walk(t, "")
	return out
}

var backticked = regexp.MustCompile("`([^`]+)`")

// keyTableHeadings are the README sections whose tables document configuration keys: the few a
// user must set first, then the tuning keys.
var keyTableHeadings = map[string]bool{"## Keys you set": true, "## Tuning keys": true}

// readmeKeys reads the configuration reference tables of a component README: the rows after
// the headings "## Keys you set" and "## Tuning keys" whose first cell names keys in backticks.
// "`a.b`, `.c`" names a.b and a.c; "`a::b`" is a.b.
func readmeKeys(t *testing.T, path string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for heading := range keyTableHeadings {
		for k, line := range sectionKeys(t, path, heading) {
			if first, dup := out[k]; dup {
				t.Errorf("%s:%d documents `%s` again (first at line %d): one table per key", path, line, k, first)
			}
			out[k] = line
		}
	}
	return out
}

// sectionKeys reads the keys named in the first cells of the table rows under heading.
func sectionKeys(t *testing.T, path, heading string) map[string]int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	section := false
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line == heading
			continue
		}
		if !section || !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.SplitN(line[1:], " | ", 2)[0]
		parent := ""
		for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
			k := strings.ReplaceAll(m[1], "::", ".")
			if strings.HasPrefix(k, ".") {
				k = parent + k[1:]
			} else if j := strings.LastIndex(k, "."); j >= 0 {
				parent = k[:j+1]
			} else {
				parent = ""
			}
			out[k] = i + 1
		}
	}
	return out
}

// Every key the reference tables of the component READMEs name exists in the configuration
// structs, and every key of the structs is in the table: itself, or a standard group from
// another module (`tls`, `sending_queue`) that the table documents as a whole. A failure names
// the key and the README line.
func TestReadmeConfigTablesMatchConfigStructs(t *testing.T) {
	for _, c := range []struct {
		readme string
		cfg    component.Config
	}{
		{"receiver/messagetracereceiver/README.md", messagetracereceiver.NewFactory().CreateDefaultConfig()},
		{"exporter/devoexporter/README.md", devoexporter.NewFactory().CreateDefaultConfig()},
	} {
		code := configKeys(reflect.TypeOf(c.cfg))
		doc := readmeKeys(t, c.readme)
		if len(code) < 15 || len(doc) < 15 {
			t.Fatalf("%s: %d keys in the code, %d in the README table; the parsing is broken", c.readme, len(code), len(doc))
		}
		for k, line := range doc {
			if _, ok := code[k]; !ok {
				t.Errorf("%s:%d names `%s`, which the configuration does not have; fix or drop it", c.readme, line, k)
			}
		}
		var missing []string
		for k := range code {
			if _, ok := doc[k]; ok || documentedGroup(k, doc, code) || hasDocumentedChild(k, doc) {
				continue
			}
			missing = append(missing, k)
		}
		sort.Strings(missing)
		for _, k := range missing {
			t.Errorf("%s: the configuration has `%s`, which its reference table does not name; add a row (or name its group)", c.readme, k)
		}
	}
}

// documentedGroup says whether an ancestor of key is a standard group the table names.
func documentedGroup(key string, doc map[string]int, code map[string]bool) bool {
	for i := strings.LastIndex(key, "."); i > 0; i = strings.LastIndex(key[:i], ".") {
		if _, ok := doc[key[:i]]; ok && code[key[:i]] {
			return true
		}
	}
	return false
}

// hasDocumentedChild says whether the table names a key below key (`request_budget.requests`
// documents `request_budget`).
func hasDocumentedChild(key string, doc map[string]int) bool {
	for k := range doc {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// fullConfigPatterns are the configurations users copy whole: examples, deploy/ and the drop-in's.
var fullConfigPatterns = []string{"testdata/minimal.yaml", "testdata/examples/*.yaml", "testdata/dropin/config.yaml", "deploy/config.yaml", "deploy/kubernetes/configmap.yaml"}

var (
	receiverHeading = regexp.MustCompile(`(?m)^\s+office365_message_trace(/\S+)?:\s*$`)
	legacyNamesOn   = regexp.MustCompile(`(?m)^\s+legacy_field_names:\s*true\b`)
	yamlFence       = regexp.MustCompile("(?s)```yaml\n(.*?)```")
)

// Every configuration we ship or show whole that sends to Devo's message trace table sets
// legacy_field_names: true on each of its receivers: the table's parser reads only the
// Reporting Web Service names, and with Graph's its columns stay empty.
func TestShippedConfigsFillDevoMessageTraceColumns(t *testing.T) {
	type config struct{ where, body string }
	var configs []config
	for _, pattern := range fullConfigPatterns {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			configs = append(configs, config{f, string(raw)})
		}
	}
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(docs, "README.md", "receiver/messagetracereceiver/README.md", "exporter/devoexporter/README.md") {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range yamlFence.FindAllSubmatchIndex(raw, -1) {
			configs = append(configs, config{fmt.Sprintf("%s:%d", f, 1+strings.Count(string(raw[:m[0]]), "\n")), string(raw[m[2]:m[3]])})
		}
	}
	checked := 0
	for _, c := range configs {
		if !strings.Contains(c.body, "cloud.office365.messagetracing") {
			continue
		}
		receivers := len(receiverHeading.FindAllString(c.body, -1))
		if receivers == 0 {
			continue
		}
		checked++
		if on := len(legacyNamesOn.FindAllString(c.body, -1)); on < receivers {
			t.Errorf("%s sends to cloud.office365.messagetracing with %d office365_message_trace receivers but legacy_field_names: true on %d: set it on each, or Devo's table columns stay empty", c.where, receivers, on)
		}
	}
	if checked < 8 {
		t.Fatalf("checked %d configurations; the search is broken", checked)
	}
}

// Each component README opens with the keys a user must set, a handful, and a complete example
// that sets each of them; the tuning keys follow in their own table.
func TestReadmesOpenWithKeysYouSet(t *testing.T) {
	for _, c := range []struct {
		readme string
		must   []string
	}{
		{"receiver/messagetracereceiver/README.md", []string{"tenant_id", "client_id", "client_secret", "storage", "legacy_field_names"}},
		{"exporter/devoexporter/README.md", []string{"endpoint", "tag", "tls"}},
	} {
		raw, err := os.ReadFile(c.readme)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(raw)
		var headings []string
		for _, line := range strings.Split(doc, "\n") {
			if strings.HasPrefix(line, "## ") {
				headings = append(headings, line)
			}
		}
		if len(headings) < 2 || headings[0] != "## Keys you set" || headings[1] != "## Tuning keys" {
			t.Errorf("%s: the first sections are %q, want \"## Keys you set\" then \"## Tuning keys\"", c.readme, headings[:min(2, len(headings))])
			continue
		}
		mustKeys := sectionKeys(t, c.readme, "## Keys you set")
		if len(mustKeys) > 8 {
			t.Errorf("%s: %d keys under \"Keys you set\"; it is for the few a user must set", c.readme, len(mustKeys))
		}
		for _, k := range c.must {
			if _, ok := mustKeys[k]; !ok {
				t.Errorf("%s: `%s` is not under \"Keys you set\"", c.readme, k)
			}
		}
		section := doc[strings.Index(doc, "## Keys you set"):strings.Index(doc, "## Tuning keys")]
		block := yamlFence.FindStringSubmatch(section)
		if block == nil {
			t.Errorf("%s: no example under \"Keys you set\"", c.readme)
			continue
		}
		for _, top := range []string{"receivers:", "exporters:", "service:"} {
			if !regexp.MustCompile("(?m)^" + top).MatchString(block[1]) {
				t.Errorf("%s: the example under \"Keys you set\" is not a complete configuration: no %s", c.readme, top)
			}
		}
		for _, k := range c.must {
			if !regexp.MustCompile(`(?m)^\s+` + k + `:`).MatchString(block[1]) {
				t.Errorf("%s: the example under \"Keys you set\" does not set %s", c.readme, k)
			}
		}
	}
}
