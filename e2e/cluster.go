//go:build e2e

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/outdir"
)

// ---------------------------------------------------------------------------
// inputs: cluster.json written by `etcdimg build`

// ClusterInfo is DIR/cluster.json as outdir.Read (the one reader of the
// output contract) returns it, with what the harness layers on top: every
// node has a MAC for QEMU (from cluster.json, else its network-config, else
// a made-up one, with a warning) and a seed name.
type ClusterInfo struct {
	*outdir.Cluster
	// Nodes shadows Cluster.Nodes with the harness's fallbacks applied.
	Nodes    []NodeInfo
	Warnings []string
}

// NodeInfo is one node of cluster.json.
type NodeInfo struct {
	outdir.Node
}

// Seed is the node's seed image and its format: the FAT image when
// cluster.json lists one, else the ISO.
func (n NodeInfo) Seed() (path, format string) {
	if n.VFAT != "" {
		return n.VFAT, FormatVFAT
	}
	return n.ISO, FormatISO
}

// Addr is the node's IP without a prefix length.
func (n NodeInfo) Addr() string { return strings.SplitN(n.IP, "/", 2)[0] }

func (c *ClusterInfo) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir(), p)
}

// uid and gid are the etcd user's ids cluster.json records (1501 if it
// has none).
func (c *ClusterInfo) uid() int {
	if c.UID != 0 {
		return c.UID
	}
	return 1501
}

func (c *ClusterInfo) gid() int {
	if c.GID != 0 {
		return c.GID
	}
	return 1501
}

// LoadClusterInfo reads DIR/cluster.json through outdir.Read, which checks
// the schema version, names, IPs, endpoints and the etcdctl paths.
func LoadClusterInfo(dir string) (*ClusterInfo, error) {
	oc, err := outdir.Read(dir)
	if err != nil {
		return nil, err
	}
	c := &ClusterInfo{Cluster: oc}
	for i, on := range oc.Nodes {
		n := NodeInfo{on}
		if n.ISO == "" && n.VFAT == "" {
			n.ISO = n.Name + ".iso"
		}
		if n.MAC == "" {
			n.MAC = macFromNetworkConfig(filepath.Join(dir, n.Name, "network-config"))
		}
		if n.MAC == "" {
			n.MAC = fmt.Sprintf("52:54:00:e2:%02x:%02x", (i+1)>>8, (i+1)&0xff)
			c.Warnings = append(c.Warnings, fmt.Sprintf("node %s: no mac in cluster.json nor its network-config; QEMU gets %s", n.Name, n.MAC))
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c, nil
}

// macFromNetworkConfig finds the first MAC of a network-config (v1's
// "mac_address:", v2's "macaddress:").
func macFromNetworkConfig(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		for _, k := range []string{"mac_address:", "macaddress:"} {
			if strings.HasPrefix(l, k) {
				return strings.Trim(strings.TrimSpace(strings.TrimPrefix(l, k)), `"'`)
			}
		}
	}
	return ""
}

// hostAddr picks the bridge address: in the nodes' subnet (prefix from the
// first node's ip, /24 if none), the first host address (where the specs put
// their gateway) or else the highest one no node uses.
func (c *ClusterInfo) hostAddr() (string, error) {
	ipStr, prefix := c.Nodes[0].IP, "24"
	if i := strings.Index(ipStr, "/"); i >= 0 {
		ipStr, prefix = ipStr[:i], ipStr[i+1:]
	}
	_, subnet, err := net.ParseCIDR(ipStr + "/" + prefix)
	if err != nil {
		return "", err
	}
	used := map[string]bool{}
	for _, n := range c.Nodes {
		used[n.Addr()] = true
	}
	ip := subnet.IP.To4()
	if ip == nil {
		return "", fmt.Errorf("only IPv4 node subnets are supported, got %s", subnet)
	}
	ones, bits := subnet.Mask.Size()
	size := uint32(1) << uint(bits-ones)
	base := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	offs := []uint32{1} // the first address: the e2e specs' gateway
	for off := size - 2; off >= 2; off-- {
		offs = append(offs, off)
	}
	for _, off := range offs {
		a := base + off
		cand := net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).String()
		if !used[cand] {
			return fmt.Sprintf("%s/%d", cand, ones), nil
		}
	}
	return "", fmt.Errorf("no free host address in %s", subnet)
}

