//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// process-wide cleanup registry: t.Cleanup covers normal ends and t.Fatal;
// the signal handler in TestMain runs the same functions on SIGINT/SIGTERM.

var (
	cleanupMu   sync.Mutex
	cleanupNext int
	cleanups    = map[int]func(){}
)

// registerCleanup makes fn run exactly once: at t.Cleanup or on a signal.
func registerCleanup(t testing.TB, fn func()) {
	var once sync.Once
	run := func() { once.Do(fn) }
	cleanupMu.Lock()
	id := cleanupNext
	cleanupNext++
	cleanups[id] = run
	cleanupMu.Unlock()
	t.Cleanup(func() {
		run()
		cleanupMu.Lock()
		delete(cleanups, id)
		cleanupMu.Unlock()
	})
}

// runAllCleanups runs every pending cleanup, newest first (signal path).
func runAllCleanups() {
	cleanupMu.Lock()
	var ids []int
	for id := range cleanups {
		ids = append(ids, id)
	}
	fns := make([]func(), 0, len(ids))
	sortDesc(ids) // newest first, like t.Cleanup
	for _, id := range ids {
		fns = append(fns, cleanups[id])
	}
	cleanupMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

func sortDesc(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] > a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// ---------------------------------------------------------------------------
// configuration

// repoRoot is the module root (the parent of e2e/).
func repoRoot(t testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatalf("no go.mod above %s", wd)
	return ""
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// accelArgs picks KVM only when a real kvm_intel/kvm_amd module is loaded
// (a bare paravirtual /dev/kvm here kills guests), else TCG.
func accelArgs() []string {
	switch os.Getenv("ETCDIMG_E2E_ACCEL") {
	case "kvm":
		return []string{"-accel", "kvm", "-cpu", "host"}
	case "tcg":
		return []string{"-accel", "tcg", "-cpu", "qemu64"}
	}
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat("/sys/module/" + m); err == nil {
			if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
				f.Close()
				return []string{"-accel", "kvm", "-cpu", "host"}
			}
		}
	}
	return []string{"-accel", "tcg", "-cpu", "qemu64"}
}

// requireHost fails early, with the reason, when the host cannot run VMs.
func requireHost(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("e2e tests need root (network namespaces, taps, debootstrap)")
	}
	var missing []string
	for _, b := range []string{"qemu-system-x86_64", "qemu-img", "ip", "debootstrap", "mkfs.ext4", "genisoimage", "xorriso", "ssh"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing host tools %v: apt-get install qemu-system-x86 qemu-utils iproute2 debootstrap e2fsprogs genisoimage xorriso openssh-client", missing)
	}
}

// ---------------------------------------------------------------------------
// Debian releases

// The Debian releases a seed must work on: each has its own cloud-init
// (22.4 / 25.1) and kernel, and so its own base image.
const (
	Bookworm = "bookworm"
	Trixie   = "trixie"
)

// Releases is what a scenario runs on: ETCDIMG_E2E_RELEASES (space or comma
// separated) when set, for every scenario alike, else the scenario's own
// defaults, which keep the default run's time in bounds.
func Releases(defaults ...string) []string {
	if v := os.Getenv("ETCDIMG_E2E_RELEASES"); strings.TrimSpace(v) != "" {
		return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	}
	return defaults
}

// ForReleases runs fn as one subtest per release (TestX/bookworm,
// TestX/trixie), so -run can pick a release and each logs its own timings.
func ForReleases(t *testing.T, defaults []string, fn func(t *testing.T, release string)) {
	for _, r := range Releases(defaults...) {
		t.Run(r, func(t *testing.T) { fn(t, r) })
	}
}

// ---------------------------------------------------------------------------
// base image

// Base image variants (base-image.sh): configured like Debian's official
// cloud images (no datasource_list; ds-identify decides; netplan +
// systemd-networkd), or listing `datasource_list: [ NoCloud, None ]`, where a
// boot without the seed falls back to the None datasource unless cloud-init
// trusts its cache.
const (
	BaseOfficial     = "official"
	BaseNoneFallback = "none-fallback"
)

// BaseImage is the cached Debian root the VMs boot.
type BaseImage struct {
	Release                     string
	Variant                     string // BaseOfficial or BaseNoneFallback
	Dir, Rootfs, Kernel, Initrd string
	Info                        map[string]string // base-image.sh's info file
}

// CDROM is how the kernel reads a seed ISO: "ide" (machine pc) or "ahci"
// (machine q35).
func (b BaseImage) CDROM() string {
	if b.Info["cdrom"] == "ahci" {
		return "ahci"
	}
	return "ide"
}

type baseEntry struct {
	once sync.Once
	img  BaseImage
	err  error
}

var (
	basesMu sync.Mutex
	bases   = map[string]*baseEntry{}
)

