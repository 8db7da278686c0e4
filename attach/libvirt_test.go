package attach

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The libvirt scripts are run for real, as far as a machine without a
// libvirt daemon allows: virt-install (Debian: virtinst) builds the domain
// XML with --dry-run --print-xml against a connection that says it is
// qemu:///system on an x86_64 KVM host (virt-install's own test URI, with the
// capabilities in testdata/libvirt), virt-xml-validate (libvirt-clients)
// checks it against libvirt's schema, and every virsh command line is checked
// against the options `virsh help` documents. Missing tools skip, saying so:
// apt-get install -y virtinst libvirt-clients libxml2-utils

func needLibvirtTool(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s not installed (apt-get install -y virtinst libvirt-clients libxml2-utils)", name)
		}
	}
}

type domainXML struct {
	Type     string `xml:"type,attr"`
	Name     string `xml:"name"`
	Memory   int    `xml:"memory"`
	VCPU     int    `xml:"vcpu"`
	Metadata struct {
		Inner string `xml:",innerxml"`
	} `xml:"metadata"`
	Description string `xml:"description"`
	OS          struct {
		Firmware string `xml:"firmware,attr"`
		Type     struct {
			Arch    string `xml:"arch,attr"`
			Machine string `xml:"machine,attr"`
		} `xml:"type"`
		Loader string `xml:"loader"`
	} `xml:"os"`
	Devices struct {
		Disks []struct {
			Device string `xml:"device,attr"`
			Driver struct {
				Type string `xml:"type,attr"`
			} `xml:"driver"`
			Source struct {
				File string `xml:"file,attr"`
			} `xml:"source"`
			Target struct {
				Dev string `xml:"dev,attr"`
				Bus string `xml:"bus,attr"`
			} `xml:"target"`
			ReadOnly *struct{} `xml:"readonly"`
		} `xml:"disk"`
		Controllers []struct {
			Type  string `xml:"type,attr"`
			Model string `xml:"model,attr"`
		} `xml:"controller"`
		Interfaces []struct {
			Type   string `xml:"type,attr"`
			Source struct {
				Network string `xml:"network,attr"`
			} `xml:"source"`
			MAC struct {
				Address string `xml:"address,attr"`
			} `xml:"mac"`
			Model struct {
				Type string `xml:"type,attr"`
			} `xml:"model"`
		} `xml:"interface"`
	} `xml:"devices"`
}

