// Command structure prints the structural figures issue 22 asks for about the receiver, so that
// before and after a restructuring are counted the same way: the fields and methods of one
// struct, the largest functions, the file pairs that use each other, the non-test lines, and what
// following one poll's context through the call graph visits and how often it climbs back up.
//
// Usage (from the repository root):
//
//	go run -C tools/structure . -dir ../../receiver/messagetracereceiver \
//	    -type messageTraceReceiver -from '(*messageTraceReceiver).poll'
//
// Uses: an identifier in file A that resolves (go/types) to a package-level object or method
// declared in another non-test file B of the module's packages counts as A using B. The poll
// walk follows the static call graph (VTA: calls through interfaces and func values go where
// such values can flow) from -from, through functions of the module that take a
// context.Context. Two counts of climbing back up: calls into a file already on the current
// call path (a cycle between files), and steps of the reading order (each file entered, and the
// caller's file again after a call into another file returns) that go back to a file read before.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/callgraph/cha"
	"golang.org/x/tools/go/callgraph/vta"
	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
)

func main() {
	dir := flag.String("dir", ".", "module directory of the receiver")
	typeName := flag.String("type", "messageTraceReceiver", "struct to count fields and methods of")
	from := flag.String("from", "(*messageTraceReceiver).poll", "function the poll walk starts at (as ssa prints it, without the package path)")
	top := flag.Int("top", 8, "how many of the largest functions to list")
	flag.BoolVar(&trace, "trace", false, "print the poll walk")
	flag.BoolVar(&ctxOnly, "ctx", true, "follow only functions that take a context.Context (false: every function of the module)")
	flag.Parse()
	if err := run(*dir, *typeName, *from, *top); err != nil {
		fmt.Fprintln(os.Stderr, "structure:", err)
		os.Exit(1)
	}
}

