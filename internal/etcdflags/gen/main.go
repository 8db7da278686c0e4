// Command gen writes ../zz_generated.go: the etcd server's command-line flags
// for each supported minor version, read from etcd's own source.
//
// Run it from the etcdflags directory with `go generate` (or `go run ./gen`).
// It needs the etcd modules listed in sources, which it fetches through the
// Go module cache with `go mod download`, so the first run needs the proxy.
//
// Hand-typing the ~150 flags per version would rot the moment etcd moves a
// flag; parsing the registrations keeps the tables honest, and the generator
// fails rather than guesses when it meets a registration it does not
// understand, so a new helper in a future etcd cannot be missed silently.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// sources pins the newest patch release of each minor that the module proxy
// had when the tables were last generated; bump and re-run to refresh.
var sources = []struct{ minor, version string }{
	{"3.5", "v3.5.35"},
	{"3.6", "v3.6.16"},
	{"3.7", "v3.7.3"},
}

const (
	serverMod = "go.etcd.io/etcd/server/v3"
	pkgMod    = "go.etcd.io/etcd/pkg/v3"
)

func main() {
	out := flag.String("o", "zz_generated.go", "output file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("etcdflags/gen: ")

	var tables []*table
	for _, s := range sources {
		t, err := loadVersion(s.minor, s.version)
		if err != nil {
			log.Fatalf("%s: %v", s.version, err)
		}
		tables = append(tables, t)
		report(t)
	}
	src, err := render(tables)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// flagInfo mirrors etcdflags.Flag; the kind is kept as the constant's name so
// the generated file reads naturally.
type flagInfo struct {
	name       string
	kind       string
	bits       int
	values     []string
	deprecated string
	documented bool
	usage      string
}

type table struct {
	minor, version string
	flags          map[string]*flagInfo
	helpOnly       []string // documented in help.go but never registered
	// cfFields maps a configFlags field (cfg.cf.X) to the flag it backs.
	cfFields map[string]string
}

func report(t *table) {
	var undocumented []string
	for _, f := range t.flags {
		if !f.documented && f.kind != "Ignored" {
			undocumented = append(undocumented, f.name)
		}
	}
	sort.Strings(undocumented)
	log.Printf("%s (%s): %d flags; registered but not in --help: %v; in --help but not registered: %v",
		t.minor, t.version, len(t.flags), undocumented, t.helpOnly)
}

// moduleDir returns the module cache directory of mod@version. It runs
// outside any module so that it cannot touch the caller's go.mod/go.sum.
func moduleDir(mod, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", mod+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v: %s", mod, version, err, stderr.String())
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	if m.Error != "" || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", mod, version, m.Error)
	}
	return m.Dir, nil
}

// pkg is one parsed Go package; only what the resolver needs is kept.
type pkg struct {
	path  string
	files []*ast.File
	// values holds package-level const/var initialisers by name.
	values map[string]ast.Expr
	funcs  []*ast.FuncDecl
}

type loader struct {
	fset *token.FileSet
	// dirs maps an import path to its directory; only packages that the
	// flag code refers to for names or constants need to be here.
	dirs map[string]string
	pkgs map[string]*pkg
}

func (l *loader) load(path string) (*pkg, error) {
	if p, ok := l.pkgs[path]; ok {
		return p, nil
	}
	dir, ok := l.dirs[path]
	if !ok {
		return nil, fmt.Errorf("no source directory known for %s", path)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := &pkg{path: path, values: map[string]ast.Expr{}}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(l.fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		p.files = append(p.files, f)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					vs, ok := s.(*ast.ValueSpec)
					if !ok {
						continue
					}
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							p.values[n.Name] = vs.Values[i]
						}
					}
				}
			case *ast.FuncDecl:
				p.funcs = append(p.funcs, d)
			}
		}
	}
	l.pkgs[path] = p
	return p, nil
}

