package otelcolmsgtrace

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// troubleshootingDoc is the table operators look messages up in.
const troubleshootingDoc = "docs/troubleshooting.md"

// componentDirs are the packages whose messages the table must hold (the receiver's details
// log from their own package).
var componentDirs = []string{"receiver/messagetracereceiver", "receiver/messagetracereceiver/internal/details", "exporter/devoexporter"}

// codeMessage is one message the code can log, in the table's form: every part the code fills
// in at run time (a %v, a variable) is "...".
type codeMessage struct {
	text  string
	where string // file:line and what kind of message it is
}

var verb = regexp.MustCompile(`%[-+# 0-9.*]*[a-zA-Z]`)

// messageSources finds, with go/ast, every message of the components that reaches an operator:
//   - the first argument of a Warn or Error call on a zap logger (x.Logger.Warn, x.logger.Error);
//   - the text of a setupError (logged as "message trace setup problem" with the fix);
//   - the fix of each AADSTS code in aadstsFixes (logged as "login refused (AADSTS... ...): fix");
//   - the risk of each riskWarning (the exporter's start-up warnings, field `risk`);
//   - what weakSettings returns (logged as "insecure setting: ...").
//
// Configuration errors from Validate are not listed one by one: the collector prints them at
// start-up with the key and the fix in the text, and the table has one row for all of them.
func messageSources(t *testing.T) []codeMessage {
	t.Helper()
	var out []codeMessage
	for _, dir := range componentDirs {
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		parsed := map[string]*ast.File{}
		consts := map[string]string{}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed[f] = af
			for _, d := range af.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, s := range g.Specs {
						vs := s.(*ast.ValueSpec)
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
									consts[n.Name], _ = strconv.Unquote(lit.Value)
								}
							}
						}
					}
				}
			}
		}
		for f, af := range parsed {
			at := func(n ast.Node, kind string) string {
				p := fset.Position(n.Pos())
				return fmt.Sprintf("%s:%d (%s)", filepath.ToSlash(f), p.Line, kind)
			}
			add := func(e ast.Expr, kind string) {
				if s := render(e, consts); strings.Trim(s, ". ") != "" {
					out = append(out, codeMessage{text: s, where: at(e, kind)})
				}
			}
			ast.Inspect(af, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Warn" || sel.Sel.Name == "Error") && isLogger(sel.X) && len(n.Args) > 0 {
						add(n.Args[0], "Logger."+sel.Sel.Name)
					}
				case *ast.CompositeLit:
					switch typeName(n.Type) {
					case "setupError":
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "msg" {
								add(kv.Value, "setupError")
							}
						}
					case "riskWarning":
						if len(n.Elts) == 2 {
							add(n.Elts[1], "riskWarning")
						}
					}
				case *ast.ValueSpec:
					if len(n.Names) == 1 && n.Names[0].Name == "aadstsFixes" && len(n.Values) == 1 {
						for _, el := range n.Values[0].(*ast.CompositeLit).Elts {
							kv := el.(*ast.KeyValueExpr)
							code, _ := strconv.Unquote(kv.Key.(*ast.BasicLit).Value)
							fix := render(kv.Value, consts)
							out = append(out, codeMessage{text: "login refused (" + code + " ...): " + fix, where: at(kv, "aadstsFixes")})
						}
					}
				case *ast.FuncDecl:
					if n.Name.Name == "weakSettings" {
						ast.Inspect(n.Body, func(m ast.Node) bool {
							if c, ok := m.(*ast.CallExpr); ok && fmt.Sprint(c.Fun) == "append" && len(c.Args) == 2 {
								if s := render(c.Args[1], consts); s != "..." {
									out = append(out, codeMessage{text: "insecure setting: " + s, where: at(c, "weakSettings")})
								}
							}
							return true
						})
					}
				}
				return true
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

// isLogger says whether x is a zap logger by its name: r.set.Logger, c.logger, logger.
func isLogger(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name == "logger" || x.Name == "Logger"
	case *ast.SelectorExpr:
		return x.Sel.Name == "logger" || x.Sel.Name == "Logger"
	}
	return false
}

