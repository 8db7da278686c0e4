//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// backupRestore ends TestLifecycle's day 2 on its running 3-node cluster
// (spec, with scheduled snapshots): it logs in to every node and checks the
// snapshot timer's runs (the nodes' own backups); writes a few thousand keys;
// saves a snapshot from the host; destroys every VM; checks that `etcdimg build
// --restore-from` over the old PKI folder is refused; then builds
// restoredSpec with --restore-from (a new PKI folder, as a restore must:
// the old one records the old cluster; the CA kept through tls.ca), boots
// new VMs on base from those seeds (the scenario's release and base become
// base's), and every key must read back identical through every node. It
// shares the lifecycle's boots: a cluster of its own would cost CI another
// three first boots. It returns the restored nodes' first-boot reports.
func (s *Scenario) backupRestore(spec, restoredSpec string, base BaseImage) map[string]*Report {
	t := s.T
	t.Helper()
	start := time.Now()
	for _, n := range s.Info.Nodes {
		s.checkBackupTimer(n)
	}
	s.Phase("backup-timer check (ssh)", time.Since(start))
	if t.Failed() {
		t.FailNow()
	}

	const keys = 3000
	start = time.Now()
	want := s.putKeys("/e2e-backup/", keys)
	s.Phase(fmt.Sprintf("put %d keys", keys), time.Since(start))
	oldID := s.clusterID()

	// The snapshot from the host, as an operator takes it: `etcdimg
	// snapshot save` with the build's cluster.json and admin certificate,
	// run inside the namespace.
	snap := filepath.Join(s.Work, "backup.db")
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	out, err := s.Net.CmdContext(ctx, EtcdimgBin(t), "snapshot", "save", s.SeedDir, "-o", snap, "--timeout=90s").CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("check snapshot-save: etcdimg snapshot save: %v\n%s", err, out)
	}
	s.Phase("snapshot-save (host)", time.Since(start))
	t.Logf("etcdimg snapshot save:\n%s", indent(strings.TrimSpace(string(out))))
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("check snapshot-save: %s: %v %v, want a 0600 file", snap, fi, err)
	} else {
		t.Logf("snapshot of %d keys: %d bytes", keys, fi.Size())
	}

	// Every VM gone: nothing of the old cluster survives but the file.
	start = time.Now()
	for _, vm := range s.VMs {
		vm.Kill()
	}
	s.Phase("destroy all VMs", time.Since(start))

	// The old PKI folder records the old cluster: a restore there is refused
	// before anything is written.
	oldPKI := filepath.Join(s.Work, "pki")
	if out, err := s.etcdimgBuild(spec, filepath.Join(s.Work, "seeds-refused"), oldPKI, "--restore-from", snap); err == nil ||
		!strings.Contains(out, "error: --restore-from: ") || !strings.Contains(out, "a restore makes a new cluster") {
		t.Errorf("check restore-refused: build --restore-from over the recorded cluster: %v\n%s", err, out)
	} else if _, err := os.Stat(filepath.Join(s.Work, "seeds-refused")); err == nil {
		t.Errorf("check restore-refused: the refused build wrote %s", filepath.Join(s.Work, "seeds-refused"))
	}

	s.rebuildRestored(restoredSpec, snap, oldPKI, base)
	t.Logf("restored cluster: Debian %s (%s base: kernel %s, cloud-init %s)", base.Release, base.Variant, base.Info["kernel"], base.Info["cloud_init"])
	s.Start()
	reps := s.WaitReports()
	s.VerifyFirstBoot(reps)
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	for _, n := range s.Info.Nodes {
		if !strings.Contains(StepTimes(reps[n.Name]), "restore ") {
			t.Errorf("node %s: check restore-step: no restore step among %s", n.Name, StepTimes(reps[n.Name]))
		}
		out, err := s.SSH(ctx, "debian", n, "sudo grep -h etcdimg-restore: /var/log/cloud-init-output.log; sudo cat "+generatorRestoreMarker)
		if err != nil || !strings.Contains(out, "etcdimg-restore: restored member "+n.Name+" of a new cluster") ||
			!strings.HasSuffix(out, n.Name+" "+s.restoreToken()+" "+fileSHA256(t, snap)) {
			t.Errorf("node %s: check restore: the seed did not restore the snapshot (%v):\n%s", n.Name, err, indent(out))
		}
	}
	cancel()
	if newID := s.clusterID(); newID == oldID || newID == "" {
		t.Errorf("check cluster-id: restored cluster has id %q, the old one %q; a restore must make a new cluster", newID, oldID)
	}
	start = time.Now()
	for _, n := range s.Info.Nodes {
		got := s.getPrefix(n, "/e2e-backup/")
		if len(got) != len(want) {
			t.Errorf("node %s: check restored-keys: %d keys under /e2e-backup/, want %d", n.Name, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("node %s: check restored-keys: %s = %q, want %q", n.Name, k, got[k], v)
				break
			}
		}
	}
	s.Phase(fmt.Sprintf("read %d keys x %d nodes", keys, len(s.Info.Nodes)), time.Since(start))
	return reps
}