// fileOf finds the file of p that contains pos, for its imports.
func (l *loader) fileOf(p *pkg, pos token.Pos) *ast.File {
	for _, f := range p.files {
		if f.Pos() <= pos && pos <= f.End() {
			return f
		}
	}
	return nil
}

// majorSuffix matches the /vN element that a module path's package name skips.
var majorSuffix = regexp.MustCompile(`^v[0-9]+$`)

func importPath(f *ast.File, name string) (string, bool) {
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		local := filepath.Base(path)
		if majorSuffix.MatchString(local) {
			local = filepath.Base(filepath.Dir(path))
		}
		if im.Name != nil {
			local = im.Name.Name
		}
		if local == name {
			return path, true
		}
	}
	return "", false
}

// str resolves e, found in package p, to a constant string: literals,
// concatenations, conversions and references to package-level constants or
// variables, also across the packages the loader knows.
func (l *loader) str(p *pkg, e ast.Expr) (string, error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", fmt.Errorf("not a string literal: %s", e.Value)
		}
		return strconv.Unquote(e.Value)
	case *ast.ParenExpr:
		return l.str(p, e.X)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			break
		}
		x, err := l.str(p, e.X)
		if err != nil {
			return "", err
		}
		y, err := l.str(p, e.Y)
		if err != nil {
			return "", err
		}
		return x + y, nil
	case *ast.CallExpr:
		// Conversions such as string(X) or V2DeprecationEnum("x").
		if len(e.Args) == 1 {
			return l.str(p, e.Args[0])
		}
	case *ast.Ident:
		v, ok := p.values[e.Name]
		if !ok {
			return "", fmt.Errorf("%s.%s is not a package-level value", p.path, e.Name)
		}
		return l.str(p, v)
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			break
		}
		f := l.fileOf(p, e.Pos())
		if f == nil {
			break
		}
		path, ok := importPath(f, x.Name)
		if !ok {
			break
		}
		q, err := l.load(path)
		if err != nil {
			return "", err
		}
		return l.str(q, ast.NewIdent(e.Sel.Name))
	}
	return "", fmt.Errorf("cannot resolve %s to a constant string", l.src(e))
}

// text is like str but keeps going over parts it cannot resolve, so help
// text with computed defaults can still be read line by line.
func (l *loader) text(p *pkg, e ast.Expr) string {
	if s, err := l.str(p, e); err == nil {
		return s
	}
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
		return l.text(p, b.X) + l.text(p, b.Y)
	}
	return "<computed>"
}

