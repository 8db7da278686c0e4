//go:build e2e

package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHarnessHandMadeSeed proves the harness without the product: two VMs
// from hand-written NoCloud seeds (cloud-config writing a file and printing a
// marker), the report arriving, and a host-side ping through the bridge.
// smoke1 is clean and must pass every check; smoke4's user-data uses a
// deprecated key: the cloud-init checks must flag it on every release (25.1
// says "degraded done" and exits 2; 22.4 says done, so only its log tells).
// Two more nodes once only logged what this image does without set-name or a
// MAC match (it names the NIC ens3 and ignores an unmatched eth0): that is in
// e2e/README.md, and a check that cannot fail costs CI a minute per run.
//
// It checks the harness, not the product, so the default run (`make e2e`,
// CI) leaves it out to stay under an hour: it runs when -run names it
// (`make e2e E2E_RUN=TestHarnessHandMadeSeed`), after a change to the
// harness's checks or base images.
func TestHarnessHandMadeSeed(t *testing.T) {
	if f := flag.Lookup("test.run"); f == nil || !strings.Contains(f.Value.String(), "TestHarnessHandMadeSeed") {
		t.Skip("harness self-test: runs when named, make e2e E2E_RUN=TestHarnessHandMadeSeed")
	}
	ForReleases(t, []string{Bookworm}, testHarnessHandMadeSeed)
}

func testHarnessHandMadeSeed(t *testing.T, release string) {
	s := newBareScenario(t, "hand-made-seed-"+release)
	base := GetBaseImage(t, release)
	s.Net = NewNet(t, "10.88.0.1/24")
	type node struct {
		name, mac, ip string
		deprecated    bool // user-data with a deprecated key: the checks must fail
	}
	nodes := []node{
		{"smoke1", "52:54:00:e2:e0:01", "10.88.0.11", false},
		{"smoke4", "52:54:00:e2:e0:04", "10.88.0.14", true},
	}
	for _, n := range nodes {
		dir := filepath.Join(s.SeedDir, n.name)
		netcfg := fmt.Sprintf(`version: 2
ethernets:
  nic0:
    match:
      macaddress: "%s"
    set-name: eth0
    addresses: [%s/24]
`, n.mac, n.ip)
		deprecated := ""
		if n.deprecated {
			// a no-op alias of package_reboot_if_required, deprecated since 22.2
			deprecated = "apt_reboot_if_required: false\n"
		}
		files := map[string]string{
			"user-data": `#cloud-config
` + deprecated + `write_files:
  - path: /etc/e2e-smoke
    content: "hello from the hand-made seed of ` + n.name + `\n"
runcmd:
  - [sh, -c, 'echo "etcdimg: smoke marker $(cat /etc/e2e-smoke)" >/dev/ttyS0']
`,
			"meta-data":      fmt.Sprintf("instance-id: %s-1\nlocal-hostname: %s\n", n.name, n.name),
			"network-config": netcfg,
		}
		iso := MakeSeedISO(t, dir, files)
		s.VMs = append(s.VMs, NewVM(t, s.Net, base, filepath.Join(s.Work, "vms"), n.name, n.mac, iso, FormatISO))
	}
	s.Start()
	reps := s.WaitReports()
	for i, n := range nodes {
		r := reps[n.name]
		t.Logf("%s: interfaces %v, renderer %q, cloud-init status:\n%s", n.name, IfaceNames(r), Renderer(r), indent(r.Section("cloud-init-status").Text()))
		fails := CheckCloudInit(n.name, r)
		for _, f := range fails {
			if n.deprecated {
				t.Logf("(expected) %s", f)
				continue
			}
			t.Error(f)
		}
		if n.deprecated && len(fails) == 0 {
			t.Errorf("node %s: check cloud-init-checks: a deprecated key passed every cloud-init check; status:\n%s",
				n.name, indent(r.Section("cloud-init-status").Text()))
		}
		if got := r.Section("hostname").Text(); got != n.name {
			t.Errorf("node %s: check hostname: %q", n.name, got)
		}
		want := "etcdimg: smoke marker hello from the hand-made seed of " + n.name
		if lines := s.VMs[i].ConsoleLines(1, want); len(lines) == 0 {
			t.Errorf("node %s: check console-marker: %q not on the serial console", n.name, want)
		}
		if err := s.Net.Ping(n.ip); err != nil {
			t.Errorf("node %s: check ping: %v", n.name, err)
		} else {
			t.Logf("node %s: ping %s through the bridge ok", n.name, n.ip)
		}
	}
}

// MakeSeedISO writes files into dir and packs them as a NoCloud seed ISO
// (volume label cidata) next to it.
func MakeSeedISO(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-quiet", "-output", dir + ".iso", "-volid", "cidata", "-joliet", "-rock"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	cmd := exec.Command("genisoimage", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return dir + ".iso"
}
