package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/membership"
	"github.com/etcdimg/etcdimg/pipeline"
	"github.com/etcdimg/etcdimg/snapshot"
	yaml "go.yaml.in/yaml/v3"
)

// writeFiles returns user-data's write_files by path.
func writeFiles(t *testing.T, userData []byte) map[string]string {
	t.Helper()
	var cc struct {
		WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(userData, &cc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range cc.WriteFiles {
		out[f.Path] = f.Content
	}
	return out
}

// memberSeed is one member started from its seed the way first boot does,
// with the VM's paths moved into a temp folder.
type memberSeed struct {
	name, ns, ip string
	dir          string
	files        map[string][]byte // the seed's files
	writeFiles   map[string]string // user-data's write_files
	proc         *etcdtest.Proc
}

// localize points a script or command line at the node's temp folder and
// the release's binaries instead of the VM's paths.
func (n *memberSeed) localize(s, bin string) string {
	r := strings.NewReplacer(
		"/usr/local/bin/", bin+"/",
		"/etc/etcd/pki/", filepath.Join(n.dir, "pki")+"/",
		"/var/lib/etcd", filepath.Join(n.dir, "data"),
		"/var/backups/etcd", filepath.Join(n.dir, "backups"),
		"/etc/etcdimg/", filepath.Join(n.dir, "etcdimg")+"/",
		// The test runs as root on a host without the etcd user.
		"ETCD_USER='etcd'", "ETCD_USER='root'",
		"ETCD_GROUP='etcd'", "ETCD_GROUP='root'",
	)
	return r.Replace(s)
}

// seedCluster reads the built seeds and lays out each node's folder.
func seedCluster(t *testing.T, res *pipeline.Result, ips, nss []string) []*memberSeed {
	t.Helper()
	var nodes []*memberSeed
	for i, r := range res.Nodes {
		img, err := isoread.Read(r.ISO)
		if err != nil {
			t.Fatal(err)
		}
		n := &memberSeed{name: r.Name, ns: nss[i], ip: ips[i], dir: t.TempDir(), files: img.Files,
			writeFiles: writeFiles(t, img.Files["user-data"])}
		os.Mkdir(filepath.Join(n.dir, "pki"), 0o700)
		for p, data := range img.Files {
			if strings.HasPrefix(p, "etcdimg/pki/") {
				os.WriteFile(filepath.Join(n.dir, "pki", filepath.Base(p)), data, 0o600)
			}
		}
		os.Mkdir(filepath.Join(n.dir, "data"), 0o700)
		os.Mkdir(filepath.Join(n.dir, "backups"), 0o700)
		nodes = append(nodes, n)
	}
	return nodes
}

func (n *memberSeed) start(t *testing.T, bins etcdtest.Bins) {
	t.Helper()
	var args []string
	for _, a := range execStart(t, n.files["user-data"]) {
		args = append(args, n.localize(a, filepath.Dir(bins.Etcd)))
	}
	n.proc = etcdtest.Start(t, inNS(t, n.ns, bins.Etcd), args)
}

// runScript runs one of user-data's scripts inside the node's namespace,
// as the VM would (root here; the etcd user there).
func (n *memberSeed) runScript(t *testing.T, bins etcdtest.Bins, path string, args ...string) (string, error) {
	t.Helper()
	body, ok := n.writeFiles[path]
	if !ok {
		t.Fatalf("%s: user-data writes no %s", n.name, path)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(p, []byte(n.localize(body, filepath.Dir(bins.Etcd))), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.ns, "sh", p}, args...)...).CombinedOutput()
	return string(out), err
}

func buildSeeds(t *testing.T, rel, patch, restoreFrom string) (*pipeline.Result, pipeline.Options) {
	t.Helper()
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	root := t.TempDir()
	o := pipeline.Options{
		Spec:        writeSpec(t, patch),
		Jsonnet:     jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": hex.EncodeToString(sum[:])}},
		OutDir:      filepath.Join(root, "out"),
		PKIDir:      filepath.Join(root, "pki"),
		CacheDir:    filepath.Join(root, "cache"),
		RestoreFrom: restoreFrom,
		Epoch:       time.Unix(1700000000, 0),
	}
	res, err := pipeline.Build(context.Background(), o)
	if err != nil || res.Report.IsFatal() {
		t.Fatalf("build: %v\n%s", err, res.Report)
	}
	return res, o
}

// TestBackupDefragRestoreRealEtcd runs what the seeds put on the nodes
// against real etcd members, each in its own network namespace: the
// snapshot script (files, modes, pruning), the defragmentation script (runs;
// skips while another member holds the lock; skips without quorum margin),
// then a new cluster built with --restore-from whose members are restored
// by the seed's own restore script and must serve every key written to the
// old one.
func TestBackupDefragRestoreRealEtcd(t *testing.T) {
	rel := etcdtest.Release(t)
	ips := []string{"192.168.0.11", "192.168.0.12", "192.168.0.13"}
	nss, clientNS := lan(t, ips, "192.168.0.250")
	const patch = `{etcd: {heartbeatIntervalMs: 100, electionTimeoutMs: 1000, backup: {keep: 2}, defrag: {}}}`
	res, o := buildSeeds(t, rel, patch, "")
	nodes := seedCluster(t, res, ips, nss)
	tb := filepath.Join(t.TempDir(), "release.tar.gz")
	os.WriteFile(tb, nodes[0].files["etcdimg/etcd-v3.6.16-linux-amd64.tar.gz"], 0o644)
	bins := etcdtest.Extract(t, tb)
	for _, n := range nodes {
		n.start(t, bins)
	}
	ctl := inNS(t, clientNS, bins.Etcdctl)
	auth := []string{"--cacert=" + filepath.Join(o.PKIDir, "ca.crt"), "--cert=" + filepath.Join(o.PKIDir, "admin.crt"), "--key=" + filepath.Join(o.PKIDir, "admin.key")}
	var endpoints []string
	for _, ip := range ips {
		endpoints = append(endpoints, "https://"+ip+":2379")
	}
	if err := etcdtest.WaitHealthy(t, ctl, endpoints, auth, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	etcdctl := func(args ...string) string {
		t.Helper()
		out, err := etcdtest.Etcdctl(t, ctl, append(append([]string{"--endpoints=" + strings.Join(endpoints, ",")}, auth...), args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// 3000 keys (the e2e data set), 100 per transaction.
	want := map[string]string{}
	for b := 0; b < 30; b++ {
		var txn strings.Builder
		txn.WriteString("\n")
		for i := b * 100; i < (b+1)*100; i++ {
			k, v := fmt.Sprintf("/restore-test/%04d", i), fmt.Sprintf("value-%d-%x", i, sha256.Sum256([]byte{byte(i), byte(b)}))
			want[k] = v
			fmt.Fprintf(&txn, "put %s %s\n", k, v)
		}
		txn.WriteString("\n\n")
		cmd := exec.Command(ctl, append(append([]string{"--endpoints=" + endpoints[0]}, auth...), "txn")...)
		cmd.Stdin = strings.NewReader(txn.String())
		if out, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "SUCCESS") {
			t.Fatalf("txn: %v\n%s", err, out)
		}
	}

	// Snapshots: three runs keep the newest two, complete and owner-only.
	backups := filepath.Join(nodes[0].dir, "backups")
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // names have one-second resolution
		}
		start := time.Now()
		out, err := nodes[0].runScript(t, bins, generator.BackupScriptPath)
		if err != nil {
			t.Fatalf("backup script: %v\n%s", err, out)
		}
		t.Logf("snapshot %d in %v: %s", i, time.Since(start).Round(time.Millisecond), lastLine(out))
	}
	entries, err := os.ReadDir(backups)
	if err != nil {
		t.Fatal(err)
	}
	var snaps []string
	for _, e := range entries {
		fi, _ := e.Info()
		if !strings.HasPrefix(e.Name(), "etcd01-") || !strings.HasSuffix(e.Name(), ".db") {
			t.Errorf("unexpected file in the backup folder: %s", e.Name())
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
		snaps = append(snaps, filepath.Join(backups, e.Name()))
	}
	if len(snaps) != 2 {
		t.Fatalf("backup folder holds %d snapshots after 3 runs with keep 2: %v", len(snaps), snaps)
	}
	newest := snaps[len(snaps)-1] // ReadDir sorts by name: by time
	info, err := snapshot.Verify(newest)
	if err != nil {
		t.Fatal(err)
	}
	if info.TotalKeys != len(want) {
		t.Errorf("snapshot holds %d keys, want %d", info.TotalKeys, len(want))
	}
	t.Logf("snapshot of %d keys: %d bytes, revision %d", info.TotalKeys, info.FileSize, info.Revision)

	// Defragmentation: runs on the local member; skips while another
	// member holds the lock; skips when the others would lack quorum.
	if out, err := nodes[0].runScript(t, bins, generator.DefragScriptPath); err != nil || !strings.Contains(out, "member etcd01 defragmented") {
		t.Errorf("defrag script: %v\n%s", err, out)
	}
	lease := strings.Fields(etcdctl("lease", "grant", "60"))[1]
	etcdctl("put", "--lease="+lease, generator.DefragLockKey, "etcd03")
	if out, err := nodes[1].runScript(t, bins, generator.DefragScriptPath); err != nil || !strings.Contains(out, "skipped: member etcd03 is defragmenting") {
		t.Errorf("defrag script with the lock held elsewhere: %v\n%s", err, out)
	}
	etcdctl("lease", "revoke", lease)
	if out := etcdctl("get", generator.DefragLockKey, "--print-value-only"); strings.TrimSpace(out) != "" {
		t.Errorf("lock key left behind: %q", out)
	}
	nodes[2].proc.Stop(10 * time.Second)
	if out, err := nodes[0].runScript(t, bins, generator.DefragScriptPath); err != nil || !strings.Contains(out, "skipped: 2 of 3 members are healthy") {
		t.Errorf("defrag script with a member down: %v\n%s", err, out)
	}
	for _, n := range nodes {
		n.proc.Stop(10 * time.Second)
	}

	// Restore: a new cluster from the snapshot, on the same addresses.
	res2, o2 := buildSeeds(t, rel, patch, newest)
	restored := seedCluster(t, res2, ips, nss)
	for _, n := range restored {
		snap := filepath.Join(n.dir, "snapshot.db")
		if err := os.WriteFile(snap, n.files[generator.RestoreSeedPath], 0o400); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, err := n.runScript(t, bins, generator.RestoreScriptPath, snap)
		if err != nil {
			t.Fatalf("%s: restore script: %v\n%s", n.name, err, out)
		}
		t.Logf("%s: restored in %v: %s", n.name, time.Since(start).Round(time.Millisecond), lastLine(out))
		if fi, err := os.Stat(filepath.Join(n.dir, "data", "member")); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: restored member dir: %v %v", n.name, fi, err)
		}
		n.start(t, bins)
	}
	auth2 := []string{"--cacert=" + filepath.Join(o2.PKIDir, "ca.crt"), "--cert=" + filepath.Join(o2.PKIDir, "admin.crt"), "--key=" + filepath.Join(o2.PKIDir, "admin.key")}
	if err := etcdtest.WaitHealthy(t, ctl, endpoints, auth2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, ep := range endpoints {
		out, err := etcdtest.Etcdctl(t, ctl, append(append([]string{"--endpoints=" + ep}, auth2...), "get", "/restore-test/", "--prefix")...)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		got := map[string]string{}
		for i := 0; i+1 < len(lines); i += 2 {
			got[lines[i]] = lines[i+1]
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d keys after restore, want %d", ep, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q after restore, want %q", ep, k, got[k], v)
				break
			}
		}
	}
	if out, _ := etcdtest.Etcdctl(t, ctl, append(append([]string{"--endpoints=" + endpoints[0]}, auth2...), "member", "list")...); strings.Count(out, "started") != 3 {
		t.Errorf("restored cluster's members:\n%s", out)
	}

	// The restore script never restores over an existing data dir: run
	// again over the member it restored it leaves it alone (exit 0); a
	// member it did not restore (another cluster's, on a reused disk) and a
	// data dir holding anything else are refused; it restores into one
	// holding only lost+found, and refuses a snapshot that is not the one
	// pinned.
	n := restored[0]
	snap := filepath.Join(n.dir, "snapshot.db")
	marker := filepath.Join(n.dir, "etcdimg", "restored")
	if b, err := os.ReadFile(marker); err != nil || string(b) != "etcd01 "+res2.Cluster.Token+" "+res2.Cluster.Restore.SHA256+"\n" {
		t.Errorf("restore marker: %q %v", b, err)
	}
	before, _ := os.ReadDir(filepath.Join(n.dir, "data", "member"))
	if out, err := n.runScript(t, bins, generator.RestoreScriptPath, snap); err != nil || !strings.Contains(out, "already holds the member this snapshot restored; not restoring over it") {
		t.Errorf("restore run again over the member it restored: %v\n%s", err, out)
	}
	if after, _ := os.ReadDir(filepath.Join(n.dir, "data", "member")); len(after) != len(before) {
		t.Errorf("member dir changed: %v -> %v", before, after)
	}
	// The same member without the record: to the script it is a member of
	// some other cluster, which must neither be restored over nor started.
	os.Rename(marker, marker+".saved")
	if out, err := n.runScript(t, bins, generator.RestoreScriptPath, snap); err == nil || !strings.Contains(out, "refusing to restore: ") || !strings.Contains(out, "holds a member this seed did not restore") {
		t.Errorf("restore over a member it did not restore: %v\n%s", err, out)
	}
	if after, _ := os.ReadDir(filepath.Join(n.dir, "data", "member")); len(after) != len(before) {
		t.Errorf("member dir changed: %v -> %v", before, after)
	}
	os.Rename(marker+".saved", marker)
	n.proc.Stop(10 * time.Second)
	os.RemoveAll(filepath.Join(n.dir, "data"))
	os.MkdirAll(filepath.Join(n.dir, "data", "stray"), 0o700)
	if out, err := n.runScript(t, bins, generator.RestoreScriptPath, snap); err == nil || !strings.Contains(out, "refusing to restore") {
		t.Errorf("restore into a data dir with stray files: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "data", "member")); err == nil {
		t.Error("a member was restored beside stray files")
	}
	os.RemoveAll(filepath.Join(n.dir, "data"))
	os.MkdirAll(filepath.Join(n.dir, "data", "lost+found"), 0o700)
	bad := filepath.Join(n.dir, "tampered.db")
	b, _ := os.ReadFile(snap)
	b[len(b)/2] ^= 0xff
	os.WriteFile(bad, b, 0o400)
	if out, err := n.runScript(t, bins, generator.RestoreScriptPath, bad); err == nil || !strings.Contains(out, "does not match sha256") {
		t.Errorf("restore of a snapshot that is not the pinned one: %v\n%s", err, out)
	}
	if out, err := n.runScript(t, bins, generator.RestoreScriptPath, snap); err != nil || !strings.Contains(out, "restored member etcd01") {
		t.Errorf("restore into a data dir holding only lost+found: %v\n%s", err, out)
	}
}

// localSnapshot starts one etcd member on loopback, writes keys and saves a
// snapshot with etcdctl: a real snapshot for build-time tests, no root.
func localSnapshot(t *testing.T, keys int) string {
	t.Helper()
	bins := etcdtest.Extract(t, etcdtest.Release(t))
	cp, pp := etcdtest.FreePort(t, "127.0.0.1"), etcdtest.FreePort(t, "127.0.0.1")
	c, p := fmt.Sprintf("http://127.0.0.1:%d", cp), fmt.Sprintf("http://127.0.0.1:%d", pp)
	data := t.TempDir()
	proc := etcdtest.Start(t, bins.Etcd, []string{"--name=s", "--data-dir=" + data, "--listen-client-urls=" + c, "--advertise-client-urls=" + c,
		"--listen-peer-urls=" + p, "--initial-advertise-peer-urls=" + p, "--initial-cluster=s=" + p})
	defer proc.Stop(10 * time.Second)
	if err := etcdtest.WaitHealthy(t, bins.Etcdctl, []string{c}, nil, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < keys; i++ {
		if _, err := etcdtest.Etcdctl(t, bins.Etcdctl, "--endpoints="+c, "put", fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(t.TempDir(), "snap.db")
	if _, err := etcdtest.Etcdctl(t, bins.Etcdctl, "--endpoints="+c, "snapshot", "save", snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestRestoreFromIsCheckedAndDeterministic: a snapshot that fails etcd's
// integrity check is refused before anything is written; a good one rides
// on every seed, pinned by sha256, with a new token derived from it, and
// two builds give byte-identical seeds.
func TestRestoreFromIsCheckedAndDeterministic(t *testing.T) {
	snap := localSnapshot(t, 3)
	good, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	for name, corrupt := range map[string][]byte{
		"flipped byte": func() []byte { b := append([]byte(nil), good...); b[len(b)/3] ^= 1; return b }(),
		"truncated":    good[:len(good)-100],
		"not etcd":     []byte("hello\n"),
	} {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.db")
			os.WriteFile(bad, corrupt, 0o600)
			o := opts(t, writeSpec(t, `{}`), filepath.Join(t.TempDir(), "out"))
			o.RestoreFrom = bad
			res, err := pipeline.Build(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Report.IsFatal() || !strings.Contains(res.Report.String(), "error: --restore-from: ") ||
				!strings.Contains(res.Report.String(), "snapshot integrity check failed") {
				t.Errorf("report:\n%s", res.Report)
			}
			for _, p := range []string{o.OutDir, o.PKIDir} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was written for a corrupt snapshot", p)
				}
			}
		})
	}

	sum := sha256.Sum256(good)
	hexsum := hex.EncodeToString(sum[:])
	var first []byte
	pkiDir := filepath.Join(t.TempDir(), "pki")
	for i := 0; i < 2; i++ {
		o := opts(t, writeSpec(t, `{}`), filepath.Join(t.TempDir(), "out"))
		o.PKIDir = pkiDir // the same PKI: the seeds must then be the same bytes
		o.RestoreFrom = snap
		res, err := pipeline.Build(context.Background(), o)
		if err != nil || res.Report.IsFatal() {
			t.Fatalf("build: %v\n%s", err, res.Report)
		}
		img, err := isoread.Read(res.Nodes[0].ISO)
		if err != nil {
			t.Fatal(err)
		}
		if string(img.Files[generator.RestoreSeedPath]) != string(good) {
			t.Error("the seed does not carry the snapshot as given")
		}
		if got := string(img.Files[generator.RestoreSeedPath+".sha256"]); got != hexsum+"  snapshot.db\n" {
			t.Errorf("snapshot checksum file: %q", got)
		}
		ud := string(img.Files["user-data"])
		token := "test-r" + hexsum[:11]
		for _, w := range []string{"--initial-cluster-token=" + token, "SHA256='" + hexsum + "'", generator.RestoreScriptPath + ` "$seed/etcdimg/restore/snapshot.db"`} {
			if !strings.Contains(ud, w) {
				t.Errorf("user-data lacks %q", w)
			}
		}
		if res.Cluster.Restore.Keys != 3 {
			t.Errorf("snapshot keys %d, want 3", res.Cluster.Restore.Keys)
		}
		iso, err := os.ReadFile(res.Nodes[0].ISO)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = iso
		} else if string(first) != string(iso) {
			t.Error("two builds from the same spec, PKI and snapshot wrote different seeds")
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// dirState is every file under dir with its bytes ("" when dir is absent),
// to show a refused build changed nothing.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return nil
	})
	return m
}

// TestRestoreNeedsAFreshRecord: a restore makes a new cluster that every
// node bootstraps, so --restore-from over a PKI folder whose membership.json
// records a cluster (not restored, or restored from another snapshot) is
// refused at --restore-from, naming the record and the way out, before
// anything is written. With a new PKI folder that keeps the CA through
// tls.ca it builds, and records the restore; the same restore builds again
// (byte-identical seeds), and a node added later gets a join seed that
// carries no snapshot and runs no restore, while the bootstrap seeds stay
// the same bytes. A replacement seed of a restored member restores nothing
// either.
func TestRestoreNeedsAFreshRecord(t *testing.T) {
	snap := localSnapshot(t, 3)
	other := localSnapshot(t, 4)
	root := t.TempDir()
	ips := []string{"192.168.0.11", "192.168.0.12", "192.168.0.13"}
	o := opts(t, writeSpec(t, nodesPatch(ips...)), filepath.Join(root, "out"))
	mustBuild(t, o)
	oldPKI := o.PKIDir

	refused := func(t *testing.T, o pipeline.Options, want ...string) {
		t.Helper()
		before := dirState(t, filepath.Dir(o.OutDir))
		res, err := pipeline.Build(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		rep := res.Report.String()
		if !res.Report.IsFatal() || !strings.Contains(rep, "\nerror: --restore-from: "+filepath.Join(o.PKIDir, membership.FileName)+" records cluster \"test\"") {
			t.Errorf("report:\n%s", rep)
		}
		for _, w := range want {
			if !strings.Contains(rep, w) {
				t.Errorf("report lacks %q:\n%s", w, rep)
			}
		}
		after := dirState(t, filepath.Dir(o.OutDir))
		if len(after) != len(before) {
			t.Errorf("a refused restore changed the files: %d -> %d", len(before), len(after))
		}
		for p, b := range before {
			if after[p] != b {
				t.Errorf("a refused restore changed %s", p)
			}
		}
	}

	// Over the original cluster's record: refused, into its own folder or
	// a new one.
	for _, out := range []string{o.OutDir, filepath.Join(root, "restored")} {
		r := o
		r.OutDir, r.RestoreFrom = out, snap
		refused(t, r, "(members etcd01, etcd02, etcd03; not restored from a snapshot)", "a restore makes a new cluster",
			"build with a new --pki-dir", "set tls.ca.cert and tls.ca.key to "+filepath.Join(oldPKI, "ca.crt")+" and "+filepath.Join(oldPKI, "ca.key"))
	}
	if _, err := os.Stat(filepath.Join(root, "restored")); err == nil {
		t.Error("the refused restore made its output folder")
	}

	// A new PKI folder keeping the CA: the restore builds and is recorded.
	caPatch := `{tls: {ca: {cert: '` + filepath.Join(oldPKI, "ca.crt") + `', key: '` + filepath.Join(oldPKI, "ca.key") + `'}}, ` +
		strings.TrimPrefix(nodesPatch(ips...), "{")
	r := opts(t, writeSpec(t, caPatch), filepath.Join(root, "restored"))
	r.Jsonnet = o.Jsonnet
	r.PKIDir, r.CacheDir, r.RestoreFrom = filepath.Join(root, "pki-restored"), o.CacheDir, snap
	res := mustBuild(t, r)
	oldCA, _ := os.ReadFile(filepath.Join(oldPKI, "ca.crt"))
	img, err := isoread.Read(res.Nodes[0].ISO)
	if err != nil {
		t.Fatal(err)
	}
	if string(img.Files["etcdimg/pki/ca.crt"]) != string(oldCA) {
		t.Error("the restored cluster's seeds do not carry the old CA")
	}
	st, err := membership.Read(filepath.Join(r.PKIDir, membership.FileName))
	if err != nil || st == nil || st.Restore == nil || st.Restore.SHA256 != res.Cluster.Restore.SHA256 || st.Restore.Token != res.Cluster.Token {
		t.Fatalf("restored cluster's record: %+v %v", st, err)
	}
	three := []string{"etcd01", "etcd02", "etcd03"}
	before := seedBytes(t, r.OutDir, three...)

	// The same restore again: allowed, the same bytes.
	mustBuild(t, r)
	for f, b := range seedBytes(t, r.OutDir, three...) {
		if string(before[f]) != string(b) {
			t.Errorf("%s changed when the same restore was built again", f)
		}
	}
	// Another snapshot over the restored cluster's record: refused.
	r2 := r
	r2.RestoreFrom = other
	refused(t, r2, "restored from another snapshot (sha256 "+st.Restore.SHA256[:12], "the spec's tls.ca keeps the CA your clients trust")

	// A grown spec with the same restore: the bootstrap seeds keep their
	// bytes; the joiner restores nothing.
	r.Spec = writeSpec(t, `{tls: {ca: {cert: '`+filepath.Join(oldPKI, "ca.crt")+`', key: '`+filepath.Join(oldPKI, "ca.key")+`'}}, `+
		strings.TrimPrefix(nodesPatch(append(ips, "192.168.0.14")...), "{"))
	mustBuild(t, r)
	for f, b := range seedBytes(t, r.OutDir, three...) {
		if string(before[f]) != string(b) {
			t.Errorf("%s changed when etcd04 was added to the restored cluster", f)
		}
	}
	noRestore := func(node, kind string) {
		t.Helper()
		img, err := isoread.Read(filepath.Join(r.OutDir, node+".iso"))
		if err != nil {
			t.Fatal(err)
		}
		for p := range img.Files {
			if strings.HasPrefix(p, "etcdimg/restore/") {
				t.Errorf("%s's %s seed carries %s", node, kind, p)
			}
		}
		ud := string(img.Files["user-data"])
		if !strings.Contains(ud, generator.JoinScriptPath) {
			t.Errorf("%s's seed is not a %s seed", node, kind)
		}
		if strings.Contains(ud, generator.RestoreScriptPath) || strings.Contains(ud, "etcdutl snapshot restore") {
			t.Errorf("%s's %s seed runs a restore", node, kind)
		}
	}
	noRestore("etcd04", "join")
	// Without the snapshot the restored cluster's bootstrap seeds would
	// bootstrap empty members: refused, nothing written.
	nr := r
	nr.RestoreFrom = ""
	before4 := dirState(t, root)
	res4, err := pipeline.Build(context.Background(), nr)
	if err != nil || !res4.Report.IsFatal() || !strings.Contains(res4.Report.String(), "error: --restore-from: "+filepath.Join(r.PKIDir, membership.FileName)+
		" records cluster \"test\" restored from the snapshot with sha256 "+st.Restore.SHA256+": build its seeds with --restore-from that snapshot") {
		t.Errorf("build of the restored cluster without its snapshot: %v\n%s", err, res4.Report)
	}
	if after := dirState(t, root); len(after) != len(before4) {
		t.Errorf("the refused build changed the files: %d -> %d", len(before4), len(after))
	}
	// A restored member replaced: it joins the restored cluster anew.
	rr := r
	rr.Nodes, rr.Replace = []string{"etcd02"}, true
	mustBuild(t, rr)
	noRestore("etcd02", "replace")
}
