package pipeline_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/testrelease"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pipeline"
	"github.com/etcdimg/etcdimg/pki"
	yaml "go.yaml.in/yaml/v3"
)

// guest is a node's file system for the first-boot script: /etc, /var,
// /usr/local and /run are folders of the test, mounted over the real ones
// in a private mount namespace; /dev is a tmpfs whose
// /dev/disk/by-label/cidata names the seed ISO. systemctl and udevadm are
// fakes (systemctl logs its arguments). mount and umount are fakes too: the
// kernel of a test host may lack iso9660, so "mounting" the seed unpacks it
// with xorriso (a real ISO reader, so the seed's Rock Ridge names and modes
// are what the script reads) into the mount point, read-only.
type guest struct {
	t    *testing.T
	root string
	log  string // the fake systemctl's log
}

// converge mount script: runs as root inside `unshare --mount`.
const guestRun = `set -eu
root=$1 iso=$2
mount --make-rprivate /
for d in etc var usr/local run; do mount --bind "$root/$d" "/$d"; done
mount -t tmpfs -o mode=0755 tmpfs "$root/dev"
cp -a /dev/null /dev/zero /dev/urandom /dev/random "$root/dev/"
mkdir -p "$root/dev/disk/by-label"
ln -s "$iso" "$root/dev/disk/by-label/cidata"
mount --bind "$root/dev" /dev
export PATH="$root/fake:$PATH"
exec /usr/local/sbin/etcdimg-firstboot
`

