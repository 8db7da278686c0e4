package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/membership"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pipeline"
	yaml "go.yaml.in/yaml/v3"
)

// nodesPatch is a spec patch with the nodes etcd01.. at these IPs.
func nodesPatch(ips ...string) string {
	return `{nodes: etcdimg.nodes('etcd', ['` + strings.Join(ips, `', '`) + `'])}`
}

// seedBytes reads every node's ISO and user-data of a build.
func seedBytes(t *testing.T, out string, names ...string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, n := range names {
		for _, f := range []string{n + ".iso", filepath.Join(n, "user-data"), filepath.Join(n, "meta-data")} {
			b, err := os.ReadFile(filepath.Join(out, f))
			if err != nil {
				t.Fatal(err)
			}
			m[f] = b
		}
	}
	return m
}

// TestAddingNodeKeepsSeeds: build three nodes, add a fourth to the spec and
// rebuild everything: the three seeds are byte-identical, the fourth is a
// join seed; --replace changes only the replaced node's seed and gives it
// a new instance-id; mistakes in --replace are reported and change nothing.
func TestAddingNodeKeepsSeeds(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	ips := []string{"192.168.0.11", "192.168.0.12", "192.168.0.13"}
	o := opts(t, writeSpec(t, nodesPatch(ips...)), out)
	mustBuild(t, o)
	three := []string{"etcd01", "etcd02", "etcd03"}
	before := seedBytes(t, out, three...)
	state := filepath.Join(o.PKIDir, membership.FileName)
	st, err := membership.Read(state)
	if err != nil || st == nil || len(st.Members) != 3 {
		t.Fatalf("membership after the first build: %+v %v", st, err)
	}
	for _, e := range st.Members {
		if !e.Bootstrap || e.Seed != "bootstrap" || e.Generation != 0 {
			t.Errorf("first build recorded %+v, want a bootstrap member", e)
		}
	}

	o.Spec = writeSpec(t, nodesPatch(append(ips, "192.168.0.14")...))
	mustBuild(t, o)
	after := seedBytes(t, out, three...)
	for f, b := range before {
		if string(after[f]) != string(b) {
			t.Errorf("%s changed when etcd04 was added", f)
		}
	}
	ud4, _ := os.ReadFile(filepath.Join(out, "etcd04", "user-data"))
	for _, want := range []string{generator.JoinScriptPath, "--initial-cluster-state=existing", "EnvironmentFile=-/etc/etcd/etcd-join.env",
		"ENDPOINTS='https://192.168.0.11:2379,https://192.168.0.12:2379,https://192.168.0.13:2379'"} {
		if !strings.Contains(string(ud4), want) {
			t.Errorf("etcd04's user-data lacks %q", want)
		}
	}
	if strings.Contains(string(ud4), "--initial-cluster=") {
		t.Error("etcd04's unit passes --initial-cluster: a joiner takes the current members from the env file")
	}
	ud1, _ := os.ReadFile(filepath.Join(out, "etcd01", "user-data"))
	if strings.Contains(string(ud1), "192.168.0.14") || strings.Contains(string(ud1), "etcdimg-join") {
		t.Error("etcd01's seed mentions the joiner")
	}
	if st, _ = membership.Read(state); len(st.Members) != 4 || st.Members[3].Seed != "join" || st.Members[3].Bootstrap {
		t.Errorf("membership after adding etcd04: %+v", st.Members)
	}
	// Removing a node from the spec changes no other seed, joiners'
	// included (their endpoints are the members they were made with).
	o5 := o
	o5.Spec = writeSpec(t, nodesPatch(append(ips, "192.168.0.14", "192.168.0.15")...))
	mustBuild(t, o5)
	with5 := seedBytes(t, out, "etcd01", "etcd02", "etcd03", "etcd04", "etcd05")
	o5.Spec = writeSpec(t, nodesPatch(append(ips, "192.168.0.14")...))
	mustBuild(t, o5)
	for f, b := range seedBytes(t, out, "etcd01", "etcd02", "etcd03", "etcd04") {
		if string(with5[f]) != string(b) {
			t.Errorf("%s changed when etcd05 left the spec", f)
		}
	}

	// Replace etcd02: only its seed changes, with a new instance-id.
	all := append(three, "etcd04")
	before = seedBytes(t, out, all...)
	ro := o
	ro.Nodes, ro.Replace = []string{"etcd02"}, true
	mustBuild(t, ro)
	after = seedBytes(t, out, all...)
	for f, b := range before {
		changed := string(after[f]) != string(b)
		if changed != strings.HasPrefix(f, "etcd02") {
			t.Errorf("%s changed=%v after --replace etcd02", f, changed)
		}
	}
	if md := string(after["etcd02/meta-data"]); !strings.Contains(md, "instance-id: etcdimg-test-etcd02-r1-") {
		t.Errorf("replacement meta-data:\n%s", md)
	}
	if ud := string(after["etcd02/user-data"]); !strings.Contains(ud, "MODE='replace'") || !strings.Contains(ud, "member remove") {
		t.Error("etcd02's seed is not a replacement seed")
	}
	c, err := outdir.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Node("etcd02"); !strings.HasPrefix(n.InstanceID, "etcdimg-test-etcd02-r1-") || !strings.Contains(string(after["etcd02/meta-data"]), n.InstanceID) {
		t.Errorf("cluster.json instance-id of etcd02: %q", n.InstanceID)
	}
	// A full rebuild afterwards keeps the replacement seed as it is.
	mustBuild(t, o)
	if again := seedBytes(t, out, all...); string(again["etcd02.iso"]) != string(after["etcd02.iso"]) {
		t.Error("a rebuild changed the replacement seed")
	}

	stateBefore, _ := os.ReadFile(state)
	for _, tc := range []struct {
		name  string
		nodes []string
		spec  string
		want  string
	}{
		{"no node", nil, o.Spec, "--replace needs --node NAME"},
		{"not a member yet", []string{"etcd05"}, writeSpec(t, nodesPatch(append(ips, "192.168.0.14", "192.168.0.15")...)), "--replace etcd05: etcd05 is not a member yet"},
		{"not in spec", []string{"etcd09"}, o.Spec, `--node "etcd09" is not in the spec`},
	} {
		bo := o
		bo.Spec, bo.Nodes, bo.Replace = tc.spec, tc.nodes, true
		res, err := pipeline.Build(context.Background(), bo)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Report.IsFatal() || !strings.Contains(res.Report.String(), tc.want) {
			t.Errorf("%s: report %q, want %q", tc.name, res.Report, tc.want)
		}
		if b, _ := os.ReadFile(state); string(b) != string(stateBefore) {
			t.Errorf("%s: a refused build changed %s", tc.name, state)
		}
	}

	// A joiner needs the systemd runtime: refused before anything is written.
	co := o
	co.Spec = writeSpec(t, `std.mergePatch(`+nodesPatch(append(ips, "192.168.0.14")...)+`, {etcd: {runtime: 'container'}})`)
	res, err := pipeline.Build(context.Background(), co)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Report.IsFatal() || !strings.Contains(res.Report.String(), `support etcd.runtime "systemd" only`) {
		t.Errorf("container runtime with a joiner: %s", res.Report)
	}
}

