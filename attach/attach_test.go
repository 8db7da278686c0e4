package attach

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// example is the README's cluster: the blog's three nodes.
func example(seedDir, format string, macs bool) []Node {
	var nodes []Node
	for i, ip := range []string{"192.168.0.147", "192.168.0.148", "192.168.0.149"} {
		n := Node{Name: fmt.Sprintf("k8s%02d", i+1), IP: ip, SeedFormat: format}
		ext := ".iso"
		if format == FormatVFAT {
			ext = ".img"
		}
		n.Seed = filepath.Join(seedDir, n.Name+ext)
		if macs {
			n.MAC = fmt.Sprintf("52:54:00:00:01:%d", 47+i)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

type variant struct {
	name   string
	format string
	macs   bool
	opts   Options
	arch   string
}

func (v variant) nodes(seedDir string) []Node {
	nodes := example(seedDir, v.format, v.macs)
	for i := range nodes {
		nodes[i].Arch = v.arch
	}
	return nodes
}

var variants = []variant{
	{"mac", FormatISO, true, Options{Cluster: "k8s"}, ""},
	{"nomac", FormatISO, false, Options{Cluster: "k8s"}, ""},
	{"vfat", FormatVFAT, true, Options{Cluster: "k8s"}, ""},
	{"ide-natnetwork", FormatISO, true, Options{Cluster: "k8s", CDBus: "ide", VBoxNATNetwork: "etcd", MemoryMiB: 2048, VCPUs: 1, Network: "etcd-net"}, ""},
	// What a host whose /dev/kvm does not work needs (issue 14).
	{"virt-type-qemu", FormatISO, true, Options{Cluster: "k8s", VirtInstallArgs: []string{"--virt-type", "qemu"}}, ""},
	// etcd.arch arm64: QEMU's aarch64 virt machine; VirtualBox refuses.
	{"arm64", FormatISO, true, Options{Cluster: "k8s"}, "arm64"},
}

const goldenSeedDir = "/srv/etcdimg/out/seed-cluster"

// TestGolden pins the scripts of the example cluster, with and without MACs,
// with vfat seeds, and with the non-default buses and networks.
func TestGolden(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			paths, err := Write(dir, v.nodes(goldenSeedDir), v.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", v.name)
			if *update {
				os.RemoveAll(golden)
				if err := os.MkdirAll(golden, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range paths {
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				g := filepath.Join(golden, filepath.Base(p))
				if *update {
					if err := os.WriteFile(g, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(g)
				if err != nil {
					t.Fatalf("%v (go test ./attach -update writes the goldens)", err)
				}
				if string(got) != string(want) {
					t.Errorf("%s differs from %s (go test ./attach -update rewrites it):\n%s", filepath.Base(p), g, diffLines(string(want), string(got)))
				}
			}
		})
	}
}

// diffLines shows the first differing lines, enough to see what changed.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, a, b)
		}
	}
	return ""
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	old := umask(0o077)
	paths, err := Write(dir, example("/seeds", FormatISO, true), Options{})
	umask(old)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range []string{"k8s01", "k8s02", "k8s03"} {
		want = append(want, filepath.Join(dir, n+".libvirt.sh"), filepath.Join(dir, n+".virtualbox.sh"))
	}
	if !slices.Equal(paths, want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != 0o755 {
			t.Errorf("%s: mode %v, want 0755 whatever the umask", p, st.Mode())
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 6 {
		t.Errorf("%d files in the folder, want the 6 scripts only", len(es))
	}

	bad := []struct {
		name   string
		nodes  []Node
		opts   Options
		errHas string
	}{
		{"relative seed", []Node{{Name: "n1", Seed: "out/n1.iso", SeedFormat: FormatISO}}, Options{}, `seed path "out/n1.iso" is not absolute`},
		{"format", []Node{{Name: "n1", Seed: "/n1.iso", SeedFormat: "qcow2"}}, Options{}, `seed format "qcow2"`},
		{"name", []Node{{Name: "N1;rm", Seed: "/n1.iso", SeedFormat: FormatISO}}, Options{}, "not a DNS label"},
		{"mac", []Node{{Name: "n1", MAC: "52:54:00", Seed: "/n1.iso", SeedFormat: FormatISO}}, Options{}, "not a MAC address"},
		{"multicast", []Node{{Name: "n1", MAC: "01:00:5e:00:00:01", Seed: "/n1.iso", SeedFormat: FormatISO}}, Options{}, "multicast"},
		{"newline", []Node{{Name: "n1", Seed: "/a\nb.iso", SeedFormat: FormatISO}}, Options{}, "control character"},
		{"xml", []Node{{Name: "n1", Seed: "/a&b.iso", SeedFormat: FormatISO}}, Options{}, "virt-install garbles"},
		{"disk", example("/s", FormatISO, true), Options{DiskPath: func(n string) string { return "/it's/" + n }}, "disk path"},
		{"twice", []Node{{Name: "n1", Seed: "/n1.iso", SeedFormat: FormatISO}, {Name: "n1", Seed: "/n1.iso", SeedFormat: FormatISO}}, Options{}, "listed twice"},
		{"bus", example("/s", FormatISO, true), Options{CDBus: "sata"}, `CD bus "sata"`},
		{"memory", example("/s", FormatISO, true), Options{MemoryMiB: -1}, "negative"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Write(dir, c.nodes, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("error %v, want one containing %q", err, c.errHas)
			}
			if es, _ := os.ReadDir(dir); len(es) != 0 {
				t.Errorf("wrote %d files despite the error", len(es))
			}
		})
	}
}

func TestReadCluster(t *testing.T) {
	dir := t.TempDir()
	cj := `{"schemaVersion": 1, "name": "k8s", "tls": false, "etcdVersion": "3.6.16", "nodes": [
		{"name": "k8s01", "ip": "192.168.0.147", "clientURLs": ["http://192.168.0.147:2379"], "mac": "52:54:00:00:01:47", "iso": "k8s01.iso"},
		{"name": "k8s02", "ip": "192.168.0.148", "clientURLs": ["http://192.168.0.148:2379"], "vfat": "k8s02.img"},
		{"name": "k8s03", "ip": "192.168.0.149", "clientURLs": ["http://192.168.0.149:2379"]}
	]}`
	if err := os.WriteFile(filepath.Join(dir, "cluster.json"), []byte(cj), 0o644); err != nil {
		t.Fatal(err)
	}
	name, nodes, err := ReadCluster(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{Name: "k8s01", MAC: "52:54:00:00:01:47", IP: "192.168.0.147", Seed: filepath.Join(dir, "k8s01.iso"), SeedFormat: FormatISO, Arch: "amd64"},
		{Name: "k8s02", IP: "192.168.0.148", Seed: filepath.Join(dir, "k8s02.img"), SeedFormat: FormatVFAT, Arch: "amd64"},
	}
	if name != "k8s" || !slices.Equal(nodes, want) {
		t.Errorf("got %q %+v\nwant k8s %+v", name, nodes, want)
	}
	// etcd.arch arm64 reaches every node of the scripts.
	arm := strings.Replace(cj, `"tls": false,`, `"tls": false, "arch": "arm64",`, 1)
	if err := os.WriteFile(filepath.Join(dir, "cluster.json"), []byte(arm), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, nodes, err := ReadCluster(dir); err != nil || len(nodes) != 2 || nodes[0].Arch != "arm64" || nodes[1].Arch != "arm64" {
		t.Errorf("arm64 cluster.json: %+v, %v", nodes, err)
	}
	bad := strings.Replace(cj, `"tls": false,`, `"tls": false, "arch": "x86_64",`, 1)
	os.WriteFile(filepath.Join(dir, "cluster.json"), []byte(bad), 0o644)
	if _, _, err := ReadCluster(dir); err == nil || !strings.Contains(err.Error(), `arch "x86_64" is not amd64 or arm64`) {
		t.Errorf("arch x86_64 in cluster.json: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "cluster.json"), []byte(cj), 0o644)
	// A relative folder still gives absolute seed paths.
	t.Chdir(filepath.Dir(dir))
	if _, nodes, err := ReadCluster(filepath.Base(dir)); err != nil || nodes[0].Seed != want[0].Seed {
		t.Errorf("relative folder: %v %v", nodes, err)
	}
	empty := t.TempDir()
	b, _ := json.Marshal(map[string]any{"schemaVersion": 1, "name": "k8s", "nodes": []map[string]any{{"name": "k8s01", "ip": "192.168.0.147", "clientURLs": []string{"http://192.168.0.147:2379"}}}})
	os.WriteFile(filepath.Join(empty, "cluster.json"), b, 0o644)
	if _, _, err := ReadCluster(empty); err == nil || !strings.Contains(err.Error(), "lists no seed") {
		t.Errorf("no seeds: %v", err)
	}
	if _, _, err := ReadCluster(t.TempDir()); err == nil {
		t.Error("no cluster.json: no error")
	}
}

// TestShell runs bash -n and, when installed, shellcheck over every variant,
// with plain paths and with paths that need their quoting (where shellcheck's
// note that $ does not expand in single quotes is the point).
func TestShell(t *testing.T) {
	_, err := exec.LookPath("shellcheck")
	haveShellcheck := err == nil
	if !haveShellcheck {
		t.Log("shellcheck not installed (apt-get install -y shellcheck): only bash -n runs")
	}
	for _, v := range variants {
		for _, dir := range []string{goldenSeedDir, "/srv/seeds with space/$x"} {
			paths, err := Write(t.TempDir(), v.nodes(dir), v.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				if out, err := exec.Command("bash", "-n", p).CombinedOutput(); err != nil {
					t.Errorf("%s: bash -n %s: %v\n%s", v.name, filepath.Base(p), err, out)
				}
				if !haveShellcheck {
					continue
				}
				args := []string{"-s", "bash", p}
				if dir != goldenSeedDir {
					args = append([]string{"-e", "SC2016"}, args...)
				}
				if out, err := exec.Command("shellcheck", args...).CombinedOutput(); err != nil {
					t.Errorf("%s: shellcheck %s: %v\n%s", v.name, filepath.Base(p), err, out)
				}
			}
		}
	}
}

// TestQuoting checks that values with quotes, spaces and commas come through
// the script's own quoting to the commands unchanged.
func TestQuoting(t *testing.T) {
	seed := "/srv/a seed, really/$HOME/`id`/back\\slash;/k8s01.iso"
	n := Node{Name: "k8s01", Seed: seed, SeedFormat: FormatISO}
	s := Libvirt(n, Options{})
	vars := shellVars(t, s)
	if vars["seed"] != seed {
		t.Errorf("seed=%q, want %q", vars["seed"], seed)
	}
	// vq, as the script defines it, must turn the path into a value
	// virt-install's option parser (shlex, comma-separated) gives back whole.
	fn := s[strings.Index(s, "vq() {"):]
	fn = fn[:strings.Index(fn, "\n}\n")+3]
	out, err := exec.Command("bash", "-c", fn+`vq "$1"`, "bash", seed).Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed: cannot check vq against shlex")
	}
	py := `import shlex, sys
l = shlex.shlex(sys.argv[1], posix=True)
l.commenters = ""
l.whitespace = ","
l.whitespace_split = True
print("\n".join(l), end="")`
	got, err := exec.Command("python3", "-c", py, "path="+string(out)+",bus=scsi").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "path=" + seed + "\nbus=scsi"; string(got) != want {
		t.Errorf("virt-install would read %q, want %q", got, want)
	}
}

// TestWriteRefusesLinks (issues 10.4, 11.7): a script name that is a link
// is refused with its path, nothing is written (not even the other
// scripts), and the link's target is untouched.
func TestWriteRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	link := filepath.Join(dir, "k8s02.virtualbox.sh")
	os.Symlink(victim, link)
	_, err := Write(dir, example("/seeds", FormatISO, true), Options{})
	if err == nil || !strings.Contains(err.Error(), link) {
		t.Fatalf("error %v, want a refusal naming %s", err, link)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("link target written: %q", b)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("folder holds %d entries, want only the link", len(es))
	}
}