func (l *loader) strs(p *pkg, es []ast.Expr) ([]string, error) {
	var out []string
	for _, e := range es {
		s, err := l.str(p, e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (l *loader) src(n ast.Node) string {
	var b bytes.Buffer
	_ = format.Node(&b, l.fset, n)
	return b.String()
}

func (l *loader) where(n ast.Node) string {
	return l.fset.Position(n.Pos()).String()
}

func findFunc(p *pkg, name, recv string) *ast.FuncDecl {
	for _, f := range p.funcs {
		if f.Name.Name != name {
			continue
		}
		got := ""
		if f.Recv != nil && len(f.Recv.List) == 1 {
			t := f.Recv.List[0].Type
			if s, ok := t.(*ast.StarExpr); ok {
				t = s.X
			}
			if id, ok := t.(*ast.Ident); ok {
				got = id.Name
			}
		}
		if got == recv {
			return f
		}
	}
	return nil
}

func loadVersion(minor, version string) (*table, error) {
	server, err := moduleDir(serverMod, version)
	if err != nil {
		return nil, err
	}
	// pkg/v3 is tagged in lockstep with server/v3; it only matters for the
	// feature-gate package's built-in gates.
	pkgDir, err := moduleDir(pkgMod, version)
	if err != nil {
		return nil, err
	}
	l := &loader{fset: token.NewFileSet(), pkgs: map[string]*pkg{}, dirs: map[string]string{
		serverMod + "/etcdmain":                  filepath.Join(server, "etcdmain"),
		serverMod + "/embed":                     filepath.Join(server, "embed"),
		serverMod + "/config":                    filepath.Join(server, "config"),
		serverMod + "/features":                  filepath.Join(server, "features"),
		serverMod + "/etcdserver/api/membership": filepath.Join(server, "etcdserver", "api", "membership"),
		pkgMod + "/featuregate":                  filepath.Join(pkgDir, "featuregate"),
	}}
	main, err := l.load(serverMod + "/etcdmain")
	if err != nil {
		return nil, err
	}
	t := &table{minor: minor, version: version, flags: map[string]*flagInfo{}, cfFields: map[string]string{}}
	nc := findFunc(main, "newConfig", "")
	if nc == nil {
		return nil, errors.New("etcdmain.newConfig not found")
	}
	w := &walker{l: l, t: t, p: main, fn: nc, bound: map[string][]string{}}
	if err := w.walk(nc.Body); err != nil {
		return nil, err
	}
	if len(t.flags) < 50 {
		return nil, fmt.Errorf("only %d flags found; the registration code has probably moved", len(t.flags))
	}
	if err := applyValidate(l, main, t); err != nil {
		return nil, err
	}
	if err := applyHelp(l, main, t); err != nil {
		return nil, err
	}
	if err := applyDeprecations(l, main, t); err != nil {
		return nil, err
	}
	return t, nil
}

// walker collects fs.XxxVar registrations from a function body, following
// the calls that hand the flag set on (cfg.ec.AddFlags(fs), the feature
// gate's AddFlag) and the loop that registers the ignored legacy flags.
type walker struct {
	l     *loader
	t     *table
	p     *pkg
	fn    *ast.FuncDecl
	bound map[string][]string // range variables bound to constant string lists
}

// kinds maps flag.FlagSet methods to the etcdflags kind and the index of the
// name argument.
var kinds = map[string]struct {
	kind    string
	nameArg int
	bits    int
}{
	"Bool": {"Bool", 0, 0}, "BoolVar": {"Bool", 1, 0},
	"String": {"String", 0, 0}, "StringVar": {"String", 1, 0},
	"Int": {"Int", 0, 64}, "IntVar": {"Int", 1, 64},
	"Int64": {"Int", 0, 64}, "Int64Var": {"Int", 1, 64},
	"Uint": {"Uint", 0, 64}, "UintVar": {"Uint", 1, 64},
	"Uint64": {"Uint", 0, 64}, "Uint64Var": {"Uint", 1, 64},
	"Duration": {"Duration", 0, 0}, "DurationVar": {"Duration", 1, 0},
	"Float64": {"Float", 0, 0}, "Float64Var": {"Float", 1, 0},
	"Var": {"", 1, 0},
}

// fsName is the flag-set identifier in both newConfig and Config.AddFlags.
const fsName = "fs"

func isFS(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == fsName
}

func (w *walker) walk(body ast.Node) error {
	var err error
	ast.Inspect(body, func(n ast.Node) bool {
		if err != nil {
			return false
		}
		switch n := n.(type) {
		case *ast.RangeStmt:
			err = w.rangeStmt(n)
			return false
		case *ast.CallExpr:
			err = w.call(n)
			return err == nil
		}
		return true
	})
	return err
}

func (w *walker) rangeStmt(r *ast.RangeStmt) error {
	v, ok := r.Value.(*ast.Ident)
	if !ok {
		return w.walk(r.Body)
	}
	// cfg.ignored is filled from the package-level `ignored` list; resolve
	// the range expression by its final name.
	var name string
	switch x := r.X.(type) {
	case *ast.Ident:
		name = x.Name
	case *ast.SelectorExpr:
		name = x.Sel.Name
	}
	if lit, ok := w.p.values[name].(*ast.CompositeLit); ok {
		list, err := w.l.strs(w.p, lit.Elts)
		if err != nil {
			return fmt.Errorf("%s: %v", w.l.where(r), err)
		}
		w.bound[v.Name] = list
		defer delete(w.bound, v.Name)
	}
	return w.walk(r.Body)
}

func (w *walker) call(c *ast.CallExpr) error {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	usesFS := false
	for _, a := range c.Args {
		usesFS = usesFS || isFS(a)
	}
	switch {
	case ok && isFS(sel.X):
		if sel.Sel.Name == "Parse" || sel.Sel.Name == "Usage" {
			return nil
		}
		k, known := kinds[sel.Sel.Name]
		if !known {
			return fmt.Errorf("%s: unhandled flag-set method %s", w.l.where(c), sel.Sel.Name)
		}
		return w.register(c, k.kind, k.nameArg, k.bits)
	case ok && usesFS && sel.Sel.Name == "AddFlags":
		// cfg.ec.AddFlags(fs): embed.Config registers most flags since 3.6.
		emb, err := w.l.load(serverMod + "/embed")
		if err != nil {
			return err
		}
		fn := findFunc(emb, "AddFlags", "Config")
		if fn == nil {
			return fmt.Errorf("%s: embed.Config.AddFlags not found", w.l.where(c))
		}
		sub := &walker{l: w.l, t: w.t, p: emb, fn: fn, bound: map[string][]string{}}
		return sub.walk(fn.Body)
	case ok && usesFS && sel.Sel.Name == "AddFlag" && len(c.Args) == 2:
		// The feature gate registers itself under the name it is given.
		name, err := w.l.str(w.p, c.Args[1])
		if err != nil {
			return fmt.Errorf("%s: %v", w.l.where(c), err)
		}
		gates, err := featureGates(w.l)
		if err != nil {
			return err
		}
		return w.add(c, &flagInfo{name: name, kind: "FeatureGates", values: gates})
	case usesFS:
		return fmt.Errorf("%s: flag set passed to unhandled call %s", w.l.where(c), w.l.src(c.Fun))
	}
	return nil
}

func (w *walker) add(c *ast.CallExpr, f *flagInfo) error {
	if _, dup := w.t.flags[f.name]; dup {
		return fmt.Errorf("%s: flag %q registered twice", w.l.where(c), f.name)
	}
	w.t.flags[f.name] = f
	return nil
}

func (w *walker) register(c *ast.CallExpr, kind string, nameArg, bits int) error {
	if len(c.Args) <= nameArg {
		return fmt.Errorf("%s: too few arguments", w.l.where(c))
	}
	var names []string
	if id, ok := c.Args[nameArg].(*ast.Ident); ok && w.bound[id.Name] != nil {
		names = w.bound[id.Name]
	} else {
		n, err := w.l.str(w.p, c.Args[nameArg])
		if err != nil {
			return fmt.Errorf("%s: flag name: %v", w.l.where(c), err)
		}
		names = []string{n}
	}
	usage := w.l.text(w.p, c.Args[len(c.Args)-1])
	if fc, ok := c.Args[len(c.Args)-1].(*ast.CallExpr); ok && len(fc.Args) > 0 {
		// fmt.Sprintf("...%q", valids): the format string carries the words.
		usage = w.l.text(w.p, fc.Args[0])
	}
	var values []string
	if kind == "" {
		if s, ok := c.Args[0].(*ast.SelectorExpr); ok && len(names) == 1 {
			w.t.cfFields[s.Sel.Name] = names[0]
		}
		var err error
		kind, bits, values, err = w.valueKind(c.Args[0])
		if err != nil {
			return fmt.Errorf("%s: %v", w.l.where(c), err)
		}
	}
	for _, n := range names {
		if err := w.add(c, &flagInfo{name: n, kind: kind, bits: bits, values: values, usage: usage}); err != nil {
			return err
		}
	}
	return nil
}

// valueKind classifies the flag.Value handed to fs.Var by its constructor.
func (w *walker) valueKind(v ast.Expr) (kind string, bits int, values []string, err error) {
	if u, ok := v.(*ast.UnaryExpr); ok && u.Op == token.AND {
		if cl, ok := u.X.(*ast.CompositeLit); ok {
			if s, ok := cl.Type.(*ast.SelectorExpr); ok && s.Sel.Name == "IgnoredFlag" {
				return "Ignored", 0, nil, nil
			}
		}
	}
	// cfg.cf.clusterState and friends are built in newConfig's configFlags
	// literal; look the constructor up there.
	if s, ok := v.(*ast.SelectorExpr); ok {
		if init := w.configFlagsField(s.Sel.Name); init != nil {
			v = init
		}
	}
	c, ok := v.(*ast.CallExpr)
	if !ok {
		return "", 0, nil, fmt.Errorf("unhandled flag value %s", w.l.src(v))
	}
	ctor := ""
	if s, ok := c.Fun.(*ast.SelectorExpr); ok {
		ctor = s.Sel.Name
	}
	switch ctor {
	case "NewUniqueURLsWithExceptions":
		values, err = w.l.strs(w.p, c.Args[1:])
		return "URLs", 0, values, err
	case "NewURLsValue", "NewUniqueURLsValue":
		return "URLs", 0, nil, nil
	case "NewUniqueStringsValue", "NewStringsValue":
		return "StringSlice", 0, nil, nil
	case "NewUint32Value":
		return "Uint", 32, nil, nil
	case "NewSelectiveStringValue":
		values, err = w.l.strs(w.p, c.Args)
		return "Enum", 0, values, err
	case "NewSelectiveStringsValue":
		values, err = w.l.strs(w.p, c.Args)
		return "EnumList", 0, values, err
	}
	return "", 0, nil, fmt.Errorf("unhandled flag value constructor %s", w.l.src(c.Fun))
}

func (w *walker) configFlagsField(field string) ast.Expr {
	var found ast.Expr
	ast.Inspect(w.fn.Body, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return found == nil
		}
		if id, ok := cl.Type.(*ast.Ident); !ok || id.Name != "configFlags" {
			return true
		}
		for _, e := range cl.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok {
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == field {
					found = kv.Value
				}
			}
		}
		return false
	})
	return found
}

