// Package attach writes, per node, the shell scripts that put a built seed
// into a VM: one for libvirt/QEMU (virt-install, virsh) and one for
// VirtualBox (VBoxManage). Each script creates the VM when it does not exist,
// attaches the seed to it when it does, and with "eject" takes the seed out
// again after the first boot (it holds the node's private keys).
//
// The device choices are driven by the guest: Debian's cloud kernel
// (linux-image-cloud-amd64, 6.1 in Debian 12) has no AHCI (SATA) and no
// e1000 driver, but has ATA_PIIX (IDE), virtio-blk, virtio-scsi and
// virtio-net. So:
//
//   - libvirt: q35 with the ISO on a virtio-scsi CD-ROM by default. q35 is
//     virt-install's own default and the machine type QEMU keeps developing;
//     its only CD bus out of the box is SATA, which that kernel cannot see,
//     so the script adds a virtio-scsi controller. virtio-scsi is what GCE
//     disks use, so every Debian cloud kernel (12 and 13) has it, as do the
//     generic kernels. CDBus "ide" selects the other working setup, the pc
//     (i440fx) machine with an IDE CD, which the e2e harness boots.
//   - libvirt, vfat seed: a read-only virtio-blk disk, on either machine.
//   - VirtualBox: a PIIX4 IDE controller for the system disk and the seed
//     (VirtualBox's SATA is AHCI), and a virtio-net NIC (its default is e1000).
package attach

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/outdir"
)

// Seed formats, as written by images.WriteFile and images.WriteVFAT.
const (
	FormatISO  = outdir.FormatISO
	FormatVFAT = outdir.FormatVFAT
)

// Node is what build knows after writing a node's seed.
type Node struct {
	Name string
	// MAC is the spec's MAC (network-config matches it), or empty.
	MAC string
	// IP is the node's address, used only in the scripts' comments; optional.
	IP string
	// Seed is the absolute path of the ISO or vfat image.
	Seed string
	// SeedFormat is FormatISO or FormatVFAT.
	SeedFormat string
	// Arch is the node's machine (etcd.arch): "amd64" (also when empty) or
	// "arm64", which libvirt boots as QEMU's aarch64 virt machine with UEFI
	// and VirtualBox refuses (arm64 guests run only on Apple silicon Macs).
	Arch string
}

// Options are the settings shared by every node's scripts. The zero value
// gives working defaults.
type Options struct {
	// Cluster names the cluster in comments, the libvirt description and
	// the VirtualBox group.
	Cluster string
	// Network is the libvirt network the NIC joins; default "default".
	Network string
	// DiskPath gives a node's system disk for libvirt; default
	// /var/lib/libvirt/images/<node>.qcow2.
	DiskPath func(node string) string
	// VBoxDiskPath gives a node's system disk for VirtualBox, which needs
	// VDI, VMDK or VHD; default <seed folder>/<node>.vdi.
	VBoxDiskPath func(node string) string
	// OSInfo is virt-install's --osinfo; default "debian12", replaced at run
	// time by "debian11" where the host's osinfo-db does not know debian12
	// (Debian 12's own does not). An explicit value is used as given.
	OSInfo string
	// MemoryMiB and VCPUs size each VM; defaults 1024 and 2.
	MemoryMiB, VCPUs int
	// CDBus is where libvirt attaches an ISO seed: "scsi" (default, q35 with
	// virtio-scsi) or "ide" (pc machine). See the package comment.
	CDBus string
	// VBoxHostOnly is the VirtualBox host-only network; default "vboxnet0".
	VBoxHostOnly string
	// VBoxNATNetwork, when set, puts the VirtualBox NIC on this NAT network
	// instead of the host-only one: the VMs then reach each other and the
	// outside, but not the host.
	VBoxNATNetwork string
	// VirtInstallArgs go to virt-install after the script's own options,
	// e.g. "--virt-type=qemu" where /dev/kvm exists but does not work.
	VirtInstallArgs []string
}

// Defaults.
const (
	DefaultNetwork      = "default"
	DefaultOSInfo       = "debian12"
	FallbackOSInfo      = "debian11"
	DefaultMemoryMiB    = 1024
	DefaultVCPUs        = 2
	DefaultCDBus        = "scsi"
	DefaultVBoxHostOnly = "vboxnet0"
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	osinfoRE = regexp.MustCompile(`^[A-Za-z0-9._=,/:-]+$`)
)

