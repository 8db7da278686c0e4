//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each scenario builds testdata/e2e/<spec>.jsonnet with bin/etcdimg, boots
// one Debian VM per node from the seeds (TCG unless real KVM), and checks the
// cluster from the guests' reports and from the host. Each runs as a subtest
// per Debian release (TestX/bookworm); ETCDIMG_E2E_RELEASES overrides the
// releases below. Under TCG a cluster's first boot costs 4-5 minutes on a
// 2-core host, and CI's whole run (unit tests included) should stay under
// 60, so the two scenarios share their boots: two first boots of a cluster,
// plus the restored one.
//
//   - TestLifecycle (TLS, official-like bases): a Debian 12 cluster's life:
//     first boot with the older etcd, node access, the rolling upgrade with
//     renewed certificates, join, replace, remove, backup; then the restore
//     on new Debian 13 VMs, and there the seed's life after first boot
//     (three-way restart: seed ejected, the same, a newer one).
//   - TestLateJoiner (Debian 12, the `None`-fallback base, TLS off, FAT
//     seeds): five nodes, two of them late; node access; then the same
//     three-way restart on the base where an ejected seed used to break a
//     node.

// checkVFATSeeds checks what `etcdimg build --format vfat` wrote: cluster.json
// lists a FAT image labelled cidata per node (<node>.img) and no ISO, and no
// ISO was written.
func (s *Scenario) checkVFATSeeds() {
	t := s.T
	t.Helper()
	for _, n := range s.Info.Nodes {
		if n.ISO != "" {
			t.Errorf("node %s: check cluster-json-seed: lists iso %q beside vfat %q", n.Name, n.ISO, n.VFAT)
		}
		if filepath.Ext(n.VFAT) != ".img" {
			t.Errorf("node %s: check cluster-json-seed: vfat seed %q, want <node>.img", n.Name, n.VFAT)
		}
		img, _ := n.Seed()
		if typ, label, err := blkid(s.Info.path(img)); err != nil || typ != "vfat" || label != "cidata" {
			t.Errorf("node %s: check seed-image: blkid says TYPE=%q LABEL=%q (%v), want vfat/cidata", n.Name, typ, label, err)
		}
	}
	if isos, _ := filepath.Glob(filepath.Join(s.SeedDir, "*.iso")); len(isos) > 0 {
		t.Errorf("check seed-files: --format vfat also wrote %v", isos)
	}
}

// checkVFATSeedDevice checks that each guest's cloud-init read its seed from
// the virtio disk the FAT image is attached as, not from a CD.
func checkVFATSeedDevice(t *testing.T, reps map[string]*Report) {
	t.Helper()
	for name, r := range reps {
		if st := CloudInitStatus(r).Detail; !strings.Contains(st, "seed=/dev/vd") {
			t.Errorf("node %s: check seed-device: cloud-init did not read its seed from a virtio disk: %q", name, st)
		}
	}
}

// blkid probes a filesystem image's type and label.
func blkid(path string) (typ, label string, err error) {
	out, err := exec.Command("blkid", "-p", "-o", "export", path).Output()
	if err != nil {
		return "", "", fmt.Errorf("blkid -p %s: %v", path, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "TYPE="); ok {
			typ = v
		}
		if v, ok := strings.CutPrefix(l, "LABEL="); ok {
			label = v
		}
	}
	return typ, label, nil
}