// applyValidate drops enum values that the flag parser takes but
// config.validate then refuses, such as --discovery-fallback=proxy since the
// v2 proxy was removed in 3.6: etcd would not start with them.
func applyValidate(l *loader, main *pkg, t *table) error {
	fn := findFunc(main, "validate", "config")
	if fn == nil {
		return nil
	}
	var err error
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		ifs, ok := n.(*ast.IfStmt)
		if !ok || err != nil {
			return err == nil
		}
		cmp, ok := ifs.Cond.(*ast.BinaryExpr)
		if !ok || cmp.Op != token.EQL || !returnsError(ifs.Body) {
			return true
		}
		// cfg.cf.<field>.String() == <constant>
		call, ok := cmp.X.(*ast.CallExpr)
		if !ok {
			return true
		}
		str, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || str.Sel.Name != "String" {
			return true
		}
		field, ok := str.X.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		name, ok := t.cfFields[field.Sel.Name]
		if !ok {
			return true
		}
		var bad string
		if bad, err = l.str(main, cmp.Y); err != nil {
			return false
		}
		f := t.flags[name]
		kept := f.values[:0:0]
		for _, v := range f.values {
			if v != bad {
				kept = append(kept, v)
			}
		}
		f.values = kept
		return true
	})
	return err
}