func run(dir, typeName, from string, top int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedCompiledGoFiles | packages.NeedSyntax | packages.NeedTypes |
			packages.NeedTypesInfo | packages.NeedDeps | packages.NeedImports | packages.NeedModule,
		Dir: abs,
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		return err
	}
	var own []*packages.Package
	for _, p := range pkgs {
		if len(p.Errors) > 0 {
			return fmt.Errorf("%s: %v", p.PkgPath, p.Errors[0])
		}
		if strings.Contains(p.PkgPath, "/metadatatest") || strings.HasSuffix(p.PkgPath, "test") {
			continue // test support packages
		}
		own = append(own, p)
	}
	rel := func(f string) string {
		r, err := filepath.Rel(abs, f)
		if err != nil {
			return f
		}
		return r
	}
	production := func(f string) bool {
		return !strings.HasSuffix(f, "_test.go") && !strings.HasPrefix(filepath.Base(f), "generated_")
	}

	// Struct fields and methods.
	for _, p := range own {
		obj := p.Types.Scope().Lookup(typeName)
		if obj == nil {
			continue
		}
		named, ok := obj.Type().(*types.Named)
		if !ok {
			continue
		}
		st, ok := named.Underlying().(*types.Struct)
		if !ok {
			continue
		}
		files := map[string]bool{}
		for i := 0; i < named.NumMethods(); i++ {
			files[filepath.Base(p.Fset.Position(named.Method(i).Pos()).Filename)] = true
		}
		fmt.Printf("struct %s.%s: %d fields, %d methods in %d files\n", p.Name, typeName, st.NumFields(), named.NumMethods(), len(files))
	}

	// Largest functions and production lines.
	type fn struct {
		name  string
		lines int
	}
	var fns []fn
	lines, files := 0, 0
	for _, p := range own {
		for i, f := range p.Syntax {
			name := p.CompiledGoFiles[i]
			if !production(name) {
				continue
			}
			if ast.IsGenerated(f) {
				continue
			}
			files++
			lines += p.Fset.Position(f.End()).Line
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				n := p.Fset.Position(fd.End()).Line - p.Fset.Position(fd.Pos()).Line + 1
				fns = append(fns, fn{funcName(p, fd), n})
			}
		}
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].lines > fns[j].lines })
	fmt.Printf("production: %d files, %d lines (no _test.go, no generated code)\n", files, lines)
	fmt.Printf("largest functions:")
	for i := 0; i < top && i < len(fns); i++ {
		fmt.Printf(" %s %d;", fns[i].name, fns[i].lines)
	}
	fmt.Println()

	// File uses.
	ownPkg := map[*types.Package]bool{}
	for _, p := range own {
		ownPkg[p.Types] = true
	}
	fset := own[0].Fset
	uses := map[[2]string]bool{}
	for _, p := range own {
		for i, f := range p.Syntax {
			name := p.CompiledGoFiles[i]
			if !production(name) || ast.IsGenerated(f) {
				continue
			}
			a := rel(name)
			ast.Inspect(f, func(n ast.Node) bool {
				id, ok := n.(*ast.Ident)
				if !ok {
					return true
				}
				obj := p.TypesInfo.Uses[id]
				if obj == nil || obj.Pkg() == nil || !ownPkg[obj.Pkg()] {
					return true
				}
				if v, ok := obj.(*types.Var); ok && (v.IsField() || !isPackageLevel(v)) {
					return true
				}
				if _, ok := obj.(*types.PkgName); ok {
					return true
				}
				if _, ok := obj.(*types.Label); ok {
					return true
				}
				if c, ok := obj.(*types.Const); ok && c.Parent() != c.Pkg().Scope() {
					return true
				}
				if tn, ok := obj.(*types.TypeName); ok && tn.Parent() != tn.Pkg().Scope() {
					return true
				}
				b := rel(fset.Position(obj.Pos()).Filename)
				if b != a && production(b) {
					uses[[2]string{a, b}] = true
				}
				return true
			})
		}
	}
	var pairs []string
	for k := range uses {
		if k[0] < k[1] && uses[[2]string{k[1], k[0]}] {
			pairs = append(pairs, k[0]+" <-> "+k[1])
		}
	}
	sort.Strings(pairs)
	fmt.Printf("file pairs that use each other: %d\n", len(pairs))
	for _, s := range pairs {
		fmt.Println("  " + s)
	}

	// The poll walk.
	prog, spkgs := ssautil.AllPackages(own, ssa.InstantiateGenerics)
	prog.Build()
	inOwn := map[*ssa.Package]bool{}
	for _, sp := range spkgs {
		if sp != nil {
			inOwn[sp] = true
		}
	}
	// VTA refines CHA: a call through a func value or an interface goes only where such a value
	// can flow, not to every function of that signature.
	cg := vta.CallGraph(ssautil.AllFunctions(prog), cha.CallGraph(prog))
	cg.DeleteSyntheticNodes()
	var start *callgraph.Node
	for f, n := range cg.Nodes {
		if f != nil && f.Pkg != nil && inOwn[f.Pkg] && strings.TrimPrefix(f.RelString(f.Pkg.Pkg), f.Pkg.Pkg.Path()+".") == from {
			start = n
		}
	}
	if start == nil {
		return fmt.Errorf("no function %s in %s", from, dir)
	}
	fileOf := func(f *ssa.Function) string {
		for f.Parent() != nil {
			f = f.Parent()
		}
		return rel(prog.Fset.Position(f.Pos()).Filename)
	}
	takesCtx := func(f *ssa.Function) bool {
		for _, p := range f.Params {
			if strings.HasSuffix(p.Type().String(), "context.Context") {
				return true
			}
		}
		return false
	}
	visited := map[*ssa.Function]bool{}
	visitedFiles := map[string]bool{}
	climbs, moves := 0, 0
	var path, seq []string
	var walk func(n *callgraph.Node)
	walk = func(n *callgraph.Node) {
		visited[n.Func] = true
		file := fileOf(n.Func)
		visitedFiles[file] = true
		path = append(path, file)
		if len(seq) == 0 || seq[len(seq)-1] != file {
			seq = append(seq, file)
		}
		if trace {
			fmt.Printf("  %s%s %s\n", strings.Repeat("  ", len(path)-1), file, n.Func.Name())
		}
		out := append([]*callgraph.Edge(nil), n.Out...)
		sort.SliceStable(out, func(i, j int) bool { return out[i].Pos() < out[j].Pos() }) // source order
		for _, e := range out {
			g := e.Callee.Func
			if g == nil || g.Pkg == nil || !inOwn[g.Pkg] || visited[g] || (ctxOnly && !takesCtx(g)) {
				continue
			}
			if to := fileOf(g); to != file {
				moves++
				for _, up := range path[:len(path)-1] {
					if up == to {
						climbs++
						if trace {
							fmt.Printf("  climb: %s %s -> %s %s\n", file, n.Func.RelString(nil), to, g.RelString(nil))
						}
						break
					}
				}
			}
			walk(e.Callee)
			if seq[len(seq)-1] != file {
				seq = append(seq, file) // back in the caller's file
			}
		}
		path = path[:len(path)-1]
	}
	walk(start)
	// The reading order ends where the walk ended its last call, not back in poll's file.
	for len(seq) > 1 && seq[len(seq)-1] == fileOf(start.Func) {
		seq = seq[:len(seq)-1]
	}
	revisits := 0
	seen := map[string]bool{}
	for _, f := range seq {
		if seen[f] {
			revisits++
		}
		seen[f] = true
	}
	what := "functions taking a context"
	if !ctxOnly {
		what = "functions"
	}
	fmt.Printf("poll walk from %s: %d %s in %d files; %d calls into another file, %d of them into a file already on the call path; reading order %d steps, %d back to a file read before:\n  %s\n",
		from, len(visited), what, len(visitedFiles), moves, climbs, len(seq), revisits, strings.Join(seq, " -> "))
	return nil
}

var trace, ctxOnly bool

func isPackageLevel(v *types.Var) bool { return v.Parent() == v.Pkg().Scope() }

func funcName(p *packages.Package, fd *ast.FuncDecl) string {
	prefix := ""
	if p.Name != "messagetracereceiver" {
		prefix = p.Name + "."
	}
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return prefix + fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return prefix + id.Name + "." + fd.Name.Name
	}
	return prefix + fd.Name.Name
}
