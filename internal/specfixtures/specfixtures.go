// Package specfixtures gathers, for tests, every cluster spec the repository
// holds: the Jsonnet specs under testdata/, the example, the specs inside
// the CLI's txtar scripts, and the FuzzSpec corpus (generator/testdata/
// fuzz/FuzzSpec). Each comes back as the JSON that spec.Decode reads, so the
// property "validate succeeds ⇔ render succeeds ⇔ build gets past the spec"
// is checked over all of them at once.
package specfixtures

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/etcdimg/etcdimg/jsonnet"
)

// Fixture is one spec, evaluated.
type Fixture struct {
	Name string // where it came from, for messages
	JSON []byte
}

// Root is the module's root folder.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CorpusDir holds FuzzSpec's seeds and every crasher it found.
func CorpusDir() string { return filepath.Join(Root(), "generator", "testdata", "fuzz", "FuzzSpec") }

// The values the specs' external variables expect: sha256s and a port.
var evalOpts = jsonnet.Options{
	ExtStr:  map[string]string{"etcd_sha256": strings.Repeat("5e", 32), "etcd_version": "3.6.16", "sha": strings.Repeat("0", 64)},
	ExtCode: map[string]string{"port": "12379"},
}

// Jsonnet evaluates every spec file of the repository. Files that do not
// evaluate (the CLI's deliberately broken ones) are not specs and are
// left out; tmp holds the txtar archives' files.
func Jsonnet(tmp string) ([]Fixture, error) {
	root := Root()
	var paths []string
	for _, g := range []string{"testdata/specs/*.jsonnet", "testdata/e2e/*.jsonnet", "jsonnet/examples/*.jsonnet"} {
		m, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	scripts, err := filepath.Glob(filepath.Join(root, "cmd/etcdimg/testdata/script/*.txtar"))
	if err != nil {
		return nil, err
	}
	jpath := map[string][]string{}
	for _, s := range scripts {
		a, err := txtar.ParseFile(s)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(tmp, strings.TrimSuffix(filepath.Base(s), ".txtar"))
		for _, f := range a.Files {
			p := filepath.Join(dir, filepath.FromSlash(f.Name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				return nil, err
			}
			if strings.HasSuffix(f.Name, ".jsonnet") {
				paths = append(paths, p)
				jpath[p] = []string{filepath.Join(dir, "lib")}
			}
		}
	}
	var out []Fixture
	for _, p := range paths {
		o := evalOpts
		o.JPath = jpath[p]
		b, err := jsonnet.EvaluateFile(p, o)
		if err != nil {
			continue
		}
		name, _ := filepath.Rel(root, p)
		if strings.HasPrefix(p, tmp) {
			name, _ = filepath.Rel(tmp, p)
			name = "script:" + name
		}
		out = append(out, Fixture{Name: name, JSON: b})
	}
	return out, nil
}

// Corpus reads FuzzSpec's corpus files ("go test fuzz v1" and one []byte).
func Corpus() ([]Fixture, error) {
	entries, err := os.ReadDir(CorpusDir())
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out []Fixture
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(CorpusDir(), n))
		if err != nil {
			return nil, err
		}
		data, err := parseCorpusFile(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", n, err)
		}
		out = append(out, Fixture{Name: "corpus:" + n, JSON: data})
	}
	return out, nil
}

func parseCorpusFile(b []byte) ([]byte, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	if !sc.Scan() || sc.Text() != "go test fuzz v1" {
		return nil, fmt.Errorf("not a fuzz corpus file")
	}
	if !sc.Scan() {
		return nil, fmt.Errorf("no value")
	}
	line := sc.Text()
	q, ok := strings.CutPrefix(line, "[]byte(")
	if !ok || !strings.HasSuffix(q, ")") {
		return nil, fmt.Errorf("want one []byte value, got %.40q", line)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// CorpusFile is data in the corpus file format, for writing seeds.
func CorpusFile(data []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n")
}
