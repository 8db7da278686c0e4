package membership_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/membership"
	"github.com/etcdimg/etcdimg/model"
)

func cluster(names ...string) *model.Cluster {
	c := &model.Cluster{Name: "k8s", TLS: model.TLS{Enabled: true}, Etcd: model.Etcd{PeerPort: 2380, ClientPort: 2379}}
	for i, n := range names {
		c.Nodes = append(c.Nodes, model.Node{Name: n, FQDN: n, IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})})
	}
	return c
}

func kinds(t *testing.T, f *membership.File) string {
	t.Helper()
	var s []string
	for _, e := range f.Members {
		k := e.Name + ":" + e.Seed
		if e.Bootstrap {
			k += "+b"
		}
		if e.Generation > 0 {
			k += "@" + string(rune('0'+e.Generation))
		}
		if e.Removed {
			k += "-removed"
		}
		s = append(s, k)
	}
	return strings.Join(s, " ")
}

// TestNext walks a cluster's life: bootstrap, grow, replace, shrink, and a
// node coming back.
func TestNext(t *testing.T) {
	steps := []struct {
		nodes   []string
		replace []string
		want    string
		ic      string // InitialCluster of the bootstrap seeds
	}{
		{[]string{"a", "b", "c"}, nil, "a:bootstrap+b b:bootstrap+b c:bootstrap+b", "a=https://10.0.0.10:2380,b=https://10.0.0.11:2380,c=https://10.0.0.12:2380"},
		{[]string{"a", "b", "c", "d"}, nil, "a:bootstrap+b b:bootstrap+b c:bootstrap+b d:join", "a=https://10.0.0.10:2380,b=https://10.0.0.11:2380,c=https://10.0.0.12:2380"},
		{[]string{"a", "b", "c", "d"}, []string{"b"}, "a:bootstrap+b b:replace+b@1 c:bootstrap+b d:join", ""},
		{[]string{"a", "b", "c", "d"}, nil, "a:bootstrap+b b:replace+b@1 c:bootstrap+b d:join", ""},
		{[]string{"b", "c", "d"}, nil, "a:bootstrap+b-removed b:replace+b@1 c:bootstrap+b d:join", "a=https://10.0.0.10:2380,b=https://10.0.0.10:2380,c=https://10.0.0.11:2380"},
		{[]string{"b", "c", "d", "a"}, nil, "a:join+b@1 b:replace+b@1 c:bootstrap+b d:join", ""},
	}
	var f *membership.File
	for i, st := range steps {
		c := cluster(st.nodes...)
		next, err := membership.Next(f, c, st.replace)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := kinds(t, next); got != st.want {
			t.Errorf("step %d: %s, want %s", i, got, st.want)
		}
		if c.Membership, err = next.Model(); err != nil {
			t.Fatal(err)
		}
		if st.ic != "" && c.InitialCluster() != st.ic {
			t.Errorf("step %d: initial cluster %s, want %s", i, c.InitialCluster(), st.ic)
		}
		f = next
	}
	c := cluster("b", "c", "d", "a")
	c.Membership, _ = f.Model()
	for name, want := range map[string]string{"a": "etcdimg-k8s-a-r1", "b": "etcdimg-k8s-b-r1", "c": "etcdimg-k8s-c", "d": "etcdimg-k8s-d"} {
		n, _ := c.Node(name)
		if got := c.InstanceID(n); got != want {
			t.Errorf("instance-id of %s: %s, want %s", name, got, want)
		}
	}
}

func TestNextRefuses(t *testing.T) {
	c := cluster("a", "b", "c")
	if _, err := membership.Next(nil, c, []string{"a"}); err == nil || !strings.Contains(err.Error(), "first build bootstraps") {
		t.Errorf("--replace on a first build: %v", err)
	}
	f, _ := membership.Next(nil, c, nil)
	if _, err := membership.Next(f, cluster("a", "b", "c", "d"), []string{"d"}); err == nil || !strings.Contains(err.Error(), "d is not a member yet") {
		t.Errorf("--replace of a new node: %v", err)
	}
	other := cluster("a", "b", "c")
	other.Name = "other"
	if _, err := membership.Next(f, other, nil); err == nil || !strings.Contains(err.Error(), `cluster "k8s"`) {
		t.Errorf("another cluster's state: %v", err)
	}
}

func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	p := membership.Path(dir, "unused", true)
	if f, err := membership.Read(p); f != nil || err != nil {
		t.Fatalf("no file: %v %v", f, err)
	}
	f, _ := membership.Next(nil, cluster("a", "b", "c"), nil)
	if err := membership.Write(p, f); err != nil {
		t.Fatal(err)
	}
	got, err := membership.Read(p)
	if err != nil || kinds(t, got) != kinds(t, f) {
		t.Fatalf("read back %v: %v", got, err)
	}
	os.WriteFile(p, []byte(`{"schemaVersion": 2}`), 0o644)
	if _, err := membership.Read(p); err == nil || !strings.Contains(err.Error(), "schemaVersion 2") {
		t.Errorf("schema 2: %v", err)
	}
	if got := membership.Path("pki", "out", false); got != filepath.Join("out", membership.FileName) {
		t.Errorf("path without tls: %s", got)
	}
}

// TestNextRestore: a restore is recorded by the build that bootstraps the
// restored cluster; over any other record (not restored, or restored from
// another snapshot) it is ErrRestore; the same snapshot again passes (and a
// grown spec joins the restored cluster); a build without the snapshot of a
// restored cluster is ErrRestoreMissing.
func TestNextRestore(t *testing.T) {
	restore := func(c *model.Cluster, sum string) *model.Cluster {
		c.Restore = &model.Restore{SHA256: sum, Token: model.RestoreToken("k8s", sum)}
		c.Token = c.Restore.Token
		return c
	}
	a := strings.Repeat("a", 64)
	plain, err := membership.Next(nil, cluster("a", "b", "c"), nil)
	if err != nil || plain.Restore != nil {
		t.Fatalf("first build: %+v %v", plain, err)
	}
	if _, err := membership.Next(plain, restore(cluster("a", "b", "c"), a), nil); err != membership.ErrRestore {
		t.Errorf("restore over a cluster that was not restored: %v", err)
	}
	f, err := membership.Next(nil, restore(cluster("a", "b", "c"), a), nil)
	if err != nil || f.Restore == nil || f.Restore.SHA256 != a || f.Restore.Token != "k8s-raaaaaaaaaaa" || kinds(t, f) != "a:bootstrap+b b:bootstrap+b c:bootstrap+b" {
		t.Fatalf("restore into a fresh record: %+v %v", f, err)
	}
	g, err := membership.Next(f, restore(cluster("a", "b", "c", "d"), a), nil)
	if err != nil || g.Restore == nil || *g.Restore != *f.Restore || kinds(t, g) != "a:bootstrap+b b:bootstrap+b c:bootstrap+b d:join" {
		t.Errorf("the same restore with a grown spec: %+v %v", g, err)
	}
	if _, err := membership.Next(f, restore(cluster("a", "b", "c"), strings.Repeat("b", 64)), nil); err != membership.ErrRestore {
		t.Errorf("another snapshot over a restored cluster: %v", err)
	}
	if _, err := membership.Next(f, cluster("a", "b", "c"), nil); err != membership.ErrRestoreMissing {
		t.Errorf("a restored cluster built without its snapshot: %v", err)
	}
}