// GetBaseImage builds (first time) or finds the cached base image of a
// release, configured like Debian's official cloud images.
func GetBaseImage(t testing.TB, release string) BaseImage {
	t.Helper()
	return GetBaseImageVariant(t, release, BaseOfficial)
}

// GetBaseImageVariant is GetBaseImage for a variant (BaseOfficial,
// BaseNoneFallback).
func GetBaseImageVariant(t testing.TB, release, variant string) BaseImage {
	t.Helper()
	basesMu.Lock()
	e := bases[release+"/"+variant]
	if e == nil {
		e = &baseEntry{}
		bases[release+"/"+variant] = e
	}
	basesMu.Unlock()
	e.once.Do(func() {
		root := repoRoot(t)
		start := time.Now()
		args := []string{filepath.Join(root, "e2e", "base-image.sh"), release}
		if variant == BaseNoneFallback {
			args = []string{args[0], "--none-fallback", release}
		} else if variant != BaseOfficial {
			e.err = fmt.Errorf("base image variant %q: want %s or %s", variant, BaseOfficial, BaseNoneFallback)
			return
		}
		cmd := exec.Command("bash", args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			e.err = fmt.Errorf("e2e/base-image.sh %s: %v\n%s", release, err, tail(stderr.String(), 60))
			return
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		dir := lines[len(lines)-1]
		e.img = BaseImage{Release: release, Variant: variant, Dir: dir, Rootfs: filepath.Join(dir, "rootfs.img"),
			Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"), Info: map[string]string{}}
		if data, err := os.ReadFile(filepath.Join(dir, "info")); err == nil {
			for _, l := range strings.Split(string(data), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					e.img.Info[k] = v
				}
			}
		}
		t.Logf("phase base-image %s (%s): %s (%s; kernel %s, cloud-init %s, netplan %s, seed CD on %s)", release, variant,
			time.Since(start).Round(time.Second), dir, e.img.Info["kernel"], e.img.Info["cloud_init"], e.img.Info["netplan"], e.img.CDROM())
	})
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.img
}

// ---------------------------------------------------------------------------
// network namespace with a bridge and one tap per VM, no uplink

// Net is a private L2 segment inside a network namespace.
type Net struct {
	NS     string
	HostIP string // bridge address, CIDR
	taps   int
	mu     sync.Mutex
}

// nsName is the namespace of this process (index for a second one).
func nsName(i int) string {
	if i == 0 {
		return fmt.Sprintf("etcdimg-e2e-%d", os.Getpid())
	}
	return fmt.Sprintf("etcdimg-e2e-%d-%d", os.Getpid(), i)
}

var nsCount struct {
	sync.Mutex
	n int
}

// NewNet creates netns etcdimg-e2e-<pid> with bridge br0 at hostCIDR.
func NewNet(t testing.TB, hostCIDR string) *Net {
	t.Helper()
	nsCount.Lock()
	name := nsName(nsCount.n)
	nsCount.n++
	nsCount.Unlock()
	n := &Net{NS: name, HostIP: hostCIDR}
	_ = exec.Command("ip", "netns", "del", name).Run() // stale from a reused pid
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	registerCleanup(t, func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e cleanup: ip netns del %s: %v: %s\n", name, err, out)
		}
	})
	for _, c := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "addr", "add", hostCIDR, "dev", "br0"},
		{"ip", "link", "set", "br0", "up"},
	} {
		if out, err := n.Cmd(c...).CombinedOutput(); err != nil {
			t.Fatalf("%v in %s: %v: %s", c, name, err, out)
		}
	}
	return n
}

// Cmd is a command run inside the namespace.
func (n *Net) Cmd(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.NS}, args...)...)
}

// CmdContext is Cmd with a context.
func (n *Net) CmdContext(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS}, args...)...)
}

// AddTap creates the next tap device on the bridge and returns its name.
func (n *Net) AddTap(t testing.TB) string {
	n.mu.Lock()
	name := fmt.Sprintf("tap%d", n.taps)
	n.taps++
	n.mu.Unlock()
	for _, c := range [][]string{
		{"ip", "tuntap", "add", "dev", name, "mode", "tap"},
		{"ip", "link", "set", name, "master", "br0"},
		{"ip", "link", "set", name, "up"},
	} {
		if out, err := n.Cmd(c...).CombinedOutput(); err != nil {
			t.Fatalf("%v in %s: %v: %s", c, n.NS, err, out)
		}
	}
	return name
}

