//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// What happens to a node's seed between two boots (README "After the first
// boot"): it stays attached, is ejected, or is replaced by a newer seed of the
// same node, whose meta-data names a new instance-id.
const (
	SeedSame   = "same seed"
	SeedEject  = "ejected"
	SeedNewer  = "newer seed"
	newerIIDSf = "-newer"
)

// NewerSeed writes a copy of a node's seed whose meta-data carries
// instance-id <old>-newer, everything else byte-equal: what a rebuilt seed of
// the same node looks like to cloud-init. An ISO is rewritten by xorriso
// (which keeps Rock Ridge, the cidata label and the files' modes), a FAT
// image by mtools' mcopy in a copy of the image (label and other files
// untouched).
func (s *Scenario) NewerSeed(n NodeInfo) (seed, iid string) {
	s.T.Helper()
	orig, format := n.Seed()
	dir := filepath.Join(s.Work, "newer-seeds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.T.Fatal(err)
	}
	iid = n.InstanceID + newerIIDSf
	md := filepath.Join(dir, n.Name+".meta-data")
	if err := os.WriteFile(md, []byte(fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", iid, n.Name)), 0o644); err != nil {
		s.T.Fatal(err)
	}
	var out []byte
	var err error
	wantType := "iso9660"
	switch format {
	case FormatISO:
		seed = filepath.Join(dir, n.Name+".iso")
		out, err = exec.Command("xorriso", "-indev", s.Info.path(orig), "-outdev", seed, "-volid", "cidata",
			"-joliet", "on", "-map", md, "/meta-data", "-commit").CombinedOutput()
	case FormatVFAT:
		wantType = "vfat"
		seed = filepath.Join(dir, n.Name+".img")
		if err = copyFile(s.Info.path(orig), seed); err == nil {
			out, err = exec.Command("mcopy", "-o", "-i", seed, md, "::/meta-data").CombinedOutput()
		}
	default:
		s.T.Fatalf("node %s: NewerSeed: unknown seed format %q", n.Name, format)
	}
	if err != nil {
		s.T.Fatalf("node %s: newer %s seed: %v\n%s", n.Name, format, err, tail(string(out), 20))
	}
	if typ, label, err := blkid(seed); err != nil || typ != wantType || label != "cidata" {
		s.T.Fatalf("node %s: newer seed %s: blkid TYPE=%q LABEL=%q (%v)", n.Name, seed, typ, label, err)
	}
	return seed, iid
}

// copyFile copies src to a new file dst (mode 0600: seeds carry keys).
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

// RestartSeeds powers the first len(plan) VMs off through ACPI (every VM
// of a 3-node cluster, a majority of a 5-node one: the cluster loses quorum
// either way), then boots them all again at once, VMs[i] with what plan[i]
// says happened to its seed, and checks each restarted guest and the
// cluster: every node keeps hostname, static IP, users, etcd
// and SSH host keys; the ejected and same-seed nodes stay the instance they
// were (nothing of first boot runs again), the newer-seed node becomes the
// newer instance and runs its seed again; the cluster is healthy with the
// same members and keeps key.
func (s *Scenario) RestartSeeds(first map[string]*Report, key, val string, plan ...string) map[string]*Report {
	t := s.T
	t.Helper()
	if len(plan) > len(s.VMs) {
		t.Fatalf("RestartSeeds: %d plans for %d VMs", len(plan), len(s.VMs))
	}
	vms := s.VMs[:len(plan)]
	newIID := map[string]string{}
	for i, vm := range vms {
		switch plan[i] {
		case SeedSame:
		case SeedEject:
			vm.SetSeed("")
		case SeedNewer:
			seed, iid := s.NewerSeed(s.Node(vm.Name))
			vm.SetSeed(seed)
			newIID[vm.Name] = iid
		default:
			t.Fatalf("RestartSeeds: unknown plan %q", plan[i])
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, vm := range vms {
		wg.Add(1)
		go func(vm *VM) {
			defer wg.Done()
			if clean, err := vm.Shutdown(2 * time.Minute); err != nil {
				t.Errorf("node %s: check shutdown: %v", vm.Name, err)
			} else if !clean {
				t.Errorf("node %s: check shutdown: no ACPI power-off within 2m, killed", vm.Name)
			}
		}(vm)
	}
	wg.Wait()
	s.Phase(fmt.Sprintf("acpi-poweroff (%d of %d)", len(vms), len(s.VMs)), time.Since(start))
	for i, vm := range vms {
		t.Logf("node %s: boot %d with %s (%s)", vm.Name, vm.Boot()+1, plan[i], vm.Seed)
	}
	s.Start(vms...)
	reps := s.WaitReports(vms...)
	for i, vm := range vms {
		n := s.Node(vm.Name)
		for _, f := range CheckRestartedNode(s.Info, s.Rel, s.Base.Variant, n, plan[i], newIID[n.Name], first[n.Name], reps[n.Name]) {
			t.Error(f)
		}
		r := reps[n.Name]
		t.Logf("node %s (%s, %s base): instance %s, cloud-init %q, seed check %q, steps run again: %q", n.Name, plan[i], s.Base.Variant,
			r.Section("instance-id").Text(), CloudInitStatus(r).Status,
			r.Section("seed-check").Text(), StepTimesJournal(r))
	}
	s.WaitHealthy(s.healthyTimeout(reps))
	s.CheckMembers()
	s.CheckKeyEverywhere(key, val)
	s.PutEverywhere()
	return reps
}

// CheckRestartedNode is CheckNodeReport for a boot after the first, plus what
// the seed's fate (plan) means for cloud-init's instance.
func CheckRestartedNode(c *ClusterInfo, rel *Release, variant string, n NodeInfo, plan, newIID string, first, r *Report) []Failure {
	var fs []Failure
	add := func(check, format string, a ...any) {
		fs = append(fs, Failure{n.Name, check, fmt.Sprintf(format, a...)})
	}
	status := CloudInitStatus(r).Status
	// An image configured like Debian's (ds-identify decides) keeps
	// cloud-init off for a boot without any seed until cloud-init has once
	// run with manual_cache_clean (its marker tells ds-identify to run it
	// and trust the cache): the node then simply keeps what it has.
	disabledOK := plan == SeedEject && variant == BaseOfficial && status == "disabled"
	for _, f := range CheckNodeReport(c, rel, n, r) {
		if disabledOK && f.Check == "cloud-init-status" {
			continue
		}
		fs = append(fs, f)
	}
	if plan == SeedEject && variant == BaseNoneFallback && status != "done" {
		add("cloud-init-trust", "with a None fallback cloud-init must run and trust its cache, status is %q", status)
	}
	if b := r.HeaderInt("boots"); first != nil && b != first.HeaderInt("boots")+1 {
		add("boot-count", "report says boot %d, the one before was %d", b, first.HeaderInt("boots"))
	}
	// the static address from network-config, not a DHCP fallback
	if !ipAddrHas(r, n.Addr()) {
		add("static-ip", "%s is not on any interface:\n%s", n.Addr(), indent(r.Section("ip-addr").Text()))
	}
	iid, prev := r.Section("instance-id").Text(), r.Section("previous-instance-id").Text()
	ds := r.Section("datasource").Text()
	if !strings.Contains(ds, "NoCloud") {
		add("datasource", "cloud-init's datasource is %q, want NoCloud", ds)
	}
	steps := StepTimesJournal(r)
	check := r.Section("seed-check").Text()
	switch plan {
	case SeedSame, SeedEject:
		if iid != n.InstanceID {
			add("instance-id", "instance-id %q (previous %q), want %q kept", iid, prev, n.InstanceID)
		}
		if steps != "" {
			add("no-rerun", "the seed's first-boot steps ran again: %s", steps)
		}
		if plan == SeedSame && !strings.Contains(check, "the current one") {
			add("seed-check", "etcdimg-seed-check did not recognise the attached seed as the current instance:\n%s", indent(check))
		}
		if plan == SeedEject && status == "done" && !strings.Contains(check, "no seed attached") {
			add("seed-check", "etcdimg-seed-check did not report the missing seed:\n%s", indent(check))
		}
	case SeedNewer:
		// previous-instance-id is no witness: cloud-init's network stage
		// rewrites it with what the local stage of the same boot recorded
		// (seen on 22.4: both name the new instance). The seed check's
		// line names the old one.
		if iid != newIID {
			add("instance-id", "instance-id %q (previous %q), want %q after %q", iid, prev, newIID, n.InstanceID)
		}
		if !strings.Contains(check, "newer than "+n.InstanceID+": cache cleared") {
			add("seed-check", "etcdimg-seed-check did not clear cloud-init's cache for the newer seed:\n%s", indent(check))
		}
		if steps == "" {
			add("rerun", "the newer seed's first-boot steps did not run")
		}
	}
	if first != nil {
		if a, b := first.Section("ssh-host-keys").Text(), r.Section("ssh-host-keys").Text(); a == "" || a != b {
			add("ssh-host-keys", "host keys changed:\nbefore:\n%s\nafter:\n%s", indent(a), indent(b))
		}
	}
	return fs
}

// ipAddrHas reports whether `ip -br addr` lists addr on some interface.
func ipAddrHas(r *Report, addr string) bool {
	for _, l := range r.Section("ip-addr").Lines {
		for _, f := range strings.Fields(l)[min(2, len(strings.Fields(l))):] {
			if strings.SplitN(f, "/", 2)[0] == addr {
				return true
			}
		}
	}
	return false
}

// StepTimesJournal is StepTimes from this boot's journal only (the
// cloud-init logs keep every boot's lines).
func StepTimesJournal(r *Report) string {
	var out []string
	seen := map[string]bool{} // a step is logged by cloud-init and to the journal
	for _, l := range r.Section("etcdimg-steps-journal").Lines {
		if m := stepRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil && !seen[m[0]] {
			seen[m[0]] = true
			out = append(out, m[1]+" "+m[2]+"s")
		}
	}
	return strings.Join(out, "  ")
}
