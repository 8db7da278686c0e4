//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Day-2 helpers: rebuild the scenario's seeds from another spec into the
// same output folder and PKI (as an operator would), boot VMs for nodes
// that join or replace a member, and watch the member list.

// Rebuild runs `etcdimg build` on testdata/e2e/<spec>.jsonnet into the
// scenario's seed folder and PKI with extra flags (--node, --replace), then
// reloads cluster.json.
func (s *Scenario) Rebuild(spec string, extra ...string) {
	t := s.T
	t.Helper()
	root := repoRoot(t)
	specPath := filepath.Join(root, "testdata", "e2e", spec+".jsonnet")
	start := time.Now()
	args := append(append([]string{"build", specPath, "-o", s.SeedDir, "--pki-dir", filepath.Join(s.Work, "pki")}, s.specArgs()...), extra...)
	if s.Format != FormatISO {
		args = append(args, "--format", s.Format)
	}
	cmd := exec.Command(EtcdimgBin(t), args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	log := filepath.Join(s.Work, fmt.Sprintf("etcdimg-build-%s-%d.log", spec, time.Now().UnixNano()))
	_ = os.WriteFile(log, out, 0o644)
	if err != nil {
		t.Fatalf("etcdimg build %s %v: %v\n%s", spec, extra, err, tail(string(out), 40))
	}
	s.Phase(fmt.Sprintf("rebuild %s %s", spec, strings.Join(extra, " ")), time.Since(start))
	if s.Info, err = LoadClusterInfo(s.SeedDir); err != nil {
		t.Fatal(err)
	}
}

// SeedSums is the sha256 of every node's seed image and user-data.
func (s *Scenario) SeedSums() map[string]string {
	out := map[string]string{}
	for _, n := range s.Info.Nodes {
		seed, _ := n.Seed()
		for _, f := range []string{seed, filepath.Join(n.Name, "user-data")} {
			b, err := os.ReadFile(s.Info.path(f))
			if err != nil {
				s.T.Fatal(err)
			}
			sum := sha256.Sum256(b)
			out[f] = hex.EncodeToString(sum[:])
		}
	}
	return out
}

// NewNodeVM prepares a fresh VM (new disk, new tap) for a node of the
// current cluster.json in folder sub of the work dir, replacing the
// scenario's VM of that name if there is one.
func (s *Scenario) NewNodeVM(name, sub string) *VM {
	n := s.Node(name)
	seed, format := n.Seed()
	vm := NewVM(s.T, s.Net, s.Base, filepath.Join(s.Work, sub), n.Name, n.MAC, s.Info.path(seed), format)
	if i := slices.IndexFunc(s.VMs, func(v *VM) bool { return v.Name == name }); i >= 0 {
		s.VMs[i] = vm
	} else {
		s.VMs = append(s.VMs, vm)
	}
	return vm
}

// WaitMember polls the member list through via until cond holds for the
// list, and returns the list.
func (s *Scenario) WaitMember(via NodeInfo, timeout time.Duration, what string, cond func([]Member) bool) ([]Member, error) {
	deadline := time.Now().Add(timeout)
	var last []Member
	var lastErr error
	for time.Now().Before(deadline) {
		ms, err := s.MemberList(via)
		if err == nil && cond(ms) {
			return ms, nil
		}
		last, lastErr = ms, err
		time.Sleep(2 * time.Second)
	}
	return last, fmt.Errorf("%s: not within %s; last member list %+v (%v)", what, timeout, last, lastErr)
}

func findMember(ms []Member, name, peerURL string) *Member {
	for i := range ms {
		if ms[i].Name == name || slices.Contains(ms[i].PeerURLs, peerURL) {
			return &ms[i]
		}
	}
	return nil
}

// ConsoleSteps are the "etcdimg: <step> <seconds>s" lines the seed's
// scripts printed on the console during a boot (the join service writes to
// the journal and the console), as "step 1.2s" in order.
func (vm *VM) ConsoleSteps(boot int) string {
	re := regexp.MustCompile(`etcdimg: ([a-z-]+) ([0-9]+(?:\.[0-9]+)?)s\s*$`)
	var out []string
	seen := map[string]bool{} // the console shows a line once per log it went to
	for _, l := range vm.ConsoleLines(boot, "etcdimg: ") {
		if m := re.FindStringSubmatch(stripANSI(l)); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1]+" "+m[2]+"s")
		}
	}
	return strings.Join(out, "  ")
}

// CheckJoinerReport runs the guest checks on the report of a node whose
// etcd the join service starts: when the report was taken etcd may not
// have been started yet, so etcd-active and etcd-process are only logged;
// the caller checks the member from the host.
func (s *Scenario) CheckJoinerReport(name string, r *Report) {
	for _, f := range CheckNodeReport(s.Info, s.Rel, s.Node(name), r) {
		if f.Check == "etcd-active" || f.Check == "etcd-process" {
			s.T.Logf("(at report time) %s", f)
			continue
		}
		s.T.Error(f)
	}
}

// RemoveMember runs `etcdimg member remove DIR NAME` from the host, inside
// the namespace, and returns its output.
func (s *Scenario) RemoveMember(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.Net.CmdContext(ctx, EtcdimgBin(s.T), "member", "remove", s.SeedDir, name).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("etcdimg member remove %s: %v: %s", name, err, out)
	}
	return string(out), nil
}