// shim writes an executable script into dir.
func shim(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/bash\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestVirtInstall runs each variant's script on its create path. virsh is a
// stand-in that reports no such domain; virt-install is the real one with
// --dry-run --print-xml added, so the line the script builds, quoting and
// osinfo fallback included, is what produces the XML.
func TestVirtInstall(t *testing.T) {
	needLibvirtTool(t, "virt-install", "virt-xml-validate", "xmllint")
	realVirtInstall, _ := exec.LookPath("virt-install")
	caps, _ := filepath.Abs("testdata/libvirt/capabilities.xml")

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			// The host's domain capabilities of the guest arch.
			domcaps, _ := filepath.Abs("testdata/libvirt/domcapabilities.xml")
			if v.arch == "arm64" {
				domcaps, _ = filepath.Abs("testdata/libvirt/domcapabilities-aarch64.xml")
			}
			uri := "__virtinst_test__test:///default,caps=" + caps + ",domcaps=" + domcaps + ",fakeuri=qemu:///system"
			work := t.TempDir()
			// Awkward paths on purpose: virt-install parses its option
			// values itself, so the script must quote them for it.
			seedDir := filepath.Join(work, `seeds, with\ $pace`)
			if err := os.MkdirAll(seedDir, 0o755); err != nil {
				t.Fatal(err)
			}
			nodes := v.nodes(seedDir)
			opts := v.opts
			opts.DiskPath = func(node string) string { return filepath.Join(work, "disks", node+".qcow2") }
			os.MkdirAll(filepath.Join(work, "disks"), 0o755)
			for _, n := range nodes {
				os.WriteFile(n.Seed, make([]byte, 1<<20), 0o644)
				os.WriteFile(opts.DiskPath(n.Name), make([]byte, 1<<20), 0o644)
			}
			bin := filepath.Join(work, "bin")
			os.Mkdir(bin, 0o755)
			shim(t, bin, "virsh", "exit 1 # no domain exists\n")
			xmlOut := filepath.Join(work, "domain.xml")
			shim(t, bin, "virt-install", `for a; do
	if [ "$a" = --import ]; then
		exec `+shq(realVirtInstall)+` "$@" --dry-run --print-xml >`+shq(xmlOut)+`
	fi
done
exec `+shq(realVirtInstall)+` "$@"
`)
			paths, err := Write(work, nodes, opts)
			if err != nil {
				t.Fatal(err)
			}
			n := nodes[0]
			cmd := exec.Command(paths[0])
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "LIBVIRT_DEFAULT_URI="+uri)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", filepath.Base(paths[0]), err, out)
			}
			if out, err := exec.Command("virt-xml-validate", xmlOut, "domain").CombinedOutput(); err != nil {
				b, _ := os.ReadFile(xmlOut)
				t.Fatalf("virt-xml-validate: %v\n%s\n%s", err, out, b)
			}
			b, err := os.ReadFile(xmlOut)
			if err != nil {
				t.Fatal(err)
			}
			var d domainXML
			if err := xml.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			checkDomain(t, d, n, opts.withDefaults(), opts.DiskPath(n.Name))
			if t.Failed() {
				t.Logf("domain XML:\n%s", b)
			}
		})
	}
}

var osinfoID = regexp.MustCompile(`<libosinfo:os id="http://debian.org/debian/(\d+)"/>`)