// ---------------------------------------------------------------------------
// the etcd release tarball: binaries' sha256 and an etcdctl for the host

// Release describes the tarball the seeds were built from.
type Release struct {
	Tarball       string
	Version       string            // from the tarball's name (etcd-v<version>-linux-<arch>.tar.gz); passed as --ext-str etcd_version
	TarballSHA256 string            // passed to specs as --ext-str etcd_sha256
	SHA256        map[string]string // etcd, etcdctl, etcdutl
	Etcdctl       string            // extracted on the host
}

type releaseEntry struct {
	once sync.Once
	rel  *Release
	err  error
}

var (
	relMu    sync.Mutex
	releases = map[string]*releaseEntry{} // by tarball path
	procTmp  string                       // per-process scratch (etcdctl, etcdimg binary)
)

func processTmp(t testing.TB) string {
	if procTmp == "" {
		d, err := os.MkdirTemp("", "etcdimg-e2e-proc-")
		if err != nil {
			t.Fatal(err)
		}
		procTmp = d
	}
	return procTmp
}

// GetRelease reads the release tarball the seeds carry
// (ETCDIMG_E2E_RELEASE, default the 3.6.16 of `make etcd-release`) once per
// process.
func GetRelease(t testing.TB) *Release {
	t.Helper()
	return GetReleaseFile(t, envOr("ETCDIMG_E2E_RELEASE", filepath.Join(repoRoot(t), "out", "etcd-release", "etcd-v3.6.16-linux-amd64.tar.gz")))
}

// GetOldRelease is the older release a scenario first boots with and then
// upgrades from (ETCDIMG_E2E_OLD_RELEASE, default the 3.5.21 that `make
// e2e` builds with `make etcd-release ETCD_VERSION=3.5.21`).
func GetOldRelease(t testing.TB) *Release {
	t.Helper()
	return GetReleaseFile(t, envOr("ETCDIMG_E2E_OLD_RELEASE", filepath.Join(repoRoot(t), "out", "etcd-release", "etcd-v3.5.21-linux-amd64.tar.gz")))
}

var tarballVersionRE = regexp.MustCompile(`^etcd-v([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?)-linux-[a-z0-9]+\.tar\.gz$`)

// GetReleaseFile reads a release tarball once per process: its sha256, its
// binaries' sha256, and its etcdctl extracted for the host.
func GetReleaseFile(t testing.TB, tarball string) *Release {
	t.Helper()
	relMu.Lock()
	e := releases[tarball]
	if e == nil {
		e = &releaseEntry{}
		releases[tarball] = e
	}
	relMu.Unlock()
	e.once.Do(func() { e.rel, e.err = readRelease(t, tarball) })
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.rel
}