// ---------------------------------------------------------------------------
// real etcd: the join script of the seed, run in the node's namespace

// seedNode is one node's seed, unpacked the way its first boot does it.
type seedNode struct {
	name, ns, ip       string
	dir, pki, data     string
	userData           []byte
	script             string // the join script, paths rewritten into dir
	etcd, ctl, systemd string
}

var scriptVar = regexp.MustCompile(`(?m)^(DATA_DIR|ENV_FILE|CACERT|CERT|KEY)=.*$`)

// unpackSeed (t: the test whose end kills the node's etcd) reads iso and lays out the node's certificates, data dir and
// (for a join or replace seed) join script under a temp folder; bins are
// the release's binaries from the ISO.
func unpackSeed(t *testing.T, iso, ns, ip string, bins etcdtest.Bins) *seedNode {
	t.Helper()
	img, err := isoread.Read(iso)
	if err != nil {
		t.Fatal(err)
	}
	n := &seedNode{name: strings.TrimSuffix(filepath.Base(iso), ".iso"), ns: ns, ip: ip, dir: t.TempDir()}
	n.pki, n.data = filepath.Join(n.dir, "pki"), filepath.Join(n.dir, "data")
	os.Mkdir(n.pki, 0o700)
	os.Mkdir(n.data, 0o700)
	for p, data := range img.Files {
		if strings.HasPrefix(p, "etcdimg/pki/") {
			os.WriteFile(filepath.Join(n.pki, filepath.Base(p)), data, 0o600)
		}
	}
	n.userData = img.Files["user-data"]
	n.etcd, n.ctl = bins.Etcd, bins.Etcdctl
	// The etcd the fake systemctl starts lives as long as the test that
	// unpacked the seed, not the subtest that ran the script.
	t.Cleanup(n.killEtcd)
	var cc struct {
		WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(n.userData, &cc); err != nil {
		t.Fatal(err)
	}
	for _, f := range cc.WriteFiles {
		if f.Path == generator.JoinScriptPath {
			n.script = scriptVar.ReplaceAllStringFunc(f.Content, func(l string) string {
				k, v, _ := strings.Cut(l, "=")
				v = strings.Trim(v, "'")
				switch k {
				case "DATA_DIR":
					v = n.data
				case "ENV_FILE":
					v = filepath.Join(n.dir, "etcd-join.env")
				default:
					v = strings.ReplaceAll(v, "/etc/etcd/pki/", n.pki+"/")
				}
				return k + "='" + v + "'"
			})
		}
	}
	return n
}

// args is the unit's ExecStart with the node's folders.
func (n *seedNode) args(t *testing.T) []string {
	var args []string
	for _, a := range execStart(t, n.userData) {
		a = strings.ReplaceAll(a, "/etc/etcd/pki/", n.pki+"/")
		if strings.HasPrefix(a, "--data-dir=") {
			a = "--data-dir=" + n.data
		}
		args = append(args, a)
	}
	return args
}

// startBootstrap starts a bootstrap member as systemd would.
func (n *seedNode) startBootstrap(t *testing.T) *etcdtest.Proc {
	return etcdtest.Start(t, inNS(t, n.ns, n.etcd), n.args(t))
}

// fakeSystemd writes a systemctl for the join script: it records every call
// and, on "start", runs etcd with the unit's exact arguments and its
// EnvironmentFile, in the node's namespace (the script already runs there).
func (n *seedNode) fakeSystemd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(n.dir, "bin")
	os.MkdirAll(bin, 0o755)
	var q []string
	for _, a := range n.args(t) {
		q = append(q, "'"+a+"'")
	}
	env := filepath.Join(n.dir, "etcd-join.env")
	pid := filepath.Join(n.dir, "etcd.pid")
	script := fmt.Sprintf(`#!/bin/sh
echo "$*" >>%[1]s/systemctl.log
[ "$1" = start ] || exit 0
if [ -s %[2]s ] && kill -0 "$(cat %[2]s)" 2>/dev/null; then exit 0; fi
set -a
[ -e %[3]s ] && . %[3]s
set +a
%[4]s %[5]s >>%[1]s/etcd.log 2>&1 &
echo $! >%[2]s
`, n.dir, pid, env, n.etcd, strings.Join(q, " "))
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Symlink(n.ctl, filepath.Join(bin, "etcdctl"))
	return bin
}

