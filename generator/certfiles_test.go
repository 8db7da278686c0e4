package generator_test

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/etcdflags"
	"github.com/etcdimg/etcdimg/pki"
	"github.com/etcdimg/etcdimg/release"
)

// TestNodeFilesDriveEveryConsumer: each entry of pki.NodeFiles reaches the
// seed (name, mode, content), the first-boot install line (mode, owner),
// the etcd command line (its flags, with the VM path) and etcdctl.env (its
// variable), so a new certificate needs nothing but its entry.
func TestNodeFilesDriveEveryConsumer(t *testing.T) {
	s := goldenSpecs["seed-cluster"]
	c := load(t, s.path, s.opts)
	n := c.Nodes[0]
	nfs, err := generator.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	files := pki.NodeFiles()
	p := generator.NodePKI{}
	for _, f := range files {
		p[f.Name] = []byte("content of " + f.Name)
	}
	seed, err := generator.Seed(c, nfs[0], &release.Release{Name: "etcd.tar.gz"}, "/dev/null", p)
	if err != nil {
		t.Fatal(err)
	}
	args := generator.EtcdArgs(c, n)
	script := firstBootFrom(t, nfs[0].UserData)
	ud := string(nfs[0].UserData)
	for _, f := range files {
		i := slices.IndexFunc(seed, func(sf generator.SeedFile) bool { return sf.Path == path.Join(generator.SeedDir, "pki", f.Name) })
		if i < 0 || seed[i].Mode != f.SeedMode || string(seed[i].Data) != "content of "+f.Name {
			t.Errorf("%s: not on the seed as listed", f.Name)
		}
		install := fmt.Sprintf(`put "$seed/etcdimg/pki/%s" "$PKI_DIR/%s" %04o "$ETCD_USER" "$ETCD_GROUP" && changed=`, f.Name, f.Name, f.Mode)
		if !strings.Contains(script, install) {
			t.Errorf("%s: first boot lacks %q", f.Name, install)
		}
		vm := generator.VMPKIFile(c, f.Name)
		for _, fl := range f.Flags {
			if !slices.Contains(args, "--"+fl.Name+"="+vm) {
				t.Errorf("%s: etcd lacks --%s=%s", f.Name, fl.Name, vm)
			}
			// etcdimg sets it, so an extra flag must be refused.
			if _, ok := etcdflags.Managed(fl.Name); !ok {
				t.Errorf("--%s is fed by %s but not in etcdflags' managed list", fl.Name, f.Name)
			}
		}
		if f.Env != "" && !strings.Contains(ud, f.Env+"="+vm+"\n") {
			t.Errorf("%s: etcdctl.env lacks %s=%s", f.Name, f.Env, vm)
		}
	}
}

// TestEtcdArgsAreManaged: every flag etcdimg writes itself is one the
// managed list refuses as an extra flag, pointing at its spec field.
func TestEtcdArgsAreManaged(t *testing.T) {
	for name, s := range goldenSpecs {
		c := load(t, s.path, s.opts)
		extra := map[string]bool{}
		for _, f := range c.Etcd.ExtraFlags {
			extra[f.Name] = true
		}
		for _, a := range generator.EtcdArgs(c, c.Nodes[0]) {
			flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if _, ok := etcdflags.Managed(flag); !ok && !extra[flag] {
				t.Errorf("%s: etcdimg writes --%s, but the managed list would let an extra flag fight it", name, flag)
			}
		}
	}
}