// TestLateJoiner is also the five-node scenario: a 5-node cluster whose
// first three nodes (a bare majority) boot alone and the last two once the
// three have reported, at least 90 s after them (ETCDIMG_E2E_LATE_DELAY).
// The three must form quorum (3 of 5) without the other two, and the two
// must join the running cluster from their seeds alone; then all five are
// healthy voting members with the spec's URLs and a key reads back through
// each. One 5-VM scenario instead of a 3-node late joiner plus a separate
// 5-node boot saves a cluster boot in CI.
//
// It is the FAT seed scenario: the seeds are `etcdimg build --format vfat`
// images labelled cidata, for hypervisors that attach a disk rather than a
// CD, here a read-only virtio disk. cloud-init must find it, and the seed's
// first-boot program must mount it by label like the ISO.
//
// It is the plain-HTTP scenario (tls: false): TLS off changes what etcdimg
// renders, not what the guest does with it.
//
// And it boots the base whose cloud-init lists `datasource_list: [ NoCloud,
// None ]`, where a boot without the seed used to become a new instance of
// the None datasource with a DHCP fallback network. So after node access
// (VerifyAccess) its first three nodes are powered off and restarted at once
// (the cluster loses quorum meanwhile): late1 with its seed disk detached,
// late2 with the same seed, late3 with a newer seed of the same node (new
// instance-id); each keeps its identity, and the cluster its members and
// data. The same restart on the official-like base (Debian 13) is
// TestLifecycle's, on its restored cluster.
func TestLateJoiner(t *testing.T) {
	ForReleases(t, []string{Bookworm}, testLateJoiner)
}

func testLateJoiner(t *testing.T, release string) {
	s := NewScenarioBase(t, release, "late-joiner", FormatVFAT, BaseNoneFallback)
	if len(s.VMs) != 5 {
		t.Fatalf("check cluster.json: late-joiner spec has %d nodes, want 5", len(s.VMs))
	}
	if s.Info.TLS {
		t.Errorf("check cluster.json: late-joiner spec reports tls=true")
	}
	for _, n := range s.Info.Nodes {
		if !strings.HasPrefix(n.Endpoint(), "http://") {
			t.Errorf("node %s: check client-url: %s is not plain http", n.Name, n.Endpoint())
		}
	}
	s.checkVFATSeeds()
	delay := 90 * time.Second
	if v := envOr("ETCDIMG_E2E_LATE_DELAY", ""); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			delay = d
		}
	}
	quorum := len(s.VMs)/2 + 1
	early, late := s.VMs[:quorum], s.VMs[quorum:]
	start := time.Now()
	s.Start(early...)
	t.Logf("started %d of %d nodes (a bare majority); %d more start when they have reported, %s after them at the earliest", len(early), len(s.VMs), len(late), delay)
	// The late nodes start once the early ones have reported, so the early
	// ones must have formed the cluster (3 of 5 is a quorum) alone: their
	// reports are checked below like every other (etcd active). Starting
	// the late ones while the early ones still boot put five TCG guests on
	// two cores at once, which made first boots take over 8 minutes on a
	// slower host (1 Dec 2026).
	reps := s.WaitReports(early...)
	if d := delay - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	t.Logf("starting %d late nodes %s after the first", len(late), time.Since(start).Round(time.Second))
	s.Start(late...)
	for k, v := range s.WaitReports(late...) {
		reps[k] = v
	}
	checkVFATSeedDevice(t, reps)
	s.VerifyFirstBoot(reps)
	s.VerifyAccess()
	if t.Failed() {
		t.FailNow()
	}
	key, val := s.PutEverywhere()
	s.RestartSeeds(reps, key, val, SeedEject, SeedSame, SeedNewer)
}

// VerifyFirstBoot runs the guest checks on every report, then the host checks.
func (s *Scenario) VerifyFirstBoot(reps map[string]*Report) {
	t := s.T
	t.Helper()
	for _, n := range s.Info.Nodes {
		r := reps[n.Name]
		if r == nil {
			t.Errorf("node %s: check report: none", n.Name)
			continue
		}
		for _, f := range CheckNodeReport(s.Info, s.Rel, n, r) {
			t.Error(f)
		}
		t.Logf("node %s: Debian %s, kernel %s, cloud-init %s; first-boot steps: %s", n.Name,
			r.Header("debian"), r.Header("kernel"), r.Header("cloud_init_version"), StepTimes(r))
	}
	s.WaitHealthy(s.healthyTimeout(reps))
	s.CheckMembers()
	s.PutEverywhere()
}

// healthyTimeout is short when a guest already says etcd is not running:
// waiting minutes for health would only delay the report.
func (s *Scenario) healthyTimeout(reps map[string]*Report) time.Duration {
	for _, r := range reps {
		if r.Section("etcd-active").Text() != "active" {
			return 45 * time.Second
		}
	}
	return 4 * time.Minute
}