func (n *seedNode) killEtcd() {
	b, err := os.ReadFile(filepath.Join(n.dir, "etcd.pid"))
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	os.Remove(filepath.Join(n.dir, "etcd.pid"))
}

// runJoin runs the seed's join script in the node's namespace, as
// etcdimg-join.service would, and returns its output and exit code.
func (n *seedNode) runJoin(t *testing.T, timeout time.Duration) (string, int) {
	t.Helper()
	if n.script == "" {
		t.Fatalf("%s: no join script in the seed", n.name)
	}
	bin := n.fakeSystemd(t)
	p := filepath.Join(n.dir, "etcdimg-join")
	os.WriteFile(p, []byte(n.script), 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ip, _ := exec.LookPath("ip")
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", n.ns, "sh", p)
	cmd.Env = []string{"PATH=" + bin + ":/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: join script still running after %v:\n%s\netcd log:\n%s", n.name, timeout, out, n.etcdLog())
		}
	}
	return string(out), code
}

func (n *seedNode) etcdLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "etcd.log"))
	return tail(string(b), 30)
}

func (n *seedNode) systemctlCalls() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "systemctl.log"))
	return string(b)
}

func tail(s string, k int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > k {
		l = l[len(l)-k:]
	}
	return strings.Join(l, "\n")
}