// Validate reports what would make the node's scripts wrong.
func (n Node) Validate() error {
	if !nameRE.MatchString(n.Name) {
		return fmt.Errorf("attach: node name %q is not a DNS label", n.Name)
	}
	if n.MAC != "" {
		hw, err := net.ParseMAC(n.MAC)
		switch {
		case err != nil || len(hw) != 6:
			return fmt.Errorf("attach: %s: %q is not a MAC address like \"52:54:00:12:34:56\"", n.Name, n.MAC)
		case hw[0]&1 != 0:
			return fmt.Errorf("attach: %s: %s is a multicast address; a NIC needs a unicast MAC", n.Name, n.MAC)
		}
	}
	if !filepath.IsAbs(n.Seed) {
		return fmt.Errorf("attach: %s: seed path %q is not absolute", n.Name, n.Seed)
	}
	if err := checkPath(n.Seed); err != nil {
		return fmt.Errorf("attach: %s: seed path: %w", n.Name, err)
	}
	if n.SeedFormat != FormatISO && n.SeedFormat != FormatVFAT {
		return fmt.Errorf("attach: %s: seed format %q, want %q or %q", n.Name, n.SeedFormat, FormatISO, FormatVFAT)
	}
	if n.Arch != "" && n.Arch != "amd64" && n.Arch != "arm64" {
		return fmt.Errorf("attach: %s: arch %q, want amd64 or arm64", n.Name, n.Arch)
	}
	return nil
}

// Validate reports options no script could use.
func (o Options) Validate() error {
	switch {
	case o.MemoryMiB < 0 || o.VCPUs < 0:
		return fmt.Errorf("attach: memory %d MiB and %d vCPUs must not be negative", o.MemoryMiB, o.VCPUs)
	case o.CDBus != "" && o.CDBus != "scsi" && o.CDBus != "ide":
		return fmt.Errorf("attach: CD bus %q, want scsi or ide", o.CDBus)
	case o.OSInfo != "" && !osinfoRE.MatchString(o.OSInfo):
		return fmt.Errorf("attach: osinfo %q is not an osinfo name or virt-install --osinfo value", o.OSInfo)
	case o.Cluster != "" && !nameRE.MatchString(o.Cluster):
		return fmt.Errorf("attach: cluster name %q is not a DNS label", o.Cluster)
	}
	for what, v := range map[string]string{"network": o.Network, "host-only network": o.VBoxHostOnly, "NAT network": o.VBoxNATNetwork} {
		if err := printable(v); err != nil {
			return fmt.Errorf("attach: %s: %w", what, err)
		}
	}
	for _, a := range o.VirtInstallArgs {
		if err := printable(a); err != nil {
			return fmt.Errorf("attach: virt-install option: %w", err)
		}
	}
	return nil
}

// checkPath refuses what the scripts cannot pass on: control characters,
// and the characters virt-install 4.1 (Debian 12) escapes twice when it
// writes a disk path into the domain XML, so that libvirt would look for
// "a&amp;b" instead of "a&b".
func checkPath(p string) error {
	if err := printable(p); err != nil {
		return err
	}
	if i := strings.IndexAny(p, `"'&<>`); i >= 0 {
		return fmt.Errorf("%q contains %q, which virt-install garbles in the domain XML", p, p[i])
	}
	return nil
}

// printable keeps control characters out: quoting would carry them, but a
// path with a newline in a script is a trap for whoever reads it.
func printable(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q contains a control character", s)
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Network == "" {
		o.Network = DefaultNetwork
	}
	if o.DiskPath == nil {
		o.DiskPath = func(node string) string { return "/var/lib/libvirt/images/" + node + ".qcow2" }
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = DefaultMemoryMiB
	}
	if o.VCPUs == 0 {
		o.VCPUs = DefaultVCPUs
	}
	if o.CDBus == "" {
		o.CDBus = DefaultCDBus
	}
	if o.VBoxHostOnly == "" {
		o.VBoxHostOnly = DefaultVBoxHostOnly
	}
	return o
}