// TestLifecycle is a cluster's life on one cluster (the official-like
// bases). Three Debian 12 nodes boot with the older etcd (GetOldRelease,
// 3.5.21), node access is checked, and data is written. The cluster is
// upgraded to ETCDIMG_E2E_RELEASE (3.6.16) with every leaf certificate
// renewed, by the rolling delivery under a writer (rolling.go): every node
// boots again with a newer seed of its own. Then the spec grows by k8s04,
// whose VM boots from its join seed and becomes a voting member (the three
// seeds stay byte-identical); k8s02's VM is destroyed and a fresh VM boots
// from its replacement seed; k8s04 is removed (etcdimg member remove from
// the host) and its VM shut down. After every step the key written first
// reads back through every member and the cluster is healthy. Logged
// phases: join boot->learner and learner->voting, replace, remove. Then
// backup and restore (backup_test.go): the nodes' scheduled snapshots, a
// snapshot from the host, every VM destroyed, a cluster restored from new
// seeds on new VMs, of the other Debian release (13), with every key
// intact. That restored cluster is Debian 13's TLS cluster: node access
// again, then the seed's life after first boot (README "After the first
// boot"): every VM powered off and restarted at once, k8s01 with its seed
// ejected, k8s02 with the same seed, k8s03 with a newer seed of the same node
// (new instance-id); each keeps its identity and the cluster its data.
func TestLifecycle(t *testing.T) {
	ForReleases(t, []string{Bookworm}, testLifecycle)
}