// cleanStaleNamespaces removes etcdimg-e2e-<pid> namespaces of dead processes
// (a run killed by go test's -timeout cannot run its cleanups).
func cleanStaleNamespaces() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "etcdimg-e2e-") {
			continue
		}
		pidStr := strings.SplitN(strings.TrimPrefix(f[0], "etcdimg-e2e-"), "-", 2)[0]
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // owner alive
		}
		// kill leftover QEMUs still inside it, then drop it
		if pids, err := exec.Command("ip", "netns", "pids", f[0]).Output(); err == nil {
			for _, p := range strings.Fields(string(pids)) {
				if n, err := strconv.Atoi(p); err == nil {
					_ = syscall.Kill(n, syscall.SIGKILL)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", f[0]).Run()
		fmt.Fprintf(os.Stderr, "e2e: removed stale namespace %s\n", f[0])
	}
}

// ---------------------------------------------------------------------------
// VMs

// Seed formats, as `etcdimg build --format` names them.
const (
	FormatISO  = "iso"
	FormatVFAT = "vfat"
)

// VM is one QEMU guest on the namespace's bridge.
type VM struct {
	Name       string
	MAC        string
	Seed       string // NoCloud seed image; empty: an empty CD drive (see SetSeed)
	SeedFormat string // FormatISO (a CD) or FormatVFAT (a disk)
	Dir        string // work dir: overlay, serial logs, monitor socket
	Tap        string

	net     *Net
	base    BaseImage
	overlay string

	mu      sync.Mutex
	boot    int // 1 on first boot
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	started time.Time
	reports map[int]*Report // by boot
}

// NewVM creates the overlay and tap of a VM; Start boots it. format is the
// seed's: FormatISO or FormatVFAT.
func NewVM(t testing.TB, n *Net, base BaseImage, workDir, name, mac, seed, format string) *VM {
	t.Helper()
	dir := filepath.Join(workDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vm := &VM{Name: name, MAC: mac, Seed: seed, SeedFormat: format, Dir: dir, net: n, base: base,
		overlay: filepath.Join(dir, "overlay.qcow2"), reports: map[int]*Report{}}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base.Rootfs, vm.overlay).CombinedOutput(); err != nil {
		t.Fatalf("%s: qemu-img create: %v: %s", name, err, out)
	}
	vm.Tap = n.AddTap(t)
	registerCleanup(t, func() { vm.Kill() })
	return vm
}

// ConsoleLog is the serial console (ttyS0) log of a boot.
func (vm *VM) ConsoleLog(boot int) string {
	return filepath.Join(vm.Dir, fmt.Sprintf("console-boot%d.log", boot))
}

// ReportLog is the clean report channel (ttyS1) log of a boot.
func (vm *VM) ReportLog(boot int) string {
	return filepath.Join(vm.Dir, fmt.Sprintf("report-boot%d.log", boot))
}

func (vm *VM) monitorSock() string { return filepath.Join(vm.Dir, "monitor.sock") }

// Boot returns the current boot number (0 before the first Start).
func (vm *VM) Boot() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.boot
}

// SetSeed changes what the next Start attaches: another seed image (of the
// VM's seed format), or with "" nothing — an ISO VM then boots with an empty
// CD drive, as after `virsh change-media --eject`.
func (vm *VM) SetSeed(seed string) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.Seed = seed
}

