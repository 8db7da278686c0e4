//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testBackupRestore: three nodes with scheduled snapshots come up and a
// node-side timer writes a snapshot (checked from each guest's report); a
// few thousand keys are written; a snapshot is saved from the host; every VM
// is destroyed; `etcdimg build --restore-from` makes new seeds, new VMs boot
// from them, and every key must read back identical through every node.
func testBackupRestore(t *testing.T, release string) {
	s := NewScenario(t, release, "backup")
	s.Start()
	reps := s.WaitReports()
	s.VerifyFirstBoot(reps)
	for _, n := range s.Info.Nodes {
		s.checkBackupTimer(n, reps[n.Name])
	}
	if t.Failed() {
		t.FailNow()
	}

	const keys = 3000
	start := time.Now()
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

	s.rebuild("--restore-from", snap)
	s.Start()
	reps = s.WaitReports()
	s.VerifyFirstBoot(reps)
	for _, n := range s.Info.Nodes {
		r := reps[n.Name]
		if !strings.Contains(r.Section("restore-log").Text(), "etcdimg-restore: restored member "+n.Name+" of a new cluster") {
			t.Errorf("node %s: check restore: the seed did not restore the snapshot:\n%s\nfirst-boot output:\n%s", n.Name,
				indent(r.Section("restore-log").Text()), indent(r.Section("cloud-init-output-tail").Text()))
		}
		if !strings.Contains(StepTimes(r), "restore ") {
			t.Errorf("node %s: check restore-step: no restore step among %s", n.Name, StepTimes(r))
		}
		s.checkBackupTimer(n, r)
	}
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
}

// checkBackupTimer: the snapshot timer is enabled and scheduled, it has
// fired, its run succeeded, and the snapshot is 0600 etcd:etcd in a 0700
// etcd:etcd folder, with no temporary file left.
func (s *Scenario) checkBackupTimer(n NodeInfo, r *Report) {
	t := s.T
	t.Helper()
	timer := r.Section("backup-timer")
	tt := timer.Text()
	// Enabled and active (waiting for its next elapse) and fired. While
	// its service runs, systemd shows no next elapse: the report may catch
	// a timer in that moment (every minute here), so it is only logged.
	if timer.RC != 0 || !strings.HasPrefix(tt, "enabled\nactive\n") || strings.Contains(tt, "LastTriggerUSec=n/a") ||
		!strings.Contains(tt, "LastTriggerUSec=") || strings.Contains(tt, "LastTriggerUSec=\n") {
		t.Errorf("node %s: check backup-timer: not enabled, active and fired (rc %d):\n%s", n.Name, timer.RC, indent(tt))
	}
	if !strings.Contains(tt, "NextElapseUSecRealtime=") || strings.Contains(tt, "NextElapseUSecRealtime=\n") {
		t.Logf("node %s: backup timer shows no next elapse (its service was running at report time):\n%s", n.Name, indent(tt))
	}
	svc := r.Section("backup-service").Text()
	if !strings.Contains(svc, "Result=success") || !strings.Contains(svc, "etcdimg-backup: /var/backups/etcd/"+n.Name+"-") {
		t.Errorf("node %s: check backup-service: (report waited %ss)\n%s", n.Name, r.Header("backup_wait_s"), indent(svc))
	}
	files := r.Section("backup-files").Lines
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
	t.Logf("node %s: timer snapshot after %ss of waiting: %s", n.Name, r.Header("backup_wait_s"), strings.Join(files[1:], "; "))
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

// rebuild builds the scenario's spec again with extra `etcdimg build`
// arguments and the same PKI into a new seed folder, and replaces the VMs
// with fresh ones (new disks) booting those seeds, on the same network.
func (s *Scenario) rebuild(extra ...string) {
	t := s.T
	t.Helper()
	specPath := filepath.Join(repoRoot(t), "testdata", "e2e", strings.TrimSuffix(s.Name, "-"+s.Release)+".jsonnet")
	s.SeedDir = filepath.Join(s.Work, "seeds-rebuilt")
	args := append([]string{"build", specPath, "-o", s.SeedDir, "--etcd-release", s.Rel.Tarball,
		"--pki-dir", filepath.Join(s.Work, "pki"), "--ext-str", "etcd_sha256=" + s.Rel.TarballSHA256}, extra...)
	start := time.Now()
	cmd := exec.Command(EtcdimgBin(t), args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(s.Work, "etcdimg-rebuild.log"), out, 0o644)
	if err != nil {
		t.Fatalf("etcdimg %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 40))
	}
	s.Phase("iso-build "+strings.Join(extra, " "), time.Since(start))
	t.Logf("etcdimg build %s:\n%s", strings.Join(extra, " "), indent(strings.TrimSpace(string(out))))
	if s.Info, err = LoadClusterInfo(s.SeedDir); err != nil {
		t.Fatal(err)
	}
	s.VMs = nil
	for _, n := range s.Info.Nodes {
		seed, format := n.Seed()
		if fi, err := os.Stat(s.Info.path(seed)); err == nil {
			t.Logf("node %s: seed %s, %d bytes", n.Name, seed, fi.Size())
		}
		s.VMs = append(s.VMs, NewVM(t, s.Net, s.Base, filepath.Join(s.Work, "vms-rebuilt"), n.Name, n.MAC, s.Info.path(seed), format))
	}
}