func checkDomain(t *testing.T, d domainXML, n Node, o Options, disk string) {
	t.Helper()
	wantType := "kvm"
	// The aarch64 guest of the recorded host (an x86-64 one) is emulated.
	if strings.Join(o.VirtInstallArgs, " ") == "--virt-type qemu" || n.Arch == "arm64" {
		wantType = "qemu"
	}
	if d.Type != wantType || d.Name != n.Name || d.Memory != o.MemoryMiB*1024 || d.VCPU != o.VCPUs {
		t.Errorf("domain %s %q, %d KiB, %d vCPUs; want %s %q, %d KiB, %d", d.Type, d.Name, d.Memory, d.VCPU, wantType, n.Name, o.MemoryMiB*1024, o.VCPUs)
	}
	if !strings.Contains(d.Description, "etcd member "+n.Name+" of cluster k8s") {
		t.Errorf("description %q", d.Description)
	}
	wantArch, wantMachine := "x86_64", "q35"
	switch {
	case n.Arch == "arm64":
		// Debian's arm64 cloud images boot UEFI only.
		wantArch, wantMachine = "aarch64", "virt"
		if d.OS.Firmware != "efi" && !strings.Contains(d.OS.Loader, "AAVMF") {
			t.Errorf("arm64 guest without UEFI: firmware %q, loader %q", d.OS.Firmware, d.OS.Loader)
		}
	case o.CDBus == "ide":
		wantMachine = "pc"
	}
	if d.OS.Type.Machine != wantMachine || d.OS.Type.Arch != wantArch {
		t.Errorf("machine %s/%s, want %s/%s", d.OS.Type.Arch, d.OS.Type.Machine, wantArch, wantMachine)
	}
	// debian12 where the host's osinfo-db knows it, else the fallback.
	if m := osinfoID.FindStringSubmatch(d.Metadata.Inner); m == nil || (m[1] != "12" && m[1] != "11") {
		t.Errorf("osinfo %q, want debian 12 or 11", d.Metadata.Inner)
	} else {
		t.Logf("osinfo debian%s on this host", m[1])
	}

	var sys, seed int
	for _, dk := range d.Devices.Disks {
		if dk.Target.Bus == "sata" {
			t.Errorf("disk %s on sata: Debian's cloud kernel has no AHCI driver", dk.Source.File)
		}
		switch dk.Source.File {
		case disk:
			sys++
			if dk.Device != "disk" || dk.Target.Bus != "virtio" || dk.Target.Dev != "vda" || dk.Driver.Type != "qcow2" || dk.ReadOnly != nil {
				t.Errorf("system disk: %+v", dk)
			}
		case n.Seed:
			seed++
			want := map[string][3]string{"scsi": {"cdrom", "scsi", "sda"}, "ide": {"cdrom", "ide", "hdc"}}[o.CDBus]
			if n.SeedFormat == FormatVFAT {
				want = [3]string{"disk", "virtio", "vdb"}
				if dk.Driver.Type != "raw" {
					t.Errorf("vfat seed format %q, want raw", dk.Driver.Type)
				}
			}
			if got := [3]string{dk.Device, dk.Target.Bus, dk.Target.Dev}; got != want {
				t.Errorf("seed is %v (device, bus, target), want %v", got, want)
			}
			if dk.ReadOnly == nil {
				t.Error("seed is not read-only")
			}
		default:
			t.Errorf("unexpected disk %q", dk.Source.File)
		}
	}
	if sys != 1 || seed != 1 {
		t.Errorf("%d system disks and %d seeds, want one each", sys, seed)
	}
	var virtioSCSI int
	for _, c := range d.Devices.Controllers {
		if c.Type == "scsi" {
			if c.Model != "virtio-scsi" {
				t.Errorf("SCSI controller %q, want virtio-scsi", c.Model)
			}
			virtioSCSI++
		}
	}
	if wantSCSI := n.SeedFormat == FormatISO && o.CDBus == "scsi"; (virtioSCSI == 1) != wantSCSI {
		t.Errorf("%d virtio-scsi controllers; want one: %v", virtioSCSI, wantSCSI)
	}
	if len(d.Devices.Interfaces) != 1 {
		t.Fatalf("%d NICs, want 1", len(d.Devices.Interfaces))
	}
	nic := d.Devices.Interfaces[0]
	if nic.Type != "network" || nic.Source.Network != o.Network || nic.Model.Type != "virtio" {
		t.Errorf("NIC %+v, want virtio on network %s", nic, o.Network)
	}
	if n.MAC != "" && nic.MAC.Address != n.MAC {
		t.Errorf("NIC MAC %q, want the spec's %q", nic.MAC.Address, n.MAC)
	}
}

var virshOption = regexp.MustCompile(`^\s+(?:\[(--[a-z-]+)\]|(--[a-z-]+))`)

// virshOptions lists the options `virsh help CMD` documents.
func virshOptions(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	out, err := exec.Command("virsh", "help", cmd).Output()
	if err != nil {
		t.Fatalf("virsh help %s: %v", cmd, err)
	}
	opts := map[string]bool{}
	inOptions := false
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == "OPTIONS" {
			inOptions = true
			continue
		}
		if m := virshOption.FindStringSubmatch(l); inOptions && m != nil {
			opts[m[1]+m[2]] = true
		}
	}
	if len(opts) == 0 {
		t.Fatalf("virsh help %s lists no options:\n%s", cmd, out)
	}
	return opts
}