func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

// render writes a string expression in the table's form: literals and constants as they are,
// format verbs and anything computed as "...".
func render(e ast.Expr, consts map[string]string) string {
	var b strings.Builder
	var walk func(ast.Expr)
	walk = func(e ast.Expr) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, _ := strconv.Unquote(e.Value)
				b.WriteString(s)
				return
			}
		case *ast.ParenExpr:
			walk(e.X)
			return
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				walk(e.X)
				walk(e.Y)
				return
			}
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				b.WriteString(v)
				return
			}
		case *ast.CallExpr:
			if fmt.Sprint(e.Fun) == "&{fmt Sprintf}" && len(e.Args) > 0 {
				var f strings.Builder
				f.WriteString(render(e.Args[0], consts))
				b.WriteString(strings.ReplaceAll(verb.ReplaceAllString(strings.ReplaceAll(f.String(), "%%", "\x00"), "..."), "\x00", "%"))
				return
			}
		}
		b.WriteString("...")
	}
	walk(e)
	return collapse(b.String())
}

// collapse merges runs of "..." the rendering produced next to each other.
func collapse(s string) string {
	for strings.Contains(s, "......") {
		s = strings.ReplaceAll(s, "......", "...")
	}
	return s
}

// tableMessages reads the first cell of every row of the troubleshooting tables: the message
// as it appears, in backticks (double backticks when it holds one), "..." for what varies.
func tableMessages(t *testing.T) map[string]int {
	t.Helper()
	raw, err := os.ReadFile(troubleshootingDoc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for i, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.TrimSpace(strings.SplitN(line[1:], " | ", 2)[0])
		if strings.HasPrefix(cell, "`` ") {
			cell = strings.TrimSuffix(strings.TrimPrefix(cell, "`` "), " ``")
		} else {
			cell = strings.Trim(cell, "`")
		}
		out[cell] = i + 1
	}
	return out
}

// Every message the two components can show an operator has a row in the troubleshooting
// table, and every row is a message the code still has. A failure names the message and where
// it is, so a branch that adds or rewords one can add its row in a minute.
func TestTroubleshootingTableMatchesCode(t *testing.T) {
	code := messageSources(t)
	table := tableMessages(t)
	if len(code) < 40 || len(table) < 40 {
		t.Fatalf("found %d messages in the code and %d rows in %s; the extraction is broken", len(code), len(table), troubleshootingDoc)
	}
	inCode := map[string]bool{}
	for _, m := range code {
		inCode[m.text] = true
		if _, ok := table[m.text]; !ok {
			t.Errorf("%s: message missing from %s; add a row:\n| `` %s `` | cause | fix |", m.where, troubleshootingDoc, m.text)
		}
	}
	for msg, line := range table {
		if !inCode[msg] {
			t.Errorf("%s:%d: the table's message `` %s `` is not in the code any more (reworded or removed?); fix or drop the row", troubleshootingDoc, line, msg)
		}
	}
}

// The extraction itself: a message of each kind is found in the form the table uses.
func TestMessageSourcesFindEachKind(t *testing.T) {
	want := map[string]string{
		"Logger.Warn":  "no `storage` configured: the checkpoint is kept in memory only, so a restart re-reads from initial_lookback and emits those rows again; set storage: file_storage to keep it",
		"Logger.Error": "message trace setup problem: fix the configuration or tenant; retrying",
		"setupError":   "Graph answered 403 (...): grant the app the application permission ExchangeMessageTrace.Read.All and admin consent",
		"aadstsFixes":  "login refused (AADSTS7000215 ...): the client secret is wrong; set client_secret to the secret's Value (not its Secret ID)",
		"riskWarning":  "a push is given up after ... of failed retries: during a longer Devo outage its rows are dropped unless the sender waits for the result and offers them again",
		"weakSettings": "insecure setting: tls.insecure_skip_verify: true: the server certificate is not checked, so anyone on the path can read the client secret and bearer tokens",
	}
	found := map[string]bool{}
	for _, m := range messageSources(t) {
		for kind, text := range want {
			if strings.HasSuffix(m.where, "("+kind+")") && m.text == text {
				found[kind] = true
			}
		}
	}
	for kind, text := range want {
		if !found[kind] {
			t.Errorf("%s %q not extracted", kind, text)
		}
	}
}