func returnsError(b *ast.BlockStmt) bool {
	for _, s := range b.List {
		if r, ok := s.(*ast.ReturnStmt); ok && len(r.Results) > 0 {
			if id, ok := r.Results[len(r.Results)-1].(*ast.Ident); !ok || id.Name != "nil" {
				return true
			}
		}
	}
	return false
}

// featureGates lists the names --feature-gates accepts: etcd's own gates plus
// the feature-gate package's built-in AllAlpha/AllBeta switches.
func featureGates(l *loader) ([]string, error) {
	var names []string
	for _, src := range []struct{ path, varName string }{
		{serverMod + "/features", "DefaultEtcdServerFeatureGates"},
		{pkgMod + "/featuregate", "defaultFeatures"},
	} {
		p, err := l.load(src.path)
		if err != nil {
			return nil, err
		}
		lit, ok := p.values[src.varName].(*ast.CompositeLit)
		if !ok {
			return nil, fmt.Errorf("%s.%s is not a map literal", src.path, src.varName)
		}
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				return nil, fmt.Errorf("%s.%s: unexpected element", src.path, src.varName)
			}
			n, err := l.str(p, kv.Key)
			if err != nil {
				return nil, err
			}
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// experimentalToGate maps experimental-* flags to the feature gate that
// replaced them (3.6+), so their deprecation can name the replacement.
func experimentalToGate(l *loader) (map[string]string, error) {
	if _, err := os.Stat(l.dirs[serverMod+"/features"]); errors.Is(err, os.ErrNotExist) {
		return nil, nil // 3.5 predates feature gates
	}
	p, err := l.load(serverMod + "/features")
	if err != nil {
		return nil, err
	}
	lit, ok := p.values["ExperimentalFlagToFeatureMap"].(*ast.CompositeLit)
	if !ok {
		return nil, nil
	}
	m := map[string]string{}
	for _, e := range lit.Elts {
		kv := e.(*ast.KeyValueExpr)
		k, err := l.str(p, kv.Key)
		if err != nil {
			return nil, err
		}
		v, err := l.str(p, kv.Value)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

type helpEntry struct {
	desc    string
	section string
}

var (
	helpFlagLine = regexp.MustCompile(`^ {2}--([a-z0-9][a-z0-9.-]*)`)
	helpSection  = regexp.MustCompile(`^[A-Za-z0-9].*:$`)
)

// parseHelp reads the flagsline text that `etcd --help` prints.
func parseHelp(l *loader, main *pkg) (map[string]helpEntry, []string, error) {
	v, ok := main.values["flagsline"]
	if !ok {
		return nil, nil, errors.New("etcdmain.flagsline not found")
	}
	text := l.text(main, v)
	entries := map[string]helpEntry{}
	var order []string
	section, cur := "", ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case helpFlagLine.MatchString(line):
			cur = helpFlagLine.FindStringSubmatch(line)[1]
			if _, dup := entries[cur]; !dup {
				order = append(order, cur)
			}
			entries[cur] = helpEntry{section: section}
		case helpSection.MatchString(line):
			section, cur = line, ""
		case strings.TrimSpace(line) == "":
			cur = ""
		case cur != "":
			e := entries[cur]
			e.desc = strings.TrimSpace(e.desc + " " + strings.TrimSpace(line))
			entries[cur] = e
		}
	}
	return entries, order, nil
}

func applyHelp(l *loader, main *pkg, t *table) error {
	entries, order, err := parseHelp(l, main)
	if err != nil {
		return err
	}
	for _, n := range order {
		f, ok := t.flags[n]
		if !ok {
			t.helpOnly = append(t.helpOnly, n)
			continue
		}
		f.documented = true
		e := entries[n]
		if d := deprecation(e.desc); d != "" {
			f.deprecated = d
		} else if d := deprecation(e.section); d != "" {
			f.deprecated = d
		}
	}
	sort.Strings(t.helpOnly)
	return nil
}

// applyDeprecations fills in what help.go does not say: the warnings etcd
// logs for deprecatedFlags, the usage strings, the feature-gate successors
// of experimental flags, and the ignored legacy flags.
func applyDeprecations(l *loader, main *pkg, t *table) error {
	warn := map[string]string{}
	if lit, ok := main.values["deprecatedFlags"].(*ast.CompositeLit); ok {
		for _, e := range lit.Elts {
			kv := e.(*ast.KeyValueExpr)
			k, err := l.str(main, kv.Key)
			if err != nil {
				return err
			}
			msg, _ := l.str(main, kv.Value) // 3.5 maps to struct{}{}
			warn[k] = msg
		}
	}
	gates, err := experimentalToGate(l)
	if err != nil {
		return err
	}
	for _, f := range t.flags {
		if f.kind == "Ignored" {
			f.deprecated = "ignored: etcd accepts it for compatibility but only logs a warning"
			continue
		}
		msg, warned := warn[f.name]
		if f.deprecated == "" {
			f.deprecated = deprecation(msg)
		}
		if f.deprecated == "" {
			f.deprecated = deprecation(f.usage)
		}
		if f.deprecated == "" && warned {
			f.deprecated = "deprecated"
		}
		if g, ok := gates[f.name]; ok {
			if f.deprecated == "" {
				f.deprecated = "deprecated"
			}
			if !strings.Contains(f.deprecated, "use ") {
				f.deprecated += "; use --feature-gates=" + g + "=true"
			}
		}
	}
	return nil
}

var (
	reDeprecated = regexp.MustCompile(`(?i)\bdeprecated\b`)
	reFuture     = regexp.MustCompile(`(?i)\b(will|to) be deprecated\b`)
	reSince      = regexp.MustCompile(`(?i)deprecated in (v?\d+\.\d+)`)
	reRemoval    = regexp.MustCompile(`(?i)(?:decommissioned|removal|removed) in (v?\d+\.\d+)`)
	reUse        = regexp.MustCompile(`(?i)\buse '?(--?[a-z0-9-]+(?:=[A-Za-z0-9=]+)?|[a-z][a-z0-9-]+)'? instead`)
)

// deprecation condenses etcd's wording ("Deprecated in v3.6 and will be
// decommissioned in v3.7. Use '--x' instead.") to "deprecated in v3.6, to be
// removed in v3.7; use --x", or returns "" when text deprecates nothing yet.
func deprecation(text string) string {
	if !reDeprecated.MatchString(text) {
		return ""
	}
	if reFuture.MatchString(text) && len(reDeprecated.FindAllString(text, -1)) == 1 {
		return ""
	}
	out := "deprecated"
	if m := reSince.FindStringSubmatch(text); m != nil {
		out += " in " + vprefix(m[1])
	}
	if m := reRemoval.FindStringSubmatch(text); m != nil {
		out += ", to be removed in " + vprefix(m[1])
	}
	if m := reUse.FindStringSubmatch(text); m != nil {
		r := m[1]
		if !strings.HasPrefix(r, "-") {
			r = "--" + r
		}
		out += "; use " + r
	}
	return out
}

func vprefix(v string) string {
	if strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}

func render(tables []*table) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by gen/main.go from etcd's source; DO NOT EDIT.\n\n")
	b.WriteString("package etcdflags\n\n")
	b.WriteString("var tables = map[string]*table{\n")
	for _, t := range tables {
		names := make([]string, 0, len(t.flags))
		for n := range t.flags {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "%q: {\nversion: %q,\n", t.minor, t.version)
		if len(t.helpOnly) > 0 {
			fmt.Fprintf(&b, "helpOnly: %#v,\n", t.helpOnly)
		}
		b.WriteString("flags: []Flag{\n")
		for _, n := range names {
			f := t.flags[n]
			fmt.Fprintf(&b, "{Name: %q, Kind: %s", f.name, f.kind)
			if f.bits != 0 {
				fmt.Fprintf(&b, ", Bits: %d", f.bits)
			}
			if len(f.values) > 0 {
				fmt.Fprintf(&b, ", Values: %#v", f.values)
			}
			if f.deprecated != "" {
				fmt.Fprintf(&b, ", Deprecated: %q", f.deprecated)
			}
			if f.documented {
				b.WriteString(", Documented: true")
			}
			b.WriteString("},\n")
		}
		b.WriteString("},\n},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