// shq quotes s for bash: single quotes, each ' written as '\”.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// scriptData is what the templates see; every string meant for the shell is
// already quoted.
type scriptData struct {
	Node, Cluster, Script, IP string
	HasMAC, VFAT, IDE         bool
	ARM64                     bool // QEMU's aarch64 virt machine; VirtualBox refuses
	DefaultOSInfo             bool

	SeedPath                                                                     string // for comments: the seed's path as is
	Name, Seed, Disk, Network, MAC, Memory, VCPUs, OSInfo, Fallback, Description string
	DiskFormat                                                                   string // the system disk's driver.type for virt-install, or ""

	Group, VBoxMAC, HostOnly, HostOnlyName, NATNetwork, NATNetworkName, Console, SeedVDI string
	VBoxIP                                                                               string // the node's address for the host-only range check, quoted; '' when unknown

	VirtInstallArgs []string // quoted words
}

func newData(n Node, o Options, script string) scriptData {
	o = o.withDefaults()
	d := scriptData{
		Node: n.Name, Cluster: o.Cluster, Script: script, IP: n.IP,
		HasMAC: n.MAC != "", VFAT: n.SeedFormat == FormatVFAT, IDE: o.CDBus == "ide", ARM64: n.Arch == "arm64",
		Name: shq(n.Name), Seed: shq(n.Seed), Network: shq(o.Network),
		Memory: shq(fmt.Sprint(o.MemoryMiB)), VCPUs: shq(fmt.Sprint(o.VCPUs)),
		Fallback: shq(FallbackOSInfo),
		VBoxIP:   shq(n.IP),
	}
	for _, a := range o.VirtInstallArgs {
		d.VirtInstallArgs = append(d.VirtInstallArgs, shq(a))
	}
	d.OSInfo = o.OSInfo
	if d.OSInfo == "" {
		d.OSInfo, d.DefaultOSInfo = DefaultOSInfo, true
	}
	d.OSInfo = shq(d.OSInfo)
	desc := "etcd member " + n.Name
	if o.Cluster != "" {
		desc += " of cluster " + o.Cluster
		d.Group = shq("/" + o.Cluster)
	}
	d.Description = shq(desc + " (etcdimg)")
	if n.MAC != "" {
		hw, _ := net.ParseMAC(n.MAC)
		d.MAC = shq(hw.String())
		d.VBoxMAC = shq(strings.ToUpper(strings.ReplaceAll(hw.String(), ":", "")))
	}
	seedDir := filepath.Dir(n.Seed)
	if script == "virtualbox" {
		disk := filepath.Join(seedDir, n.Name+".vdi")
		if o.VBoxDiskPath != nil {
			disk = o.VBoxDiskPath(n.Name)
		}
		d.Disk = shq(disk)
		d.HostOnly, d.HostOnlyName = shq(o.VBoxHostOnly), o.VBoxHostOnly
		if o.VBoxNATNetwork != "" {
			d.NATNetwork, d.NATNetworkName = shq(o.VBoxNATNetwork), o.VBoxNATNetwork
		}
		d.Console = shq(filepath.Join(seedDir, n.Name+".console.log"))
		d.SeedVDI = shq(strings.TrimSuffix(n.Seed, filepath.Ext(n.Seed)) + ".seed.vdi")
	} else {
		disk := o.DiskPath(n.Name)
		d.Disk = shq(disk)
		// Without a format libvirt treats the disk as raw, and a qcow2
		// booted as raw is garbage to the guest.
		switch strings.ToLower(filepath.Ext(disk)) {
		case ".qcow2":
			d.DiskFormat = "qcow2"
		case ".raw", ".img":
			d.DiskFormat = "raw"
		}
	}
	return d
}

var scripts = template.Must(template.New("").Funcs(template.FuncMap{
	"q": shq,
}).Parse(libvirtTemplate + virtualboxTemplate))

func render(name string, d scriptData) string {
	var b bytes.Buffer
	if err := scripts.ExecuteTemplate(&b, name, d); err != nil {
		panic(err) // the templates are fixed; a failure is a bug here
	}
	return b.String()
}

// Libvirt returns the node's libvirt/QEMU script (bash). n must be valid
// (see Node.Validate; Write checks).
func Libvirt(n Node, o Options) string { return render("libvirt", newData(n, o, "libvirt")) }