func testLifecycle(t *testing.T, release string) {
	s := NewScenarioRelease(t, release, "lifecycle", GetOldRelease(t))
	s.Start()
	reps := s.WaitReports()
	s.VerifyFirstBoot(reps)
	s.VerifyAccess()
	if t.Failed() {
		t.FailNow()
	}
	key, val := s.PutEverywhere()
	s.RollingUpgrade("lifecycle", GetRelease(t), reps, key, val)
	if t.Failed() {
		t.FailNow()
	}
	k8s01 := s.Node("k8s01")
	intact := func(step string) {
		t.Helper()
		s.WaitHealthy(2 * time.Minute)
		s.CheckMembers()
		s.CheckKeyEverywhere(key, val)
		if t.Failed() {
			t.Fatalf("after %s: cluster or data not intact", step)
		}
	}

	// Grow: the three seeds stay byte-identical, k8s04 joins.
	before := s.SeedSums()
	s.Rebuild("lifecycle-grown")
	after := s.SeedSums()
	for f, sum := range before {
		if after[f] != sum {
			t.Errorf("check seed-unchanged: %s changed when k8s04 was added", f)
		}
	}
	vm4 := s.NewNodeVM("k8s04", "vms-day2")
	n4 := s.Node("k8s04")
	start := time.Now()
	if err := vm4.Start(); err != nil {
		t.Fatal(err)
	}
	learnerAt := make(chan time.Duration, 1)
	votingAt := make(chan time.Duration, 1)
	go func() {
		defer close(votingAt)
		defer close(learnerAt)
		if _, err := s.WaitMember(k8s01, s.BootTimeout(), "k8s04 added as learner", func(ms []Member) bool {
			m := findMember(ms, "k8s04", n4.PeerURLs[0])
			return m != nil && m.IsLearner
		}); err != nil {
			t.Errorf("node k8s04: check learner: %v", err)
			return
		}
		learnerAt <- time.Since(start)
		if _, err := s.WaitMember(k8s01, s.BootTimeout(), "k8s04 promoted", func(ms []Member) bool {
			m := findMember(ms, "k8s04", n4.PeerURLs[0])
			return m != nil && m.Name == "k8s04" && !m.IsLearner
		}); err != nil {
			t.Errorf("node k8s04: check promoted: %v", err)
			return
		}
		votingAt <- time.Since(start)
	}()
	reps = s.WaitReports(vm4)
	s.CheckJoinerReport("k8s04", reps["k8s04"])
	l, lok := <-learnerAt
	v, vok := <-votingAt
	if !lok || !vok {
		t.FailNow()
	}
	s.Phase("join boot->learner k8s04", l)
	s.Phase("join learner->voting k8s04", v-l)
	t.Logf("node k8s04: join seed steps (console): %s", vm4.ConsoleSteps(1))
	intact("join")

	// Replace: k8s02's VM dies with its disk; a fresh VM boots from the
	// replacement seed, removes the dead member and joins anew.
	s.Rebuild("lifecycle-grown", "--node", "k8s02", "--replace")
	for f, sum := range after {
		if changed := s.SeedSums()[f] != sum; changed != strings.HasPrefix(f, "k8s02") {
			t.Errorf("check seed-unchanged: %s changed=%v by --replace k8s02", f, changed)
		}
	}
	ms, err := s.MemberList(k8s01)
	if err != nil {
		t.Fatal(err)
	}
	old := findMember(ms, "k8s02", s.Node("k8s02").PeerURLs[0])
	if old == nil {
		t.Fatalf("no member k8s02 before the replacement: %+v", ms)
	}
	oldID := old.ID
	s.VM("k8s02").Kill()
	vm2 := s.NewNodeVM("k8s02", "vms-replaced")
	start = time.Now()
	if err := vm2.Start(); err != nil {
		t.Fatal(err)
	}
	replaced := make(chan error, 1)
	go func() {
		_, err := s.WaitMember(k8s01, s.BootTimeout()+2*time.Minute, "k8s02 replaced and voting", func(ms []Member) bool {
			m := findMember(ms, "k8s02", s.Node("k8s02").PeerURLs[0])
			return m != nil && m.ID != oldID && m.Name == "k8s02" && !m.IsLearner
		})
		replaced <- err
	}()
	reps = s.WaitReports(vm2)
	s.CheckJoinerReport("k8s02", reps["k8s02"])
	if err := <-replaced; err != nil {
		t.Fatalf("node k8s02: check replaced: %v", err)
	}
	s.Phase("replace boot->voting k8s02", time.Since(start))
	t.Logf("node k8s02: replacement seed steps (console): %s", vm2.ConsoleSteps(1))
	intact("replace")

	// Shrink: remove k8s04 from the host, shut its VM down, and build the
	// spec without it: the remaining seeds do not change.
	ms, err = s.MemberList(k8s01)
	if err != nil {
		t.Fatal(err)
	}
	m4 := findMember(ms, "k8s04", n4.PeerURLs[0])
	if m4 == nil {
		t.Fatalf("no member k8s04: %+v", ms)
	}
	start = time.Now()
	out, err := s.RemoveMember("k8s04")
	if err != nil {
		t.Fatal(err)
	}
	s.Phase("remove k8s04 (etcdimg member remove)", time.Since(start))
	t.Logf("etcdimg member remove k8s04:\n%s", indent(out))
	if ms, err = s.MemberList(k8s01); err != nil || findMember(ms, "k8s04", n4.PeerURLs[0]) != nil {
		t.Fatalf("check member-removed: k8s04 still listed (%v): %+v", err, ms)
	}
	if clean, err := vm4.Shutdown(2 * time.Minute); err != nil || !clean {
		t.Errorf("node k8s04: check shutdown: clean=%v %v", clean, err)
	}
	grown := s.SeedSums()
	s.Rebuild("lifecycle")
	for f, sum := range s.SeedSums() {
		if grown[f] != sum {
			t.Errorf("check seed-unchanged: %s changed when k8s04 left the spec", f)
		}
	}
	intact("remove")
	s.PutEverywhere()
	if t.Failed() {
		t.FailNow()
	}
	// The restored cluster boots the other release (Debian 13 by default),
	// on its official-like base: one cluster life covers both releases.
	other := Trixie
	if release == Trixie {
		other = Bookworm
	}
	reps = s.backupRestore("lifecycle", "lifecycle-restored", GetBaseImageVariant(t, other, BaseOfficial))
	s.VerifyAccess()
	if t.Failed() {
		t.FailNow()
	}
	key, val = s.PutEverywhere()
	s.RestartSeeds(reps, key, val, SeedEject, SeedSame, SeedNewer)
}