type memberInfo struct {
	ID        uint64 `json:"ID"`
	Name      string `json:"name"`
	IsLearner bool   `json:"isLearner"`
}

// clusterCtl runs etcdctl from the client namespace with the admin
// certificate.
type clusterCtl struct {
	ctl  string
	auth []string
}

func (c clusterCtl) run(t *testing.T, endpoint string, args ...string) (string, error) {
	t.Helper()
	return etcdtest.Etcdctl(t, c.ctl, append(append([]string{"--endpoints=" + endpoint, "--dial-timeout=3s", "--command-timeout=10s"}, c.auth...), args...)...)
}

func (c clusterCtl) members(t *testing.T, endpoint string) map[string]memberInfo {
	t.Helper()
	out, err := c.run(t, endpoint, "member", "list", "-w", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ml struct{ Members []memberInfo }
	if err := json.Unmarshal([]byte(out), &ml); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := map[string]memberInfo{}
	for _, x := range ml.Members {
		m[x.Name] = x
	}
	return m
}

func (c clusterCtl) wantVoters(t *testing.T, endpoint string, names ...string) map[string]memberInfo {
	t.Helper()
	ms := c.members(t, endpoint)
	if len(ms) != len(names) {
		t.Errorf("members %v, want exactly %v", ms, names)
	}
	for _, n := range names {
		if m, ok := ms[n]; !ok || m.IsLearner {
			t.Errorf("member %s: %+v (present %v), want a voting member", n, m, ok)
		}
	}
	return ms
}

func stepLines(out string) string {
	var s []string
	for _, l := range strings.Split(out, "\n") {
		if regexp.MustCompile(`^etcdimg: [a-z-]+ [0-9.]+s$`).MatchString(l) {
			s = append(s, strings.TrimPrefix(l, "etcdimg: "))
		}
	}
	return strings.Join(s, ", ")
}

// TestJoinReplaceRealCluster runs the join and replace logic of real seeds
// against real etcd members, each in its own network namespace with the
// node's IP: a fourth member joins as a learner and is promoted; two
// joiners race for the single learner slot and both end as voters; a
// member that lost its data is replaced; and every refusal (a member that
// lost its data rejoining as itself, removing a healthy member, removing
// without quorum) stops before etcd starts.
func TestJoinReplaceRealCluster(t *testing.T) {
	rel := etcdtest.Release(t)
	ips := []string{"192.168.0.11", "192.168.0.12", "192.168.0.13", "192.168.0.14", "192.168.0.15", "192.168.0.16", "192.168.0.17"}
	nodeNS, clientNS := lan(t, append(slices.Clone(ips), "192.168.0.32"), "192.168.0.250")
	spare := nodeNS[len(ips)]
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	root := t.TempDir()
	o := pipeline.Options{
		Spec:     writeSpec(t, `std.mergePatch({etcd: {heartbeatIntervalMs: 100, electionTimeoutMs: 1000}}, `+nodesPatch(ips[:3]...)+`)`),
		Jsonnet:  jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": hex.EncodeToString(sum[:])}},
		OutDir:   filepath.Join(root, "out"),
		PKIDir:   filepath.Join(root, "pki"),
		CacheDir: filepath.Join(root, "cache"),
	}
	mustBuild(t, o)
	iso := func(name string) string { return filepath.Join(o.OutDir, name+".iso") }
	img, err := isoread.Read(iso("etcd01"))
	if err != nil {
		t.Fatal(err)
	}
	tb := filepath.Join(t.TempDir(), "release.tar.gz")
	os.WriteFile(tb, img.Files["etcdimg/etcd-v3.6.16-linux-amd64.tar.gz"], 0o644)
	bins := etcdtest.Extract(t, tb)

	top := t
	nodes := map[string]*seedNode{}
	procs := map[string]*etcdtest.Proc{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("etcd%02d", i+1)
		nodes[name] = unpackSeed(t, iso(name), nodeNS[i], ips[i], bins)
		procs[name] = nodes[name].startBootstrap(t)
	}
	c := clusterCtl{ctl: inNS(t, clientNS, bins.Etcdctl), auth: []string{"--cacert=" + filepath.Join(o.PKIDir, "ca.crt"),
		"--cert=" + filepath.Join(o.PKIDir, "admin.crt"), "--key=" + filepath.Join(o.PKIDir, "admin.key")}}
	ep := func(name string) string { return "https://" + nodes[name].ip + ":2379" }
	if err := etcdtest.WaitHealthy(t, c.ctl, []string{ep("etcd01"), ep("etcd02"), ep("etcd03")}, c.auth, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run(t, ep("etcd01"), "put", "day2", "kept"); err != nil {
		t.Fatal(err)
	}
	checkKey := func(name string) {
		t.Helper()
		if got, err := c.run(t, ep(name), "get", "day2", "--print-value-only"); err != nil || strings.TrimSpace(got) != "kept" {
			t.Errorf("read through %s: %q %v", name, got, err)
		}
	}

	// The spec grows to seven nodes; the three running ones keep their seeds.
	o.Spec = writeSpec(t, `std.mergePatch({etcd: {heartbeatIntervalMs: 100, electionTimeoutMs: 1000}}, `+nodesPatch(ips...)+`)`)
	mustBuild(t, o)
	for i := 3; i < len(ips); i++ {
		name := fmt.Sprintf("etcd%02d", i+1)
		nodes[name] = unpackSeed(t, iso(name), nodeNS[i], ips[i], bins)
	}

	all := []string{"etcd01", "etcd02", "etcd03", "etcd04", "etcd05", "etcd06", "etcd07"}
	t.Run("join", func(t *testing.T) {
		start := time.Now()
		out, code := nodes["etcd04"].runJoin(t, 2*time.Minute)
		if code != 0 {
			t.Fatalf("join exited %d:\n%s\netcd log:\n%s", code, out, nodes["etcd04"].etcdLog())
		}
		t.Logf("etcd04 joined and was promoted in %v: %s\n%s", time.Since(start).Round(time.Millisecond), stepLines(out), out)
		for _, step := range []string{"cluster-reachable", "learner-added", "etcd-started", "promoted"} {
			if !strings.Contains(out, "etcdimg: "+step+" ") {
				t.Errorf("no step %q logged:\n%s", step, out)
			}
		}
		c.wantVoters(t, ep("etcd01"), "etcd01", "etcd02", "etcd03", "etcd04")
		checkKey("etcd04")
		if _, err := os.Stat(filepath.Join(nodes["etcd04"].dir, "etcd-join.env")); err == nil {
			t.Error("the env file with --initial-cluster survived the promotion")
		}
		// A reboot after it is done: nothing to do, nothing asked of the cluster.
		out, code = nodes["etcd04"].runJoin(t, 30*time.Second)
		if code != 0 || !strings.Contains(out, "nothing to join") {
			t.Errorf("second run exited %d:\n%s", code, out)
		}
	})

	t.Run("refuse-lost-data-rejoin", func(t *testing.T) {
		// etcd04's disk is gone but its member is alive in the cluster:
		// the join seed must not start an empty etcd under the old ID.
		fresh := unpackSeed(t, iso("etcd04"), nodes["etcd04"].ns, nodes["etcd04"].ip, bins)
		out, code := fresh.runJoin(t, time.Minute)
		if code != 2 || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "--replace") {
			t.Errorf("exit %d, want 2 with a refusal naming --replace:\n%s", code, out)
		}
		if strings.Contains(fresh.systemctlCalls(), "start") {
			t.Errorf("etcd was started after a refusal: %s", fresh.systemctlCalls())
		}
	})

	t.Run("reuse-learner", func(t *testing.T) {
		// The node rebooted right after its member add: the learner is
		// registered (unstarted) under its peer URL. The seed reuses it
		// rather than adding a second one.
		if _, err := c.run(t, ep("etcd01"), "member", "add", "etcd05", "--peer-urls=https://"+ips[4]+":2380", "--learner"); err != nil {
			t.Fatal(err)
		}
		out, code := nodes["etcd05"].runJoin(t, 2*time.Minute)
		if code != 0 || !strings.Contains(out, "etcdimg: learner-reused ") || strings.Contains(out, "added as learner") {
			t.Fatalf("exit %d, want the registered learner reused:\n%s\netcd log:\n%s", code, out, nodes["etcd05"].etcdLog())
		}
		c.wantVoters(t, ep("etcd01"), "etcd01", "etcd02", "etcd03", "etcd04", "etcd05")
	})

	t.Run("race", func(t *testing.T) {
		// Two joiners at once: etcd allows one learner, so one waits for
		// the other's promotion; both end as voting members.
		var wg sync.WaitGroup
		outs := map[string]string{}
		var mu sync.Mutex
		start := time.Now()
		for _, name := range []string{"etcd06", "etcd07"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, code := nodes[name].runJoin(t, 3*time.Minute)
				mu.Lock()
				outs[name] = out
				mu.Unlock()
				if code != 0 {
					t.Errorf("%s: join exited %d:\n%s\netcd log:\n%s", name, code, out, nodes[name].etcdLog())
				}
			}()
		}
		wg.Wait()
		t.Logf("etcd06 and etcd07 both voting after %v", time.Since(start).Round(time.Millisecond))
		waited := false
		for name, out := range outs {
			t.Logf("%s: %s\n%s", name, stepLines(out), out)
			// etcd refuses the second add while the first learner is
			// pending ("too many learner members") or the membership has
			// just changed ("unhealthy cluster"): either way it retries.
			if strings.Contains(out, "member add: Error") {
				waited = true
			}
		}
		if !waited {
			t.Errorf("neither joiner had its member add refused and retried:\n%s\n%s", outs["etcd06"], outs["etcd07"])
		}
		c.wantVoters(t, ep("etcd01"), all...)
		checkKey("etcd07")
	})

	ro := o
	ro.Nodes, ro.Replace = []string{"etcd02"}, true
	mustBuild(t, ro)

	t.Run("refuse-replace-healthy", func(t *testing.T) {
		// etcd02 still runs: its replacement seed, booted elsewhere, must
		// leave it alone. (It runs in the spare namespace: same peer URL,
		// another address.)
		n := unpackSeed(t, iso("etcd02"), spare, "192.168.0.32", bins)
		out, code := n.runJoin(t, time.Minute)
		if code != 2 || !strings.Contains(out, "is healthy") {
			t.Errorf("exit %d, want 2 (member is healthy):\n%s", code, out)
		}
		if strings.Contains(n.systemctlCalls(), "start") {
			t.Errorf("etcd was started after a refusal: %s", n.systemctlCalls())
		}
		c.wantVoters(t, ep("etcd01"), all...)
	})

	t.Run("replace", func(t *testing.T) {
		old := c.members(t, ep("etcd01"))["etcd02"].ID
		procs["etcd02"].Kill() // the VM died and took its disk along
		n := unpackSeed(top, iso("etcd02"), nodeNS[1], ips[1], bins)
		start := time.Now()
		out, code := n.runJoin(t, 3*time.Minute)
		if code != 0 {
			t.Fatalf("replace exited %d:\n%s\netcd log:\n%s", code, out, n.etcdLog())
		}
		t.Logf("etcd02 replaced in %v: %s", time.Since(start).Round(time.Millisecond), stepLines(out))
		if !strings.Contains(out, "etcdimg: remove ") || !strings.Contains(out, "etcdimg: promoted ") {
			t.Errorf("steps missing:\n%s", out)
		}
		nodes["etcd02"] = n
		ms := c.wantVoters(t, ep("etcd01"), all...)
		if ms["etcd02"].ID == old {
			t.Errorf("etcd02 came back under its old member ID %x", old)
		}
		checkKey("etcd02")
		// Run again on the node that now runs fine: nothing happens.
		out, code = n.runJoin(t, 30*time.Second)
		if code != 0 || !strings.Contains(out, "nothing to join") {
			t.Errorf("replacement seed re-run on a healthy node: exit %d\n%s", code, out)
		}
		c.wantVoters(t, ep("etcd01"), all...)
	})

	t.Run("refuse-replace-without-quorum", func(t *testing.T) {
		// Five of seven voters down: the cluster has no quorum, and removing
		// etcd03 would not give it one back.
		ro.Nodes = []string{"etcd03"}
		mustBuild(t, ro)
		procs["etcd03"].Kill()
		for _, name := range []string{"etcd04", "etcd05", "etcd06", "etcd07"} {
			nodes[name].killEtcd()
		}
		n := unpackSeed(t, iso("etcd03"), nodeNS[2], ips[2], bins)
		out, code := n.runJoin(t, 2*time.Minute)
		if code != 2 || !strings.Contains(out, "less than a quorum") {
			t.Errorf("exit %d, want 2 (quorum):\n%s", code, out)
		}
		if strings.Contains(n.systemctlCalls(), "start") {
			t.Errorf("etcd was started after a refusal: %s", n.systemctlCalls())
		}
	})
}