// TestPrintMessages lists the extracted messages (go test -run TestPrintMessages -v) to start
// a row from.
func TestPrintMessages(t *testing.T) {
	if os.Getenv("PRINT_MESSAGES") == "" {
		t.Skip("set PRINT_MESSAGES=1")
	}
	for _, m := range messageSources(t) {
		fmt.Printf("%s\t%s\n", m.where, m.text)
	}
}

// generatedMetricDocs are the mdatagen pages that list each component's own metrics.
var generatedMetricDocs = []string{"receiver/messagetracereceiver/documentation.md", "exporter/devoexporter/documentation.md"}

// collectorMetrics are the collector's own metrics (receiverhelper, exporterhelper, process)
// that the docs may name besides the components' generated ones.
var collectorMetrics = map[string]bool{
	"otelcol_receiver_accepted_log_records":       true,
	"otelcol_receiver_refused_log_records":        true,
	"otelcol_exporter_sent_log_records":           true,
	"otelcol_exporter_send_failed_log_records":    true,
	"otelcol_exporter_enqueue_failed_log_records": true,
	"otelcol_exporter_queue_size":                 true,
	"otelcol_exporter_queue_capacity":             true,
	"otelcol_process_memory_rss":                  true,
	"otelcol_process_runtime_heap_alloc_bytes":    true,
	"otelcol_process_cpu_seconds":                 true,
}

var metricName = regexp.MustCompile(`otelcol_[a-z0-9_]+`)

// generatedMetrics reads the metric headings of the generated documentation.md files.
func generatedMetrics(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, path := range generatedMetricDocs {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if name, ok := strings.CutPrefix(line, "### "); ok && metricName.MatchString(name) {
				out[strings.TrimSpace(name)] = path
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found %d metrics in %v; the extraction is broken", len(out), generatedMetricDocs)
	}
	return out
}

// metricDocs are the pages operators read metric names in.
func metricDocs(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(docs, "README.md", "receiver/messagetracereceiver/README.md", "exporter/devoexporter/README.md")
}

// Every metric name the docs and READMEs show exists (in a generated documentation.md, or is
// one of the collector's own), and every generated metric is explained in docs/operations.md:
// a renamed metric cannot leave an alert in the docs pointing at nothing.
func TestDocsNameOnlyExistingMetrics(t *testing.T) {
	generated := generatedMetrics(t)
	for _, path := range metricDocs(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			for _, name := range metricName.FindAllString(line, -1) {
				if _, ok := generated[name]; !ok && !collectorMetrics[name] {
					t.Errorf("%s:%d: metric %s exists in no generated documentation.md (%v) and is not one of the collector's own", path, i+1, name, generatedMetricDocs)
				}
			}
		}
	}
	ops, err := os.ReadFile("docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, from := range generated {
		if !regexp.MustCompile("`" + name + "`").Match(ops) {
			t.Errorf("metric %s (%s) is not explained in docs/operations.md", name, from)
		}
	}
}

// The retention the docs state is the one the code enforces: Graph reads 90 days back, the
// Reporting Web Service 10.
func TestDocsStateEachAPIsRetention(t *testing.T) {
	raw, err := os.ReadFile(troubleshootingDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	if strings.Contains(doc, "10 days Graph") || strings.Contains(doc, "90 days legacy") {
		t.Errorf("%s swaps the retention: Graph keeps 90 days, the Reporting Web Service 10 (api.go maxLookback)", troubleshootingDoc)
	}
	if !strings.Contains(doc, "90 days Graph, 10 days legacy") {
		t.Errorf("%s does not state the retention as 90 days Graph, 10 days legacy", troubleshootingDoc)
	}
}
