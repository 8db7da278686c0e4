package generator_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/membership"
	"github.com/etcdimg/etcdimg/model"
)

// renderDay2 renders the blog's cluster on day 2: k8s01-k8s03 bootstrapped
// it, k8s04 was added later (a join seed) and k8s02 was replaced (a
// replacement seed, instance-id -r1). Rendered into
// testdata/golden/day2/<node>/ and run through every check renderAll feeds
// (cloud-init schema, PyYAML, sh -n and shellcheck of the first-boot script).
func renderDay2(t *testing.T) []generator.NodeFiles {
	t.Helper()
	c := day2Cluster(t)
	files, err := generator.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func day2Cluster(t *testing.T) *model.Cluster {
	t.Helper()
	s := goldenSpecs["seed-cluster"]
	c := load(t, s.path, s.opts)
	st, err := membership.Next(nil, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	n4 := c.Nodes[2]
	n4.Name, n4.FQDN, n4.IP, n4.MAC = "k8s04", "k8s04.virtual.local", netip.MustParseAddr("192.168.0.150"), "52:54:00:00:01:50"
	c.Nodes = append(c.Nodes, n4)
	if st, err = membership.Next(st, c, nil); err != nil {
		t.Fatal(err)
	}
	if st, err = membership.Next(st, c, []string{"k8s02"}); err != nil {
		t.Fatal(err)
	}
	if c.Membership, err = st.Model(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDay2Seeds: the bootstrap members' seeds are what a first build
// gives; the joiner and the replacement carry the join service and script
// and a unit without --initial-cluster.
func TestDay2Seeds(t *testing.T) {
	s := goldenSpecs["seed-cluster"]
	first, err := generator.Render(load(t, s.path, s.opts))
	if err != nil {
		t.Fatal(err)
	}
	day2 := renderDay2(t)
	for i, want := range map[int]string{0: "k8s01", 2: "k8s03"} {
		if string(day2[i].UserData) != string(first[i].UserData) || string(day2[i].MetaData) != string(first[i].MetaData) {
			t.Errorf("%s: a bootstrap member's seed changed on day 2", want)
		}
	}
	for _, nf := range day2[1:] {
		if nf.Node.Name == "k8s03" {
			continue
		}
		ud := string(nf.UserData)
		for _, want := range []string{generator.JoinScriptPath, generator.JoinServicePath, "--initial-cluster-state=existing",
			"systemctl start --no-block etcdimg-join.service"} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s: user-data lacks %q", nf.Node.Name, want)
			}
		}
		if strings.Contains(ud, "--initial-cluster=") || strings.Contains(ud, "enable --now --no-block etcd.service") {
			t.Errorf("%s: a joiner's seed bootstraps or starts etcd itself", nf.Node.Name)
		}
	}
	if md := string(day2[1].MetaData); !strings.Contains(md, "etcdimg-k8s-k8s02-r1") {
		t.Errorf("k8s02's replacement keeps its instance-id:\n%s", md)
	}
}

// TestJoinScriptLints checks the join and replace scripts with sh -n and,
// where installed, shellcheck.
func TestJoinScriptLints(t *testing.T) {
	sc, _ := exec.LookPath("shellcheck")
	dir := t.TempDir()
	c := day2Cluster(t)
	linted := 0
	for _, n := range c.Nodes {
		if c.IsBootstrap(n) {
			continue
		}
		script, err := generator.JoinScript(c, n)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, n.Name+".sh")
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", n.Name, err, out)
		}
		if sc != "" {
			if out, err := exec.Command(sc, "-s", "sh", p).CombinedOutput(); err != nil {
				t.Errorf("%s: shellcheck: %v\n%s", n.Name, err, out)
			}
		}
		linted++
	}
	if linted != 2 {
		t.Errorf("linted %d join scripts, want 2 (k8s02 replace, k8s04 join)", linted)
	}
}