// VirtualBox returns the node's VirtualBox script (bash). n must be valid.
func VirtualBox(n Node, o Options) string {
	if n.Arch == "arm64" {
		return render("virtualbox-arm64", newData(n, o, "virtualbox"))
	}
	return render("virtualbox", newData(n, o, "virtualbox"))
}

// Write writes DIR/<node>.libvirt.sh and DIR/<node>.virtualbox.sh (mode
// 0755) for each node and returns their paths, in node order. Each file is
// written to a temporary name and renamed into place; nothing is written
// unless every node and the options are valid.
func Write(dir string, nodes []Node, o Options) ([]string, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if err := n.Validate(); err != nil {
			return nil, err
		}
		if o.DiskPath != nil {
			if err := checkPath(o.DiskPath(n.Name)); err != nil {
				return nil, fmt.Errorf("attach: %s: disk path: %w", n.Name, err)
			}
		}
		if o.VBoxDiskPath != nil {
			if err := printable(o.VBoxDiskPath(n.Name)); err != nil {
				return nil, fmt.Errorf("attach: %s: VirtualBox disk path: %w", n.Name, err)
			}
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("attach: node %s is listed twice", n.Name)
		}
		if n.Arch == "arm64" && o.CDBus == "ide" && n.SeedFormat == FormatISO {
			return nil, fmt.Errorf("attach: %s is arm64: QEMU's aarch64 virt machine has no IDE bus; use --cd-bus scsi", n.Name)
		}
		seen[n.Name] = true
	}
	// The folder is named by the operator and may be a link; the scripts
	// go into the real folder, never through a link inside it.
	real := dir
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		real = r
	}
	var files []durable.File
	var paths []string
	for _, n := range nodes {
		for _, s := range []struct{ suffix, body string }{
			{".libvirt.sh", Libvirt(n, o)},
			{".virtualbox.sh", VirtualBox(n, o)},
		} {
			files = append(files, durable.File{Path: filepath.Join(real, n.Name+s.suffix), Data: []byte(s.body), Mode: 0o755})
			paths = append(paths, filepath.Join(dir, n.Name+s.suffix))
		}
	}
	// Under the folder's lock: a build writing into it at the same time
	// removes stale temporary files, and must not take these for such.
	unlock, err := durable.Lock(real, 10*time.Minute, nil)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	defer unlock()
	// One batch: every script is written, or none is.
	if err := durable.WriteBatch(files); err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	return paths, nil
}

// ReadCluster reads DIR/cluster.json (see outdir) and returns the cluster
// name and a Node for every node with a seed, its path made absolute from
// the seed's name beside cluster.json. Nodes without a seed (build
// --no-iso, or --node) are left out; none at all is an error.
func ReadCluster(dir string) (string, []Node, error) {
	c, err := outdir.Read(dir)
	if err != nil {
		return "", nil, fmt.Errorf("attach: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("attach: %w", err)
	}
	var nodes []Node
	for _, cn := range c.Nodes {
		seed, format := cn.Seed()
		if seed == "" {
			continue
		}
		nodes = append(nodes, Node{Name: cn.Name, MAC: cn.MAC, IP: cn.IP, Seed: filepath.Join(abs, seed), SeedFormat: format, Arch: c.MachineArch()})
	}
	if len(nodes) == 0 {
		return "", nil, errors.New("attach: " + filepath.Join(dir, outdir.ClusterFile) + " lists no seed; build without --no-iso first")
	}
	return c.Name, nodes, nil
}

// NodePlaceholder is replaced by the node's name in a disk path template.
const NodePlaceholder = "{node}"

// NodePath turns a path template such as /vm/{node}.qcow2 into a function
// giving each node its path. The template must name the node: one literal
// path for every node would give them all the same system disk.
func NodePath(template string) (func(node string) string, error) {
	if !strings.Contains(template, NodePlaceholder) {
		return nil, fmt.Errorf("disk path %q has no %s: every node needs a disk of its own, e.g. /var/lib/libvirt/images/{node}.qcow2", template, NodePlaceholder)
	}
	abs, err := filepath.Abs(template)
	if err != nil {
		return nil, err
	}
	if err := printable(abs); err != nil {
		return nil, err
	}
	return func(node string) string { return strings.ReplaceAll(abs, NodePlaceholder, node) }, nil
}