// generatorRestoreMarker is generator.RestoreMarkerPath (the e2e package
// does not import the generator: it drives the built binary).
const generatorRestoreMarker = "/etc/etcdimg/restored"

// checkBackupTimer logs in to n and waits (bounded) until the snapshot
// timer has run its service successfully (a run before quorum fails, and
// the timer tries again two minutes later), then checks: the timer is enabled
// and active and has fired, its run succeeded, and the snapshot is 0600
// etcd:etcd in a 0700 etcd:etcd folder, with no temporary file left.
func (s *Scenario) checkBackupTimer(n NodeInfo) {
	t := s.T
	t.Helper()
	const script = `i=0
while [ $i -lt 150 ]; do
	case "$(systemctl show -P ExecMainExitTimestampMonotonic etcdimg-backup.service)" in
	""|0) ;;
	*) [ "$(systemctl show -P Result etcdimg-backup.service)" = success ] && break ;;
	esac
	sleep 1; i=$((i+1))
done
echo "@@ wait $i"
echo "@@ timer"
systemctl is-enabled etcdimg-backup.timer; systemctl is-active etcdimg-backup.timer
systemctl show -p LastTriggerUSec -p NextElapseUSecRealtime etcdimg-backup.timer
echo "@@ service"
systemctl show -p Result -p ExecMainStatus etcdimg-backup.service
journalctl -u etcdimg-backup.service --no-pager -o cat | tail -n 20
echo "@@ files"
stat -c "%a %U %G %n" /var/backups/etcd
find /var/backups/etcd -mindepth 1 -exec stat -c "%a %U %G %s %n" {} +`
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := s.SSH(ctx, "debian", n, "sudo sh -c '"+script+"'")
	if err != nil {
		t.Errorf("node %s: check backup-timer: ssh: %v\n%s", n.Name, err, indent(out))
		return
	}
	sec := map[string]string{}
	cur, wait := "", "?"
	for _, l := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(l, "@@ "); ok {
			cur = name
			if w, ok := strings.CutPrefix(name, "wait "); ok {
				wait = w
			}
			continue
		}
		sec[cur] += l + "\n"
	}
	tt := sec["timer"]
	// Enabled and active (waiting for its next elapse) and fired. While
	// its service runs, systemd shows no next elapse: the check may catch
	// a timer in that moment (every two minutes here), so that is only logged.
	if !strings.HasPrefix(tt, "enabled\nactive\n") || strings.Contains(tt, "LastTriggerUSec=n/a") ||
		!strings.Contains(tt, "LastTriggerUSec=") || strings.Contains(tt, "LastTriggerUSec=\n") {
		t.Errorf("node %s: check backup-timer: not enabled, active and fired:\n%s", n.Name, indent(tt))
	}
	if !strings.Contains(tt, "NextElapseUSecRealtime=") || strings.Contains(tt, "NextElapseUSecRealtime=\n") {
		t.Logf("node %s: backup timer shows no next elapse (its service was running):\n%s", n.Name, indent(tt))
	}
	if svc := sec["service"]; !strings.Contains(svc, "Result=success") || !strings.Contains(svc, "etcdimg-backup: /var/backups/etcd/"+n.Name+"-") {
		t.Errorf("node %s: check backup-service: (waited %ss)\n%s", n.Name, wait, indent(svc))
	}
	files := strings.Split(strings.TrimSpace(sec["files"]), "\n")
	if len(files) < 2 || files[0] != "700 etcd etcd /var/backups/etcd" {
		t.Errorf("node %s: check backup-files: want the folder 700 etcd etcd and a snapshot:\n%s", n.Name, indent(strings.Join(files, "\n")))
		return
	}
	for _, l := range files[1:] {
		f := strings.Fields(l)
		if len(f) != 5 || f[0] != "600" || f[1] != "etcd" || f[2] != "etcd" ||
			!strings.HasPrefix(f[4], "/var/backups/etcd/"+n.Name+"-") || !strings.HasSuffix(f[4], ".db") {
			t.Errorf("node %s: check backup-files: %q is not a 600 etcd etcd <node>-<time>.db snapshot", n.Name, l)
		}
	}
	t.Logf("node %s: timer snapshot after %ss of waiting: %s", n.Name, wait, strings.Join(files[1:], "; "))
}