func readRelease(t testing.TB, tarball string) (*Release, error) {
	m := tarballVersionRE.FindStringSubmatch(filepath.Base(tarball))
	if m == nil {
		return nil, fmt.Errorf("etcd release tarball %s: want a name etcd-v<version>-linux-<arch>.tar.gz, as scripts/etcd-release.sh writes", tarball)
	}
	f, err := os.Open(tarball)
	if err != nil {
		return nil, fmt.Errorf("etcd release tarball: %v (build it with scripts/etcd-release.sh or `make e2e`, or set ETCDIMG_E2E_RELEASE / ETCDIMG_E2E_OLD_RELEASE)", err)
	}
	defer f.Close()
	th := sha256.New()
	gz, err := gzip.NewReader(io.TeeReader(f, th))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", tarball, err)
	}
	r := &Release{Tarball: tarball, Version: m[1], SHA256: map[string]string{}}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", tarball, err)
		}
		base := filepath.Base(h.Name)
		if h.Typeflag != tar.TypeReg || (base != "etcd" && base != "etcdctl" && base != "etcdutl") {
			continue
		}
		sum := sha256.New()
		var w io.Writer = sum
		var out *os.File
		if base == "etcdctl" {
			r.Etcdctl = filepath.Join(processTmp(t), "etcdctl-"+r.Version)
			if out, err = os.OpenFile(r.Etcdctl, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755); err != nil {
				return nil, err
			}
			w = io.MultiWriter(sum, out)
		}
		if _, err := io.Copy(w, tr); err != nil {
			return nil, err
		}
		if out != nil {
			out.Close()
		}
		r.SHA256[base] = hex.EncodeToString(sum.Sum(nil))
	}
	if _, err := io.Copy(io.Discard, gz); err != nil { // rest of the stream, for the tarball hash
		return nil, err
	}
	if _, err := io.Copy(th, f); err != nil {
		return nil, err
	}
	r.TarballSHA256 = hex.EncodeToString(th.Sum(nil))
	for _, b := range []string{"etcd", "etcdctl", "etcdutl"} {
		if r.SHA256[b] == "" {
			return nil, fmt.Errorf("%s: no %s binary inside", tarball, b)
		}
	}
	return r, nil
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// EtcdimgBin is ETCDIMG_E2E_BIN, or ./cmd/etcdimg built fresh once per process.
func EtcdimgBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if b := os.Getenv("ETCDIMG_E2E_BIN"); b != "" {
			binPath, binErr = filepath.Abs(b)
			return
		}
		binPath = filepath.Join(processTmp(t), "etcdimg")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/etcdimg")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/etcdimg: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// ---------------------------------------------------------------------------
// scenario: one cluster of VMs built from testdata/e2e/<spec>.jsonnet

var interrupted atomic.Bool

// Scenario is a running e2e cluster.
type Scenario struct {
	T       *testing.T
	Name    string    // spec and release: artifacts go to e2e/artifacts/<Name>-<time>
	Release string    // Debian release the VMs boot
	Format  string    // seed format asked of etcdimg build
	Base    BaseImage // Base.Variant: how its cloud-init is configured
	Work    string    // temp dir: seeds, overlays, logs
	SeedDir string    // etcdimg build -o
	Info    *ClusterInfo
	Rel     *Release
	Net     *Net
	VMs     []*VM  // same order as Info.Nodes
	SSHKey  string // private key of the specs' access block (see access.go)
	SSHPub  string // its authorized_keys line, passed as --ext-str e2e_ssh_key

	mu       sync.Mutex
	timings  []string
	artifact string
}

// Phase records and logs a timing.
func (s *Scenario) Phase(name string, d time.Duration) {
	line := fmt.Sprintf("phase %-28s %s", name, d.Round(100*time.Millisecond))
	s.mu.Lock()
	s.timings = append(s.timings, line)
	s.mu.Unlock()
	s.T.Log(line)
}

// NewScenario builds the seed ISOs of testdata/e2e/<spec>.jsonnet with
// bin/etcdimg and prepares (does not start) one VM per node, booting the
// base image of a Debian release.
func NewScenario(t *testing.T, release, spec string) *Scenario {
	t.Helper()
	return NewScenarioFormat(t, release, spec, FormatISO)
}

// NewScenarioFormat is NewScenario with the seeds built as format
// (`etcdimg build --format`) and attached to the VMs as such.
func NewScenarioFormat(t *testing.T, release, spec, format string) *Scenario {
	t.Helper()
	return NewScenarioBase(t, release, spec, format, BaseOfficial)
}