// Start boots the VM (again, after a Shutdown).
func (vm *VM) Start() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.cmd != nil {
		select {
		case <-vm.exited:
		default:
			return fmt.Errorf("%s: already running", vm.Name)
		}
	}
	vm.boot++
	_ = os.Remove(vm.monitorSock())
	// bookworm's cloud kernel has no AHCI: an ISO seed must be an IDE CD,
	// which only machine pc has (base-image.sh says which the kernel reads).
	machine := "pc"
	if vm.base.CDROM() == "ahci" {
		machine = "q35"
	}
	// The root disk comes first so it stays /dev/vda (the image's fstab and
	// root=) when a FAT seed adds a second virtio disk.
	seedDrive := "file=" + vm.Seed + ",media=cdrom,if=ide,readonly=on"
	switch {
	case vm.Seed == "" && vm.SeedFormat == FormatVFAT:
		seedDrive = "" // the disk is detached
	case vm.Seed == "":
		seedDrive = "media=cdrom,if=ide" // the drive stays, empty
	case vm.SeedFormat == FormatVFAT:
		seedDrive = "file=" + vm.Seed + ",if=virtio,format=raw,readonly=on"
	}
	args := []string{
		"qemu-system-x86_64",
		"-name", vm.Name,
		"-machine", machine,
	}
	args = append(args, accelArgs()...)
	args = append(args,
		"-m", "768", "-smp", "1",
		"-nographic",
		"-monitor", "unix:"+vm.monitorSock()+",server=on,wait=off",
		"-serial", "file:"+vm.ConsoleLog(vm.boot), // ttyS0: console
		"-serial", "file:"+vm.ReportLog(vm.boot), // ttyS1: report only
		"-kernel", vm.base.Kernel, "-initrd", vm.base.Initrd,
		"-append", "root=/dev/vda rw console=ttyS0",
		"-drive", "file="+vm.overlay+",if=virtio,format=qcow2",
	)
	if seedDrive != "" {
		args = append(args, "-drive", seedDrive)
	}
	args = append(args,
		"-netdev", "tap,id=n0,ifname="+vm.Tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+vm.MAC,
	)
	cmd := vm.net.Cmd(args...)
	qlog, err := os.Create(filepath.Join(vm.Dir, fmt.Sprintf("qemu-boot%d.log", vm.boot)))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = qlog, qlog
	cmd.Stdin = nil
	// own process group (a terminal ^C reaches us, we then power off cleanly
	// or kill); die with the test binary even if it is SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		qlog.Close()
		return fmt.Errorf("%s: start qemu: %w", vm.Name, err)
	}
	vm.cmd = cmd
	vm.started = time.Now()
	exited := make(chan struct{})
	vm.exited = exited
	go func() {
		err := cmd.Wait()
		qlog.Close()
		vm.mu.Lock()
		vm.exitErr = err
		vm.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Running reports whether QEMU is up.
func (vm *VM) Running() bool {
	vm.mu.Lock()
	ch := vm.exited
	vm.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// Kill stops QEMU hard (cleanup path). Safe to call any time.
func (vm *VM) Kill() {
	vm.mu.Lock()
	cmd, ch := vm.cmd, vm.exited
	vm.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-ch:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-ch
	}
}

// monitor sends one human-monitor command.
func (vm *VM) monitor(command string) error {
	c, err := net.DialTimeout("unix", vm.monitorSock(), 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return err
	}
	// read the echo so the command is consumed before we hang up
	buf := make([]byte, 4096)
	_, _ = c.Read(buf)
	time.Sleep(200 * time.Millisecond)
	_, _ = c.Read(buf)
	return nil
}

// Shutdown powers the guest off through ACPI (systemd-logind handles the
// power button) and waits for QEMU to exit; it reports whether the shutdown
// was clean (false: it had to be killed after timeout).
func (vm *VM) Shutdown(timeout time.Duration) (clean bool, err error) {
	if !vm.Running() {
		return true, nil
	}
	vm.mu.Lock()
	ch := vm.exited
	vm.mu.Unlock()
	if err := vm.monitor("system_powerdown"); err != nil {
		vm.Kill()
		return false, fmt.Errorf("%s: monitor: %v", vm.Name, err)
	}
	select {
	case <-ch:
		return true, nil
	case <-time.After(timeout):
		vm.Kill()
		return false, nil
	}
}

// WaitReport waits until the report of the current boot arrives on the
// serial port, QEMU dies, or ctx ends.
func (vm *VM) WaitReport(ctx context.Context) (*Report, error) {
	boot := vm.Boot()
	vm.mu.Lock()
	ch := vm.exited
	vm.mu.Unlock()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if r := vm.readReport(boot); r != nil {
			vm.mu.Lock()
			vm.reports[boot] = r
			vm.mu.Unlock()
			return r, nil
		}
		select {
		case <-ch:
			if r := vm.readReport(boot); r != nil {
				return r, nil
			}
			if interrupted.Load() {
				return nil, fmt.Errorf("%s: interrupted", vm.Name)
			}
			vm.mu.Lock()
			err := vm.exitErr
			vm.mu.Unlock()
			return nil, fmt.Errorf("%s: QEMU exited before the report (boot %d): %v; qemu log: %s; console tail:\n%s",
				vm.Name, boot, err, readTail(filepath.Join(vm.Dir, fmt.Sprintf("qemu-boot%d.log", boot)), 10), readTail(vm.ConsoleLog(boot), 30))
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no E2E-REPORT within the boot timeout (boot %d, %s after start); console tail:\n%s",
				vm.Name, boot, time.Since(vm.started).Round(time.Second), readTail(vm.ConsoleLog(boot), 30))
		case <-tick.C:
		}
	}
}

// readReport parses the clean channel, falling back to the console.
func (vm *VM) readReport(boot int) *Report {
	for _, f := range []string{vm.ReportLog(boot), vm.ConsoleLog(boot)} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if reps := ParseReports(data); len(reps) > 0 {
			return reps[len(reps)-1]
		}
	}
	return nil
}

// ConsoleLines returns console lines of a boot that contain substr.
func (vm *VM) ConsoleLines(boot int, substr string) []string {
	f, err := os.Open(vm.ConsoleLog(boot))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// helpers

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func readTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return tail(stripANSI(string(data)), n)
}

// stripANSI drops terminal colour escapes systemd writes to the console.
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		if s[i] == '\r' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// copyTree copies regular files from src to dst, skipping names for which
// skip returns true.
func copyTree(src, dst string, skip func(string) bool) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
