package generator_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/golden"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/pipeline"
	yaml "go.yaml.in/yaml/v3"
)

// goldenSpecs are rendered into testdata/golden/<name>/<node>/.
var goldenSpecs = map[string]struct {
	path string
	opts jsonnet.Options
}{
	"seed-cluster": {"../jsonnet/examples/seed-cluster.jsonnet", jsonnet.Options{ExtStr: map[string]string{"etcd_sha256": strings.Repeat("5e", 32)}}},
	"plain-http":   {"../testdata/specs/plain-http.jsonnet", jsonnet.Options{}},
	"custom":       {"../testdata/specs/custom.jsonnet", jsonnet.Options{}},
	"container":    {"../testdata/specs/container.jsonnet", jsonnet.Options{}},
	"podman":       {"../testdata/specs/podman.jsonnet", jsonnet.Options{}},
	"static-pod":   {"../testdata/specs/static-pod.jsonnet", jsonnet.Options{}},
	"access":       {"../testdata/specs/access.jsonnet", jsonnet.Options{}},
	"extra":        {"../testdata/specs/extra.jsonnet", jsonnet.Options{}},
	"restore":      {"../testdata/specs/restore.jsonnet", jsonnet.Options{}},
	"kubeadm":      {"../testdata/specs/kubeadm.jsonnet", jsonnet.Options{}},
	"arm64":        {"../testdata/specs/arm64.jsonnet", jsonnet.Options{}},
}

func load(t *testing.T, path string, opts jsonnet.Options) *model.Cluster {
	t.Helper()
	l, err := pipeline.Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.Report.IsFatal() {
		t.Fatalf("%s: %s", path, l.Report)
	}
	return l.Cluster
}

func renderAll(t *testing.T) map[string][]generator.NodeFiles {
	out := map[string][]generator.NodeFiles{}
	for name, s := range goldenSpecs {
		c := load(t, s.path, s.opts)
		if name == "restore" {
			withRestore(c)
		}
		files, err := generator.Render(c)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = files
	}
	out["day2"] = renderDay2(t)
	return out
}

func TestGolden(t *testing.T) {
	for name, files := range renderAll(t) {
		for _, nf := range files {
			dir := filepath.Join("..", "testdata", "golden", name, nf.Node.Name)
			golden.Check(t, filepath.Join(dir, "user-data"), nf.UserData)
			golden.Check(t, filepath.Join(dir, "meta-data"), nf.MetaData)
			golden.Check(t, filepath.Join(dir, "network-config"), nf.NetworkConfig)
		}
	}
}

// TestRenderIsPure renders twice and expects identical bytes: no map order,
// clock or randomness may reach the output.
func TestRenderIsPure(t *testing.T) {
	a, b := renderAll(t), renderAll(t)
	for name := range a {
		for i := range a[name] {
			if string(a[name][i].UserData) != string(b[name][i].UserData) ||
				string(a[name][i].NetworkConfig) != string(b[name][i].NetworkConfig) {
				t.Errorf("%s/%s: two renders differ", name, a[name][i].Node.Name)
			}
		}
	}
}

// TestCloudInitSchema runs Debian's cloud-init over every user-data we
// render: the real parser and schema, not our idea of them.
func TestCloudInitSchema(t *testing.T) {
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Skip("cloud-init not installed (apt-get install cloud-init)")
	}
	dir := t.TempDir()
	for name, files := range renderAll(t) {
		for _, nf := range files {
			p := filepath.Join(dir, name+"-"+nf.Node.Name+".yaml")
			if err := os.WriteFile(p, nf.UserData, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ci, "schema", "-c", p).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
				t.Errorf("%s/%s: cloud-init schema: %v\n%s", name, nf.Node.Name, err, out)
			}
			if strings.Contains(strings.ToLower(string(out)), "deprecat") {
				t.Errorf("%s/%s: cloud-init reports a deprecation:\n%s", name, nf.Node.Name, out)
			}
		}
	}
}

// TestPyYAMLReadsWhatWeMean loads every rendered file with PyYAML (YAML 1.1,
// as cloud-init does) and checks the values that YAML 1.1 would silently
// change: permissions must stay strings, no key may turn into a boolean.
func TestPyYAMLReadsWhatWeMean(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if exec.Command(py, "-c", "import yaml").Run() != nil {
		t.Skip("python3-yaml not installed (apt-get install python3-yaml)")
	}
	const check = `
import sys, yaml
ud = yaml.safe_load(open(sys.argv[1]))
md = yaml.safe_load(open(sys.argv[2]))
nc = yaml.safe_load(open(sys.argv[3]))
for f in ud["write_files"]:
    p = f["permissions"]
    assert isinstance(p, str) and p.startswith("0") and len(p) == 4, ("permissions", f["path"], p)
    assert isinstance(f["content"], str), f["path"]
for cmd in ud["bootcmd"] + ud["runcmd"]:
    assert all(isinstance(a, str) for a in cmd), cmd
u = ud["users"][1]
assert ud["users"][0] == "default"
assert isinstance(u["uid"], int) and isinstance(u["name"], str) and isinstance(u["primary_group"], str), u
assert ud["manage_etc_hosts"] is False
assert isinstance(md["instance-id"], str) and isinstance(md["local-hostname"], str), md
assert nc["version"] == 1
for e in nc["config"]:
    assert e["type"] == "physical" and isinstance(e["name"], str), e
    assert isinstance(e.get("mac_address", ""), str), e
    for s in e["subnets"]:
        assert isinstance(s["address"], str) and isinstance(s.get("gateway", ""), str), s
print("ok")
`
	dir := t.TempDir()
	for name, files := range renderAll(t) {
		for _, nf := range files {
			var paths []string
			for _, f := range []struct {
				n string
				b []byte
			}{{"ud", nf.UserData}, {"md", nf.MetaData}, {"nc", nf.NetworkConfig}} {
				p := filepath.Join(dir, name+nf.Node.Name+f.n)
				if err := os.WriteFile(p, f.b, 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			out, err := exec.Command(py, append([]string{"-c", check}, paths...)...).CombinedOutput()
			if err != nil {
				t.Errorf("%s/%s: PyYAML reads something else than we wrote: %v\n%s", name, nf.Node.Name, err, out)
			}
		}
	}
}

// TestFirstBootScriptLints extracts the first-boot script from every
// user-data and checks it with sh -n and, where installed, shellcheck.
func TestFirstBootScriptLints(t *testing.T) {
	dir := t.TempDir()
	sc, _ := exec.LookPath("shellcheck")
	for name, files := range renderAll(t) {
		for _, nf := range files {
			script := firstBootFrom(t, nf.UserData)
			p := filepath.Join(dir, name+"-"+nf.Node.Name+".sh")
			if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
				t.Errorf("%s/%s: sh -n: %v\n%s", name, nf.Node.Name, err, out)
			}
			if sc != "" {
				if out, err := exec.Command(sc, "-s", "sh", p).CombinedOutput(); err != nil {
					t.Errorf("%s/%s: shellcheck: %v\n%s", name, nf.Node.Name, err, out)
				}
			}
		}
	}
	if sc == "" {
		t.Log("shellcheck not installed; only sh -n ran")
	}
}

func firstBootFrom(t *testing.T, userData []byte) string {
	t.Helper()
	var cc struct {
		WriteFiles []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(userData, &cc); err != nil {
		t.Fatal(err)
	}
	for _, f := range cc.WriteFiles {
		if f.Path == generator.FirstBootPath {
			return f.Content
		}
	}
	t.Fatal("no first-boot script in user-data")
	return ""
}