func newGuest(t *testing.T) *guest {
	g := &guest{t: t, root: t.TempDir()}
	for _, d := range []string{"etc", "var/lib", "var/tmp", "usr/local/bin", "usr/local/sbin", "run", "dev", "fake"} {
		if err := os.MkdirAll(filepath.Join(g.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The etcd user of the spec below, and what the script's tools read.
	for _, f := range []string{"passwd", "group", "nsswitch.conf"} {
		if data, err := os.ReadFile("/etc/" + f); err == nil {
			if err := os.WriteFile(filepath.Join(g.root, "etc", f), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Debian's awk (and others) are links through /etc/alternatives.
	if out, err := exec.Command("cp", "-a", "/etc/alternatives", filepath.Join(g.root, "etc")).CombinedOutput(); err != nil {
		t.Fatalf("cp /etc/alternatives: %v\n%s", err, out)
	}
	g.log = filepath.Join(g.root, "systemctl.log")
	fakes := map[string]string{
		// Like systemd, it holds a copy of etcd's unit from when it loaded
		// it (first start, or daemon-reload) and says NeedDaemonReload=yes
		// when the file differs; is-active answers as $ETCD_ACTIVE says.
		"systemctl": "#!/bin/sh\necho \"$*\" >>" + shq(g.log) + "\n" +
			"u=/etc/systemd/system/etcd.service l=" + shq(filepath.Join(g.root, "loaded.etcd.service")) + "\n" +
			"case $1 in\n" +
			"is-active) exit \"${ETCD_ACTIVE:-0}\" ;;\n" +
			"show) if [ -f \"$l\" ] && ! cmp -s \"$u\" \"$l\"; then echo yes; else echo no; fi ;;\n" +
			"daemon-reload) cp \"$u\" \"$l\" ;;\n" +
			"start | restart) [ -f \"$l\" ] || cp \"$u\" \"$l\" ;;\n" +
			"esac\n",
		"udevadm": "#!/bin/sh\nexit 0\n",
		// mount -o ro DEV DIR
		"mount": "#!/bin/sh\n[ \"$1 $2\" = \"-o ro\" ] || exit 32\n" +
			"xorriso -osirrox on -indev \"$(readlink -f \"$3\")\" -extract / \"$4\" >/dev/null 2>&1 || exit 32\n" +
			"chmod -R a-w \"$4\"\n",
		"umount": "#!/bin/sh\ncase $1 in /run/etcdimg-seed.*) [ -n \"$(ls -A \"$1\")\" ] || exit 32; chmod -R u+w \"$1\"; find \"$1\" -mindepth 1 -delete ;; *) exit 32 ;; esac\n",
		"logger": "#!/bin/sh\nexit 0\n",
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(g.root, "fake", name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (g *guest) path(p string) string { return filepath.Join(g.root, p) }

func (g *guest) read(p string) string {
	data, err := os.ReadFile(g.path(p))
	if err != nil {
		g.t.Fatal(err)
	}
	return string(data)
}

// boot does what cloud-init does for a new instance of the node: write_files
// from user-data, then the first-boot script from runcmd, with the seed
// attached. It returns the script's output, the systemctl calls and the
// script's error.
func (g *guest) boot(nodeDir, iso string) (out string, calls []string, err error) {
	g.t.Helper()
	var ud struct {
		WriteFiles []struct{ Path, Content, Permissions string } `yaml:"write_files"`
	}
	data, rerr := os.ReadFile(filepath.Join(nodeDir, "user-data"))
	if rerr != nil {
		g.t.Fatal(rerr)
	}
	if err := yaml.Unmarshal(data, &ud); err != nil {
		g.t.Fatal(err)
	}
	for _, f := range ud.WriteFiles {
		p := g.path(f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if f.Permissions == "0755" {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(f.Content), mode); err != nil {
			g.t.Fatal(err)
		}
	}
	_ = os.Remove(g.log)
	cmd := exec.Command("unshare", "--mount", "sh", "-c", guestRun, "guest", g.root, iso)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err = cmd.Run()
	if err == nil {
		// etcd (re)started from the unit on disk, never from a stale copy.
		if loaded, lerr := os.ReadFile(g.path("loaded.etcd.service")); lerr != nil || string(loaded) != g.read("etc/systemd/system/etcd.service") {
			g.t.Errorf("systemd runs etcd from a stale unit (%v)", lerr)
		}
	}
	if l, rerr := os.ReadFile(g.log); rerr == nil {
		calls = strings.Split(strings.TrimSpace(string(l)), "\n")
	}
	return b.String(), calls, err
}

// TestFirstBootConverges runs the first-boot script a seed carries against a
// node's file system, as cloud-init would on the node's first boot and on
// each later boot with a rebuilt seed (a new instance-id): the first boot
// installs and starts etcd; a seed that only renews certificates replaces
// them and restarts etcd once without touching the binaries; a seed of the
// next minor installs it; a downgrade, a skipped minor and a data dir of
// another member are refused before anything on the node changes; and a
// rebuild that changes nothing for a node leaves its seed byte-identical.
func TestFirstBootConverges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the first-boot script runs in a private mount namespace")
	}
	for _, tool := range []string{"unshare", "mount", "xorriso", "sha256sum", "tar", "awk", "cmp", "stat", "install"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}

	work := t.TempDir()
	spec := filepath.Join(work, "cluster.jsonnet")
	patch := `{ etcd: { version: std.extVar('version'), quotaBackendBytes: std.parseInt(std.extVar('quota')),
	  user: { name: 'nobody', group: 'nogroup', uid: 4242, gid: 4242 } } }`
	if err := os.WriteFile(spec, []byte(strings.Replace(baseSpec, "%s", patch, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, pkiDir := filepath.Join(work, "out"), filepath.Join(work, "pki")
	quota := "2147483648"
	build := func(version string) (*outdir.Cluster, map[string][]byte) {
		t.Helper()
		relDir := filepath.Join(work, "rel-"+version)
		if err := os.MkdirAll(relDir, 0o755); err != nil {
			t.Fatal(err)
		}
		rel, sha := testrelease.Write(t, relDir, version, 0)
		mustBuild(t, pipeline.Options{
			Spec: spec, OutDir: out, PKIDir: pkiDir, CacheDir: filepath.Join(work, "cache"),
			Jsonnet: jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": sha, "version": version, "quota": quota}},
			Epoch:   time.Unix(1700000000, 0), Force: true,
		})
		c, err := outdir.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		return c, seedBytes(t, out, "etcd01", "etcd02", "etcd03")
	}
	iid := func(c *outdir.Cluster, name string) string { n, _ := c.Node(name); return n.InstanceID }
	node := filepath.Join(out, "etcd01")
	iso := filepath.Join(out, "etcd01.iso")
	g := newGuest(t)
	pkiFile := func(name string) string { return g.read("etc/etcd/pki/" + name) }
	wantPKI := func(when string) {
		t.Helper()
		for _, f := range []string{"server.crt", "server.key", "peer.crt", "ca.crt"} {
			want, err := os.ReadFile(filepath.Join(pkiDir, "nodes", "etcd01", f))
			if f == "ca.crt" {
				want, err = os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
			}
			if err != nil {
				t.Fatal(err)
			}
			if pkiFile(f) != string(want) {
				t.Errorf("%s: %s on the node is not the PKI's", when, f)
			}
		}
		st, err := os.Stat(g.path("etc/etcd/pki/server.key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: server.key mode %v (%v)", when, st.Mode(), err)
		}
	}
	has := func(calls []string, c string) bool {
		for _, x := range calls {
			if x == c {
				return true
			}
		}
		return false
	}
	count := func(calls []string, prefix string) int {
		n := 0
		for _, x := range calls {
			if strings.HasPrefix(x, prefix) {
				n++
			}
		}
		return n
	}

	// First boot: install and start, one systemd reload (enable), no restart.
	c1, seeds1 := build("3.6.16")
	outp, calls, err := g.boot(node, iso)
	if err != nil {
		t.Fatalf("first boot: %v\n%s", err, outp)
	}
	if !strings.Contains(outp, "etcdimg: extract ") || strings.Contains(outp, "converging") {
		t.Errorf("first boot output:\n%s", outp)
	}
	if !has(calls, "enable --no-reload etcd.service") || !has(calls, "start --no-block etcd.service") || count(calls, "restart") != 0 || count(calls, "daemon-reload") != 0 {
		t.Errorf("first boot systemctl calls %q", calls)
	}
	wantPKI("first boot")
	if g.read("etc/systemd/system/etcd.service") != g.read(generator.StagedUnitPath) {
		t.Error("first boot: the unit is not the staged one")
	}
	if st := g.read(generator.StatePath); !strings.Contains(st, "version=3.6.16\n") || !strings.Contains(st, "ident=cluster=test token=") {
		t.Errorf("state after first boot:\n%s", st)
	}
	etcd1 := g.read("usr/local/bin/etcd")
	// etcd ran: the data dir holds a member from now on.
	if err := os.MkdirAll(g.path("var/lib/etcd/member/wal"), 0o700); err != nil {
		t.Fatal(err)
	}

	// The same seed again (a newer instance with the same content): nothing
	// changes, etcd is started, not restarted, binaries are not unpacked.
	outp, calls, err = g.boot(node, iso)
	if err != nil {
		t.Fatalf("same seed: %v\n%s", err, outp)
	}
	if strings.Contains(outp, "etcdimg: extract ") || strings.Contains(outp, "etcdimg: checksum ") || !strings.Contains(outp, "etcdimg: changed: nothing") {
		t.Errorf("same seed output:\n%s", outp)
	}
	if count(calls, "restart") != 0 || !has(calls, "start --no-block etcd.service") {
		t.Errorf("same seed systemctl calls %q", calls)
	}

	// A rebuild that changes nothing: byte-identical seeds, same ids.
	c2, seeds2 := build("3.6.16")
	for name, b := range seeds1 {
		if !bytes.Equal(b, seeds2[name]) {
			t.Errorf("an unchanged rebuild changed %s", name)
		}
	}
	if iid(c1, "etcd01") != iid(c2, "etcd01") {
		t.Errorf("an unchanged rebuild changed the instance-id: %s, %s", iid(c1, "etcd01"), iid(c2, "etcd01"))
	}

	// Renewed certificates of etcd01 only: its seed (and id) change, the
	// others' do not; on the node the certificates are replaced and etcd
	// restarts once; the binaries stay.
	oldCrt := pkiFile("server.crt")
	if _, err := pki.RenewLeaves(pki.RenewOptions{Dir: pkiDir, Nodes: []string{"etcd01"}, NewKeys: true}); err != nil {
		t.Fatal(err)
	}
	c3, seeds3 := build("3.6.16")
	if iid(c3, "etcd01") == iid(c2, "etcd01") || bytes.Equal(seeds3["etcd01.iso"], seeds2["etcd01.iso"]) {
		t.Error("renewed certificates did not change etcd01's seed and instance-id")
	}
	for _, name := range []string{"etcd02", "etcd03"} {
		if iid(c3, name) != iid(c2, name) || !bytes.Equal(seeds3[name+".iso"], seeds2[name+".iso"]) {
			t.Errorf("renewing etcd01's certificates changed %s's seed", name)
		}
	}
	outp, calls, err = g.boot(node, iso)
	if err != nil {
		t.Fatalf("renewed certificates: %v\n%s", err, outp)
	}
	if strings.Contains(outp, "etcdimg: extract ") || !strings.Contains(outp, "server.crt") || !strings.Contains(outp, "etcdimg: converging") {
		t.Errorf("renewed certificates output:\n%s", outp)
	}
	if count(calls, "restart") != 1 || !has(calls, "restart --no-block etcd.service") {
		t.Errorf("renewed certificates: systemctl calls %q, want one restart", calls)
	}
	wantPKI("renewed certificates")
	if pkiFile("server.crt") == oldCrt {
		t.Error("the old server certificate is still on the node")
	}
	if g.read("usr/local/bin/etcd") != etcd1 {
		t.Error("a certificate-only seed replaced etcd")
	}
	if leftovers, _ := filepath.Glob(g.path("etc/etcd/pki/*.etcdimg-new")); len(leftovers) > 0 {
		t.Errorf("left behind: %v", leftovers)
	}

	// etcd stopped (not active): a changed node is started, not restarted.
	// The next minor: installed, and etcd restarted once.
	c4, _ := build("3.7.0")
	for _, name := range []string{"etcd01", "etcd02", "etcd03"} {
		if iid(c4, name) == iid(c3, name) {
			t.Errorf("a new etcd version left %s's instance-id", name)
		}
	}
	outp, calls, err = g.boot(node, iso)
	if err != nil {
		t.Fatalf("upgrade: %v\n%s", err, outp)
	}
	if !strings.Contains(outp, "etcdimg: extract ") || !strings.Contains(outp, "(etcd 3.6.16 to 3.7.0)") || count(calls, "restart") != 1 {
		t.Errorf("upgrade output:\n%s\ncalls %q", outp, calls)
	}
	etcd2 := g.read("usr/local/bin/etcd")
	if etcd2 == etcd1 {
		t.Error("the upgrade left etcd's binary")
	}
	if st := g.read(generator.StatePath); !strings.Contains(st, "version=3.7.0\n") {
		t.Errorf("state after the upgrade:\n%s", st)
	}

	// A flag: only the unit changes; systemd reloads it once, etcd restarts
	// once, nothing is unpacked.
	quota = "4294967296"
	build("3.7.0")
	outp, calls, err = g.boot(node, iso)
	if err != nil || strings.Contains(outp, "etcdimg: extract ") || !strings.Contains(outp, "etcdimg: changed: unit") {
		t.Errorf("new flag: err %v, output:\n%s", err, outp)
	}
	if count(calls, "daemon-reload") != 1 || count(calls, "restart") != 1 {
		t.Errorf("new flag: systemctl calls %q, want one reload and one restart", calls)
	}
	if !strings.Contains(g.read("etc/systemd/system/etcd.service"), "--quota-backend-bytes=4294967296") {
		t.Error("new flag: the unit lacks it")
	}

	// Refusals: nothing on the node changes, systemd is not called.
	refused := func(what, version, want string) {
		t.Helper()
		build(version)
		before := g.read(generator.StatePath) + pkiFile("server.crt") + g.read("usr/local/bin/etcd")
		outp, calls, err := g.boot(node, iso)
		if err == nil || !strings.Contains(outp, want) {
			t.Errorf("%s: err %v, output:\n%s", what, err, outp)
		}
		if len(calls) != 0 {
			t.Errorf("%s: systemctl called: %q", what, calls)
		}
		if after := g.read(generator.StatePath) + pkiFile("server.crt") + g.read("usr/local/bin/etcd"); after != before {
			t.Errorf("%s: the node changed", what)
		}
	}
	refused("downgrade", "3.6.16", "etcd does not downgrade")
	// The model allows 3.5 to 3.7 only: the node's record says what it runs.
	ident := strings.SplitN(g.read(generator.StatePath), "\n", 2)[0]
	setState := func(content string) {
		t.Helper()
		if err := os.WriteFile(g.path(generator.StatePath), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setState(ident + "\nversion=3.5.21\nrelease=x\n")
	refused("skipped minor", "3.7.0", "etcd upgrades one minor at a time")
	setState(ident + "\nversion=2.3.8\nrelease=x\n")
	refused("major", "3.7.0", "does not change etcd's major version")

	// A data dir that holds another member.
	setState("ident=cluster=other token=x node=etcd01\nversion=3.7.0\n")
	refused("foreign data dir", "3.7.0", `holds member "cluster=other token=x node=etcd01"`)
	if err := os.Remove(g.path(generator.StatePath)); err != nil {
		t.Fatal(err)
	}
	outp, _, err = g.boot(node, iso)
	if err == nil || !strings.Contains(outp, "etcdimg did not set up on this node") {
		t.Errorf("data dir without a record: err %v, output:\n%s", err, outp)
	}
	// A node an etcdimg without records set up: cloud-init's folder of its
	// old instance-id (no digest) vouches for it.
	if err := os.MkdirAll(g.path("var/lib/cloud/instances/etcdimg-test-etcd01"), 0o755); err != nil {
		t.Fatal(err)
	}
	outp, _, err = g.boot(node, iso)
	if err != nil || !strings.Contains(outp, "adopting it") {
		t.Errorf("data dir of an earlier etcdimg: err %v, output:\n%s", err, outp)
	}
	if st := g.read(generator.StatePath); !strings.Contains(st, "ident=cluster=test token=") {
		t.Errorf("state after adoption:\n%s", st)
	}
}