// putKeys writes count keys under prefix, 100 per transaction, through the
// first node, and returns them.
func (s *Scenario) putKeys(prefix string, count int) map[string]string {
	s.T.Helper()
	want := map[string]string{}
	for b := 0; b < count; b += 100 {
		var txn strings.Builder
		txn.WriteString("\n")
		for i := b; i < min(b+100, count); i++ {
			k, v := fmt.Sprintf("%s%05d", prefix, i), fmt.Sprintf("v%d-%s-%d", i, s.Name, i*7919%100003)
			want[k] = v
			fmt.Fprintf(&txn, "put %s %s\n", k, v)
		}
		txn.WriteString("\n\n")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := s.etcdctlCmd(ctx, []string{s.Info.Nodes[0].Endpoint()}, "txn")
		cmd.Stdin = strings.NewReader(txn.String())
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.HasPrefix(string(out), "SUCCESS") {
			s.T.Fatalf("check put-keys: txn at %d: %v\n%s", b, err, out)
		}
	}
	return want
}

func (s *Scenario) etcdctlCmd(ctx context.Context, endpoints []string, args ...string) *exec.Cmd {
	a := []string{s.Rel.Etcdctl, "--endpoints=" + strings.Join(endpoints, ","), "--dial-timeout=5s", "--command-timeout=30s"}
	if s.Info.TLS {
		a = append(a, "--cacert="+s.Info.path(s.Info.Etcdctl.CACert), "--cert="+s.Info.path(s.Info.Etcdctl.Cert), "--key="+s.Info.path(s.Info.Etcdctl.Key))
	}
	return s.Net.CmdContext(ctx, append(a, args...)...)
}