// NewScenarioBase is NewScenarioFormat on a base image variant
// (BaseOfficial, BaseNoneFallback).
func NewScenarioBase(t *testing.T, release, spec, format, variant string) *Scenario {
	t.Helper()
	return newScenario(t, release, spec, format, variant, nil)
}

// NewScenarioRelease is NewScenario with the seeds carrying another etcd
// release than ETCDIMG_E2E_RELEASE (e.g. GetOldRelease, to upgrade from).
func NewScenarioRelease(t *testing.T, release, spec string, etcdRel *Release) *Scenario {
	t.Helper()
	return newScenario(t, release, spec, FormatISO, BaseOfficial, etcdRel)
}

func newScenario(t *testing.T, release, spec, format, variant string, relInfo *Release) *Scenario {
	t.Helper()
	requireHost(t)
	root := repoRoot(t)
	specPath := filepath.Join(root, "testdata", "e2e", spec+".jsonnet")
	if _, err := os.Stat(specPath); err != nil {
		t.Fatalf("scenario spec: %v", err)
	}
	if relInfo == nil {
		relInfo = GetRelease(t)
	}
	bin := EtcdimgBin(t)
	base := GetBaseImageVariant(t, release, variant)
	s := newBareScenario(t, spec+"-"+release)
	s.Rel, s.Release, s.Format, s.Base = relInfo, release, format, base

	key, pub, err := newSSHKey(filepath.Join(s.Work, "ssh"))
	if err != nil {
		t.Fatal(err)
	}
	s.SSHKey, s.SSHPub = key, pub
	start := time.Now()
	args := append([]string{"build", specPath, "-o", s.SeedDir, "--pki-dir", filepath.Join(s.Work, "pki")}, s.specArgs()...)
	if format != FormatISO {
		args = append(args, "--format", format)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ETCDIMG_RELEASE="+relInfo.Tarball)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(s.Work, "etcdimg-build.log"), out, 0o644)
	if err != nil {
		t.Fatalf("etcdimg build %s: %v\n%s", specPath, err, tail(string(out), 40))
	}
	s.Phase(format+"-build", time.Since(start))
	if s.Info, err = LoadClusterInfo(s.SeedDir); err != nil {
		t.Fatal(err)
	}
	hostIP, err := s.Info.hostAddr()
	if err != nil {
		t.Fatal(err)
	}
	s.Net = NewNet(t, hostIP)
	t.Logf("cluster %q: %d nodes, tls=%v, etcd %s, %s seeds, Debian %s (%s base: kernel %s, cloud-init %s), netns %s, host %s",
		s.Info.Name, len(s.Info.Nodes), s.Info.TLS, relInfo.Version, format, release, variant, base.Info["kernel"], base.Info["cloud_init"], s.Net.NS, hostIP)
	for _, w := range s.Info.Warnings {
		t.Log("warning: " + w)
	}
	for _, n := range s.Info.Nodes {
		seed, got := n.Seed()
		if got != format {
			t.Fatalf("node %s: check cluster-json-seed: cluster.json lists a %s seed (iso %q, vfat %q), built with --format %s", n.Name, got, n.ISO, n.VFAT, format)
		}
		seed = s.Info.path(seed)
		if _, err := os.Stat(seed); err != nil {
			t.Fatalf("node %s: seed %s: %v", n.Name, format, err)
		}
		s.VMs = append(s.VMs, NewVM(t, s.Net, base, filepath.Join(s.Work, "vms"), n.Name, n.MAC, seed, format))
	}
	return s
}

// specArgs are the flags every build of the scenario's specs gets: the
// release (its version and sha256 for the spec) and the access block's key
// and hash (specs that do not use them ignore them).
func (s *Scenario) specArgs() []string {
	return []string{"--etcd-release", s.Rel.Tarball, "--ext-str", "etcd_version=" + s.Rel.Version,
		"--ext-str", "etcd_sha256=" + s.Rel.TarballSHA256,
		"--ext-str", "e2e_ssh_key=" + s.SSHPub, "--ext-str", "e2e_admin_hash=" + AdminPasswordHash}
}

// newBareScenario makes the work dir and registers its removal and the
// saving of artifacts; callers add Net and VMs.
func newBareScenario(t *testing.T, name string) *Scenario {
	t.Helper()
	requireHost(t)
	work, err := os.MkdirTemp("", "etcdimg-e2e-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Scenario{T: t, Name: name, Work: work, SeedDir: filepath.Join(work, "seeds")}
	registerCleanup(t, func() { os.RemoveAll(work) })
	registerCleanup(t, s.saveArtifacts)
	return s
}

// saveArtifacts keeps serial logs, reports and seeds of a failed (or
// interrupted, or ETCDIMG_E2E_KEEP=1) run under e2e/artifacts/<scenario>-<time>/.
func (s *Scenario) saveArtifacts() {
	if !s.T.Failed() && !interrupted.Load() && os.Getenv("ETCDIMG_E2E_KEEP") == "" {
		return
	}
	for _, vm := range s.VMs {
		vm.Kill() // logs are complete once QEMU is gone
	}
	root := envOr("ETCDIMG_E2E_ARTIFACTS", filepath.Join(repoRootNoT(), "e2e", "artifacts"))
	dir := filepath.Join(root, s.Name+"-"+time.Now().Format("20060102-150405"))
	if err := copyTree(s.Work, dir, func(rel string) bool {
		return strings.HasSuffix(rel, ".qcow2") || strings.HasSuffix(rel, ".sock")
	}); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: saving artifacts: %v\n", err)
	}
	s.mu.Lock()
	_ = os.WriteFile(filepath.Join(dir, "timings.txt"), []byte(strings.Join(s.timings, "\n")+"\n"), 0o644)
	s.mu.Unlock()
	s.artifact = dir
	msg := fmt.Sprintf("e2e artifacts (serial logs, reports, seeds) of %s: %s", s.Name, dir)
	if interrupted.Load() {
		fmt.Fprintln(os.Stderr, msg)
	} else {
		s.T.Log(msg)
	}
}

func repoRootNoT() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return wd
}

