package jsonnet_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/spec"
)

func eval(t *testing.T, src string, o jsonnet.Options) map[string]any {
	t.Helper()
	out, err := jsonnet.EvaluateSnippet(filepath.Join(t.TempDir(), "spec.jsonnet"), src, o)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The library's defaults are generated from spec.Defaults: Jsonnet users
// must see the values a build will use.
func TestLibraryDefaultsMatchGo(t *testing.T) {
	v := eval(t, `local e = import 'etcdimg.libsonnet'; { d: e.defaults }`, jsonnet.Options{})
	d := v["d"].(map[string]any)
	etcd := d["etcd"].(map[string]any)
	g := spec.Defaults()
	if etcd["clientPort"].(float64) != float64(*g.Etcd.ClientPort) ||
		etcd["user"].(map[string]any)["uid"].(float64) != float64(*g.Etcd.User.UID) ||
		d["tls"].(map[string]any)["enabled"] != *g.TLS.Enabled {
		t.Errorf("library defaults differ from spec.Defaults: %v", d)
	}
}

func TestLibraryHelpers(t *testing.T) {
	v := eval(t, `
local e = import 'etcdimg.libsonnet';
{
  nodes: e.nodes('k8s', ['10.0.0.1', '10.0.0.2']),
  node: e.node('a', '10.0.0.9', mac='52:54:00:00:00:09'),
  rel: e.release('3.6.16', 'abc'),
  url: e.release('3.6.16', 'abc', url=e.upstreamURL('3.6.16')),
  plain: {} + e.plainHTTP,
}`, jsonnet.Options{})
	b, _ := json.Marshal(v)
	for _, want := range []string{
		`"nodes":[{"ip":"10.0.0.1","name":"k8s01"},{"ip":"10.0.0.2","name":"k8s02"}]`,
		`"node":{"ip":"10.0.0.9","mac":"52:54:00:00:00:09","name":"a"}`,
		`"rel":{"path":"out/etcd-release/etcd-v3.6.16-linux-amd64.tar.gz","sha256":"abc"}`,
		`"url":{"sha256":"abc","url":"https://github.com/etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz"}`,
		`"plain":{"tls":{"enabled":false}}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %s in %s", want, b)
		}
	}
}

func TestCLIConventions(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lib.libsonnet"), []byte(`{ x: 1 }`), 0o644)
	o := jsonnet.Options{
		JPath:   []string{dir},
		ExtStr:  map[string]string{"s": "str"},
		ExtCode: map[string]string{"c": "1 + 1"},
		TLAStr:  map[string]string{"a": "tla"},
		TLACode: map[string]string{"b": "[3]"},
	}
	v := eval(t, `function(a, b) { lib: (import 'lib.libsonnet').x, s: std.extVar('s'), c: std.extVar('c'), a: a, b: b }`, o)
	b, _ := json.Marshal(v)
	if string(b) != `{"a":"tla","b":[3],"c":2,"lib":1,"s":"str"}` {
		t.Errorf("got %s", b)
	}
}

func TestErrorsCarryLocation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.jsonnet")
	os.WriteFile(p, []byte("{\n  a: error 'boom',\n}\n"), 0o644)
	_, err := jsonnet.EvaluateFile(p, jsonnet.Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.jsonnet:2:6") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("want file:line:col and the message, got %v", err)
	}
}

// A spec's relative imports resolve beside the spec, wherever etcdimg runs.
func TestRelativeImportsBesideSpec(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "specs")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "common.libsonnet"), []byte(`{ y: 2 }`), 0o644)
	os.WriteFile(filepath.Join(dir, "main.jsonnet"), []byte(`{ y: (import 'common.libsonnet').y }`), 0o644)
	out, err := jsonnet.EvaluateFile(filepath.Join(dir, "main.jsonnet"), jsonnet.Options{})
	if err != nil || !strings.Contains(string(out), `"y": 2`) {
		t.Fatalf("got %s, %v", out, err)
	}
}

// "-" reads the spec from Stdin, named <stdin> in errors, bounded like a
// spec file: an endless pipe is refused at the bound, not read to the end.
func TestEvaluateStdin(t *testing.T) {
	out, err := jsonnet.EvaluateFile(jsonnet.Stdin, jsonnet.Options{Stdin: strings.NewReader(`{ a: std.extVar('x') }`), ExtStr: map[string]string{"x": "y"}})
	if err != nil || string(out) != "{\n   \"a\": \"y\"\n}\n" {
		t.Errorf("stdin spec: %q, %v", out, err)
	}
	_, err = jsonnet.EvaluateFile(jsonnet.Stdin, jsonnet.Options{Stdin: strings.NewReader("{ a: }")})
	if err == nil || !strings.HasPrefix(err.Error(), "<stdin>:1:") {
		t.Errorf("stdin syntax error: %v", err)
	}
	endless := &countingReader{}
	_, err = jsonnet.EvaluateFile(jsonnet.Stdin, jsonnet.Options{Stdin: endless})
	if err == nil || err.Error() != "read spec: read <stdin>: is more than the 16777216 bytes this input may have" {
		t.Errorf("endless stdin: %v", err)
	}
	if endless.n > 16<<20+64<<10 {
		t.Errorf("read %d bytes of an endless stdin", endless.n)
	}
}

type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	r.n += len(p)
	return len(p), nil
}

// ImportCode is what --ext-code-file passes: an import of exactly that
// file, whatever characters its path has.
func TestImportCode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `it's "here"`)
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "code.jsonnet"), []byte(`(import 'lib/x.libsonnet') + 1`), 0o644)
	os.WriteFile(filepath.Join(dir, "lib", "x.libsonnet"), []byte(`41`), 0o644)
	v := eval(t, `{ v: std.extVar('c') }`, jsonnet.Options{ExtCode: map[string]string{"c": jsonnet.ImportCode(filepath.Join(dir, "code.jsonnet"))}})
	if v["v"] != float64(42) {
		t.Errorf("got %v", v)
	}
}