// getPrefix reads every key under prefix through one node (linearizable).
func (s *Scenario) getPrefix(n NodeInfo, prefix string) map[string]string {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.etcdctlCmd(ctx, []string{n.Endpoint()}, "get", prefix, "--prefix", "-w", "json").Output()
	if err != nil {
		s.T.Errorf("node %s: check get-prefix: %v", n.Name, err)
		return nil
	}
	var resp struct {
		KVs []struct{ Key, Value []byte } `json:"kvs"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		s.T.Errorf("node %s: check get-prefix: %v", n.Name, err)
		return nil
	}
	got := map[string]string{}
	for _, kv := range resp.KVs {
		got[string(kv.Key)] = string(kv.Value)
	}
	return got
}

// clusterID is the cluster id the first node reports.
func (s *Scenario) clusterID() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.etcdctlCmd(ctx, []string{s.Info.Nodes[0].Endpoint()}, "endpoint", "status", "-w", "json").Output()
	if err != nil {
		s.T.Errorf("check cluster-id: %v", err)
		return ""
	}
	var st []struct {
		Status struct {
			Header struct {
				ClusterID uint64 `json:"cluster_id"`
			} `json:"header"`
		} `json:"Status"`
	}
	if err := json.Unmarshal(out, &st); err != nil || len(st) == 0 {
		s.T.Errorf("check cluster-id: %v: %s", err, out)
		return ""
	}
	return fmt.Sprintf("%x", st[0].Status.Header.ClusterID)
}

// etcdimgBuild runs `etcdimg build` on testdata/e2e/<spec>.jsonnet into
// out with the PKI folder pki, the scenario's spec arguments (specArgs: the
// release, the SSH key, the admin hash), the old PKI folder as ext var
// e2e_old_pki, and extra arguments; it returns the output.
func (s *Scenario) etcdimgBuild(spec, out, pki string, extra ...string) (string, error) {
	t := s.T
	t.Helper()
	args := append([]string{"build", filepath.Join(repoRoot(t), "testdata", "e2e", spec+".jsonnet"), "-o", out, "--pki-dir", pki},
		s.specArgs()...)
	args = append(append(args, "--ext-str", "e2e_old_pki="+filepath.Join(s.Work, "pki")), extra...)
	cmd := exec.Command(EtcdimgBin(t), args...)
	cmd.Dir = repoRoot(t)
	b, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(s.Work, fmt.Sprintf("etcdimg-build-%s-%d.log", spec, time.Now().UnixNano())), b, 0o644)
	return string(b), err
}

// rebuildRestored builds testdata/e2e/<spec>.jsonnet (the same cluster,
// with the old PKI folder's CA as its tls.ca) with --restore-from
// snap and a new PKI folder into a new seed folder, and replaces the VMs
// with fresh ones (new disks of base) booting those seeds, on the same
// network.
func (s *Scenario) rebuildRestored(spec, snap, oldPKI string, base BaseImage) {
	t := s.T
	t.Helper()
	s.SeedDir = filepath.Join(s.Work, "seeds-restored")
	start := time.Now()
	out, err := s.etcdimgBuild(spec, s.SeedDir, filepath.Join(s.Work, "pki-restored"), "--restore-from", snap)
	if err != nil {
		t.Fatalf("etcdimg build --restore-from: %v\n%s", err, tail(out, 40))
	}
	s.Phase("iso-build --restore-from", time.Since(start))
	t.Logf("etcdimg build --restore-from:\n%s", indent(strings.TrimSpace(out)))
	if s.Info, err = LoadClusterInfo(s.SeedDir); err != nil {
		t.Fatal(err)
	}
	// The clients' trust survives the restore: the seeds carry the old CA.
	oldCA, err1 := os.ReadFile(filepath.Join(oldPKI, "ca.crt"))
	newCA, err2 := os.ReadFile(s.Info.path(s.Info.Etcdctl.CACert))
	if err1 != nil || err2 != nil || string(oldCA) != string(newCA) {
		t.Errorf("check restore-ca: the restored cluster's CA (%s) is not the old one (%s): %v %v", s.Info.Etcdctl.CACert, oldPKI, err1, err2)
	}
	s.VMs = nil
	s.Base, s.Release = base, base.Release
	for _, n := range s.Info.Nodes {
		seed, format := n.Seed()
		if fi, err := os.Stat(s.Info.path(seed)); err == nil {
			t.Logf("node %s: seed %s, %d bytes", n.Name, seed, fi.Size())
		}
		s.VMs = append(s.VMs, NewVM(t, s.Net, s.Base, filepath.Join(s.Work, "vms-restored"), n.Name, n.MAC, s.Info.path(seed), format))
	}
}

// restoreToken is the restored cluster's --initial-cluster-token, read from
// the restored node's unit on the seed folder.
func (s *Scenario) restoreToken() string {
	b, err := os.ReadFile(filepath.Join(s.SeedDir, s.Info.Nodes[0].Name, "user-data"))
	if err != nil {
		s.T.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "--initial-cluster-token=")
	if !ok {
		s.T.Fatal("no --initial-cluster-token in user-data")
	}
	tok, _, _ := strings.Cut(rest, " ")
	return strings.TrimSpace(tok)
}

func fileSHA256(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