// BootTimeout is the boot -> report budget. Three TCG guests on two cores
// report in 1m45 on a quiet host and in up to 4m on a slower one (measured 1
// Dec 2026; a second boot under a rollout up to 7m47 there): 8 minutes keeps
// a slow host from failing a healthy boot, and only a failing run waits it.
func (s *Scenario) BootTimeout() time.Duration {
	if v := os.Getenv("ETCDIMG_E2E_BOOT_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	d := 8 * time.Minute
	if n := len(s.VMs); n > 3 {
		d += time.Duration(n-3) * 90 * time.Second
	}
	return d
}

// VM returns the VM of a node.
func (s *Scenario) VM(name string) *VM {
	for _, vm := range s.VMs {
		if vm.Name == name {
			return vm
		}
	}
	s.T.Fatalf("no VM %s", name)
	return nil
}

// Start boots VMs (all when none named) in parallel.
func (s *Scenario) Start(vms ...*VM) {
	s.T.Helper()
	if len(vms) == 0 {
		vms = s.VMs
	}
	for _, vm := range vms {
		if err := vm.Start(); err != nil {
			s.T.Fatal(err)
		}
	}
}

// WaitReports waits for the current boot's report of every VM (or those
// named), logging boot -> report per node. All failures name the node; it
// stops the test when a report is missing.
func (s *Scenario) WaitReports(vms ...*VM) map[string]*Report {
	s.T.Helper()
	reps, ok := s.waitReports(vms...)
	if !ok {
		// still check the guests that did report: more feedback per run
		if s.Info != nil {
			for name, r := range reps {
				for _, f := range CheckNodeReport(s.Info, s.Rel, s.Node(name), r) {
					s.T.Error(f)
				}
			}
		}
		s.T.FailNow()
	}
	return reps
}

// WaitReportsNoFatal is WaitReports for other goroutines: it marks the test
// failed and returns nil when a report is missing.
func (s *Scenario) WaitReportsNoFatal(vms ...*VM) map[string]*Report {
	reps, ok := s.waitReports(vms...)
	if !ok {
		return nil
	}
	return reps
}

func (s *Scenario) waitReports(vms ...*VM) (map[string]*Report, bool) {
	if len(vms) == 0 {
		vms = s.VMs
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.BootTimeout())
	defer cancel()
	if dl, ok := s.T.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}
	type res struct {
		vm  *VM
		r   *Report
		err error
		d   time.Duration
	}
	ch := make(chan res, len(vms))
	for _, vm := range vms {
		go func(vm *VM) {
			r, err := vm.WaitReport(ctx)
			vm.mu.Lock()
			d := time.Since(vm.started)
			vm.mu.Unlock()
			if err == nil {
				_ = os.WriteFile(filepath.Join(vm.Dir, fmt.Sprintf("report-boot%d.txt", vm.Boot())), []byte(r.Raw), 0o644)
			}
			ch <- res{vm, r, err, d}
		}(vm)
	}
	out := map[string]*Report{}
	var errs []string
	for range vms {
		r := <-ch
		if r.err != nil {
			errs = append(errs, r.err.Error())
			continue
		}
		s.Phase(fmt.Sprintf("boot%d->report %s", r.vm.Boot(), r.vm.Name), r.d)
		s.T.Logf("  %s: guest uptime at report %ss, cloud-init finished at %ss, report waited %ss for etcd to leave 'activating'",
			r.vm.Name, r.r.Header("uptime"), cloudInitFinished(r.vm.ConsoleLines(r.vm.Boot(), "Cloud-init v.")), r.r.Header("etcd_wait_s"))
		out[r.vm.Name] = r.r
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		s.T.Errorf("waiting for guest reports (timeout %s):\n%s", s.BootTimeout(), strings.Join(errs, "\n\n"))
		return out, false
	}
	return out, true
}