// TestVirshLines checks every virsh command of every variant against the
// options virsh documents, positionals included.
func TestVirshLines(t *testing.T) {
	needLibvirtTool(t, "virsh")
	positionals := map[string][2]int{ // how many words are not options, at least and at most
		"dominfo": {1, 1}, "domstate": {1, 1}, "dumpxml": {1, 1}, "domblklist": {1, 1},
		"attach-device": {2, 2}, "attach-disk": {3, 3}, "detach-disk": {2, 2}, "change-media": {2, 3},
		"shutdown": {1, 1}, "start": {1, 1},
	}
	seen := map[string]bool{}
	for _, v := range variants {
		for _, n := range v.nodes("/srv/seeds")[:1] {
			s := Libvirt(n, v.opts)
			for _, c := range commands(t, s, "virsh") {
				w := c.words[1:]
				if len(w) < 2 || w[0] != "--connect" {
					t.Errorf("%s line %d: virsh without --connect: %q", v.name, c.line, c.words)
					continue
				}
				sub, args := w[2], w[3:]
				seen[sub] = true
				known := virshOptions(t, sub)
				pos := 0
				for i := 0; i < len(args); i++ {
					a := args[i]
					if !strings.HasPrefix(a, "--") {
						pos++
						continue
					}
					if !known[a] {
						t.Errorf("%s line %d: virsh %s has no option %s", v.name, c.line, sub, a)
					}
					// The options used that take a value.
					if a == "--type" || a == "--mode" || a == "--targetbus" || a == "--subdriver" || a == "--driver" {
						i++
					}
				}
				if want, ok := positionals[sub]; !ok || pos < want[0] || pos > want[1] {
					t.Errorf("%s line %d: virsh %s with %d positional words %q, want %v", v.name, c.line, sub, pos, args, want)
				}
			}
		}
	}
	for _, sub := range []string{"dominfo", "attach-disk", "change-media", "detach-disk", "attach-device", "domstate", "shutdown", "start"} {
		if !seen[sub] {
			t.Errorf("no variant runs virsh %s", sub)
		}
	}
}

// TestAttachDiskXML feeds each variant's attach-disk line, with --print-xml
// added, to virsh over the libvirt test driver holding an existing domain:
// the device the update path would add.
func TestAttachDiskXML(t *testing.T) {
	needLibvirtTool(t, "virsh")
	state, _ := filepath.Abs("testdata/libvirt/existing.xml")
	uri := "test://" + state
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			n := v.nodes("/srv/seeds")[0]
			var found bool
			for _, c := range commands(t, Libvirt(n, v.opts), "virsh") {
				if c.words[3] != "attach-disk" {
					continue
				}
				found = true
				// The scsi variants pick the first free sdX at run time:
				// sda in this domain (TestExistingDomain runs that logic).
				words := slices.Clone(c.words[3:])
				for i, w := range words {
					if w == "$target" {
						words[i] = "sda"
					}
				}
				args := append([]string{"--connect", uri}, words...)
				out, err := exec.Command("virsh", append(args, "--print-xml")...).CombinedOutput()
				if err != nil {
					t.Fatalf("virsh %q: %v\n%s", args, err, out)
				}
				var dk struct {
					Device string `xml:"device,attr"`
					Source struct {
						File string `xml:"file,attr"`
					} `xml:"source"`
					Target struct {
						Dev string `xml:"dev,attr"`
						Bus string `xml:"bus,attr"`
					} `xml:"target"`
					Driver struct {
						Type string `xml:"type,attr"`
					} `xml:"driver"`
					ReadOnly *struct{} `xml:"readonly"`
				}
				if err := xml.Unmarshal(out, &dk); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				want := map[string][3]string{"": {"cdrom", "scsi", "sda"}, "ide": {"cdrom", "ide", "hdc"}}[v.opts.CDBus]
				if n.SeedFormat == FormatVFAT {
					want = [3]string{"disk", "virtio", "vdb"}
				}
				if got := [3]string{dk.Device, dk.Target.Bus, dk.Target.Dev}; got != want || dk.Source.File != n.Seed || dk.ReadOnly == nil {
					t.Errorf("attach-disk gives %v %q read-only %v, want %v %q read-only:\n%s", got, dk.Source.File, dk.ReadOnly != nil, want, n.Seed, out)
				}
			}
			if !found {
				t.Error("no attach-disk line")
			}
		})
	}
}