// TestJoinPlainHTTP: without TLS the join seed talks plain HTTP and
// membership.json lives in the output folder; a fourth member joins and is
// promoted.
func TestJoinPlainHTTP(t *testing.T) {
	rel := etcdtest.Release(t)
	ips := []string{"192.168.0.11", "192.168.0.12", "192.168.0.13", "192.168.0.14"}
	nodeNS, clientNS := lan(t, ips, "192.168.0.250")
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	root := t.TempDir()
	patch := func(ips ...string) string {
		return writeSpec(t, `std.mergePatch({tls: {enabled: false}, etcd: {heartbeatIntervalMs: 100, electionTimeoutMs: 1000}}, `+nodesPatch(ips...)+`)`)
	}
	o := pipeline.Options{
		Spec:     patch(ips[:3]...),
		Jsonnet:  jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": hex.EncodeToString(sum[:])}},
		OutDir:   filepath.Join(root, "out"),
		CacheDir: filepath.Join(root, "cache"),
	}
	mustBuild(t, o)
	if _, err := os.Stat(filepath.Join(o.OutDir, membership.FileName)); err != nil {
		t.Fatalf("without TLS the membership lives in the output folder: %v", err)
	}
	iso := func(name string) string { return filepath.Join(o.OutDir, name+".iso") }
	img, err := isoread.Read(iso("etcd01"))
	if err != nil {
		t.Fatal(err)
	}
	tb := filepath.Join(t.TempDir(), "release.tar.gz")
	os.WriteFile(tb, img.Files["etcdimg/etcd-v3.6.16-linux-amd64.tar.gz"], 0o644)
	bins := etcdtest.Extract(t, tb)
	var eps []string
	for i := 0; i < 3; i++ {
		unpackSeed(t, iso(fmt.Sprintf("etcd%02d", i+1)), nodeNS[i], ips[i], bins).startBootstrap(t)
		eps = append(eps, "http://"+ips[i]+":2379")
	}
	c := clusterCtl{ctl: inNS(t, clientNS, bins.Etcdctl)}
	if err := etcdtest.WaitHealthy(t, c.ctl, eps, nil, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	o.Spec = patch(ips...)
	mustBuild(t, o)
	n := unpackSeed(t, iso("etcd04"), nodeNS[3], ips[3], bins)
	out, code := n.runJoin(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("join exited %d:\n%s\netcd log:\n%s", code, out, n.etcdLog())
	}
	t.Logf("plain HTTP join: %s", stepLines(out))
	c.wantVoters(t, eps[0], "etcd01", "etcd02", "etcd03", "etcd04")
}