// Node returns the spec of a node.
func (s *Scenario) Node(name string) NodeInfo {
	for _, n := range s.Info.Nodes {
		if n.Name == name {
			return n
		}
	}
	s.T.Fatalf("no node %s in cluster.json", name)
	return NodeInfo{}
}

// ---------------------------------------------------------------------------
// host-side etcdctl, inside the namespace

// Etcdctl runs the release's etcdctl against endpoints inside the namespace.
func (s *Scenario) Etcdctl(ctx context.Context, endpoints []string, args ...string) (string, error) {
	a := []string{s.Rel.Etcdctl, "--endpoints=" + strings.Join(endpoints, ","), "--dial-timeout=5s", "--command-timeout=15s"}
	if s.Info.TLS {
		a = append(a, "--cacert="+s.Info.path(s.Info.Etcdctl.CACert), "--cert="+s.Info.path(s.Info.Etcdctl.Cert), "--key="+s.Info.path(s.Info.Etcdctl.Key))
	}
	a = append(a, args...)
	cmd := s.Net.CmdContext(ctx, a...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// WaitHealthy polls `endpoint health` on every node until all are healthy.
func (s *Scenario) WaitHealthy(timeout time.Duration) {
	s.T.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last map[string]string
	for {
		last = map[string]string{}
		for _, n := range s.Info.Nodes {
			c, cf := context.WithTimeout(ctx, 20*time.Second)
			out, err := s.Etcdctl(c, []string{n.Endpoint()}, "endpoint", "health")
			cf()
			if err != nil || !strings.Contains(out, "is healthy") {
				last[n.Name] = fmt.Sprintf("%v: %s", err, out)
			}
		}
		if len(last) == 0 {
			s.Phase("report->healthy", time.Since(start))
			return
		}
		select {
		case <-ctx.Done():
			var msgs []string
			for name, m := range last {
				msgs = append(msgs, fmt.Sprintf("node %s: check endpoint-health (%s): %s", name, s.Node(name).Endpoint(), m))
			}
			sort.Strings(msgs)
			s.T.Fatalf("cluster not healthy after %s:\n%s", timeout, strings.Join(msgs, "\n"))
		case <-time.After(3 * time.Second):
		}
	}
}

// Member is one entry of `member list -w json`.
type Member struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// MemberList asks one node for the member list.
func (s *Scenario) MemberList(node NodeInfo) ([]Member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.Etcdctl(ctx, []string{node.Endpoint()}, "member", "list", "-w", "json")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var ml struct {
		Members []Member `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &ml); err != nil {
		return nil, fmt.Errorf("member list json: %v: %s", err, out)
	}
	return ml.Members, nil
}

// CheckMembers asserts that every node lists exactly the spec's node names.
func (s *Scenario) CheckMembers() {
	s.T.Helper()
	var want []string
	for _, n := range s.Info.Nodes {
		want = append(want, n.Name)
	}
	sort.Strings(want)
	for _, n := range s.Info.Nodes {
		ms, err := s.MemberList(n)
		if err != nil {
			s.T.Errorf("node %s: check member-list: %v", n.Name, err)
			continue
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Name)
			if m.IsLearner {
				s.T.Errorf("node %s: check member-list: member %q is still a learner", n.Name, m.Name)
			}
			if sn := s.nodeByName(m.Name); sn != nil {
				if !sameSet(m.PeerURLs, sn.PeerURLs) {
					s.T.Errorf("node %s: check member-list: member %s peerURLs %v, spec %v", n.Name, m.Name, m.PeerURLs, sn.PeerURLs)
				}
				if !sameSet(m.ClientURLs, sn.ClientURLs) {
					s.T.Errorf("node %s: check member-list: member %s clientURLs %v, spec %v", n.Name, m.Name, m.ClientURLs, sn.ClientURLs)
				}
			}
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			s.T.Errorf("node %s: check member-list: names %v, spec %v", n.Name, got, want)
		}
	}
}

func (s *Scenario) nodeByName(name string) *NodeInfo {
	for i := range s.Info.Nodes {
		if s.Info.Nodes[i].Name == name {
			return &s.Info.Nodes[i]
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(b) == 0 {
		return true // spec does not say
	}
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, " ") == strings.Join(y, " ")
}

// PutEverywhere writes a fresh key through the first node and reads it back
// through every node; it returns the key and value.
func (s *Scenario) PutEverywhere() (string, string) {
	s.T.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	key := fmt.Sprintf("/e2e/%s/%d", s.Name, time.Now().UnixNano())
	val := "v-" + hex.EncodeToString(b)
	w := s.Info.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := s.Etcdctl(ctx, []string{w.Endpoint()}, "put", key, val); err != nil || !strings.Contains(out, "OK") {
		s.T.Errorf("node %s: check put %s: %v: %s", w.Name, key, err, out)
		return key, val
	}
	s.CheckKeyEverywhere(key, val)
	return key, val
}

// CheckKeyEverywhere reads key through every node (linearizable reads).
func (s *Scenario) CheckKeyEverywhere(key, val string) {
	s.T.Helper()
	for _, n := range s.Info.Nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := s.Etcdctl(ctx, []string{n.Endpoint()}, "get", key, "--print-value-only")
		cancel()
		if err != nil || out != val {
			s.T.Errorf("node %s: check get %s: got %q (err %v), want %q", n.Name, key, out, err, val)
		}
	}
}

// cloudInitFinished extracts N from cloud-init's "finished at ... Up N seconds".
func cloudInitFinished(lines []string) string {
	for _, l := range lines {
		if i := strings.Index(l, "finished at"); i >= 0 {
			if j := strings.Index(l[i:], "Up "); j >= 0 {
				if f := strings.Fields(l[i+j+3:]); len(f) > 0 {
					return f[0]
				}
			}
		}
	}
	return "?"
}
