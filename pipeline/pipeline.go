// Package build runs the whole pipeline: Jsonnet → spec → validated model →
// PKI → per-node render → files and seed ISOs on disk.
//
// Everything that can fail because of the spec or the inputs (evaluation,
// validation, the release tarball, the output folder, the PKI) is checked
// before the first output file is written, so a bad spec changes nothing on
// disk. Each output file is written to a temporary name and renamed into
// place, so an interrupted build never leaves a half-written file.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/images"
	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/internal/inputfile"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/membership"
	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pki"
	"github.com/etcdimg/etcdimg/release"
	"github.com/etcdimg/etcdimg/report"
	"github.com/etcdimg/etcdimg/spec"
)

// MarkerFile marks a folder etcdimg created; see outdir.
const MarkerFile = outdir.MarkerFile

// Seed formats.
const (
	FormatISO  = outdir.FormatISO
	FormatVFAT = outdir.FormatVFAT
)

// ErrSpec wraps every failure caused by the spec or its inputs (exit 1).
var ErrSpec = errors.New("spec error")

// Loaded is an evaluated and validated spec.
type Loaded struct {
	SpecPath string
	Cluster  *model.Cluster
	Report   report.Report
}

// Load evaluates, decodes and validates the spec at path. A nil error with a
// fatal report means the spec is wrong; the report says where.
func Load(path string, jopts jsonnet.Options) (*Loaded, error) {
	out, err := jsonnet.EvaluateFile(path, jopts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpec, err)
	}
	s, r := spec.Decode(out)
	l := &Loaded{SpecPath: path, Report: r}
	if s == nil {
		return l, nil
	}
	// Validate even after decode errors so the operator sees every problem
	// at once; only findings about a field that failed to decode are dropped,
	// since they would restate the decode error.
	m, vr := model.Validate(s)
	for _, e := range vr.Entries {
		if !underDecodeError(e.Path, r) {
			l.Report.Entries = append(l.Report.Entries, e)
		}
	}
	l.Report.Sort()
	if !l.Report.IsFatal() {
		l.Cluster = m
	}
	return l, nil
}

func underDecodeError(path string, r report.Report) bool {
	for _, e := range r.Entries {
		if e.Path != "" && (path == e.Path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[")) {
			return true
		}
	}
	return false
}

// Options configure Build.
type Options struct {
	Spec    string
	Jsonnet jsonnet.Options
	OutDir  string
	// Nodes limits the build to these node names; empty means all.
	Nodes []string
	// Replace gives each node of Nodes a replacement seed: a new
	// instance-id, and a first boot that removes the dead member of that
	// name and joins anew with an empty data dir.
	Replace bool
	// Force allows writing into an existing folder etcdimg did not create.
	Force bool
	// Release overrides the spec's etcd.release path/url with a local
	// tarball; its sha256 must still equal the spec's.
	Release string
	// RestoreFrom is an etcd snapshot every node's first boot restores
	// (a new cluster with the snapshot's keys); see prepareRestore.
	RestoreFrom string
	// PKIDir defaults to <cluster>-pki beside OutDir.
	PKIDir string
	// CacheDir holds downloaded releases; defaults to the user cache.
	CacheDir string
	// Epoch is every timestamp in the ISOs (SOURCE_DATE_EPOCH).
	Epoch time.Time
	// NoISO writes only the cloud-init files.
	NoISO bool
	// Format of the seed images: FormatISO (default) or FormatVFAT, for
	// hypervisors that attach a disk rather than a CD.
	Format string
	// Parallel bounds concurrent node builds; 0 means GOMAXPROCS.
	Parallel int
	// OnStart, when set, is told how many nodes will be built, once the
	// spec has passed every check and before the first node is written.
	OnStart func(nodes int)
	// OnNode, when set, is called (from one goroutine at a time) as each
	// node finishes, for progress display.
	OnNode func(NodeResult)
	// LockTimeout bounds the wait for another build using the same PKI or
	// output folder (0: pki.DefaultLockTimeout); OnWait is told, once per
	// folder, that the build waits for it.
	LockTimeout time.Duration
	OnWait      func(folder string)
	// Now and Rand feed the PKI; nil means the real clock and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// NodeResult describes one node's outputs.
type NodeResult struct {
	Name     string
	Dir      string // folder with user-data, meta-data, network-config
	ISO      string // the seed image (an ISO, or a FAT image with FormatVFAT); empty with NoISO
	ISOSize  int64
	Format   string
	Duration time.Duration
}

// Result is what a build produced.
type Result struct {
	Report  report.Report
	Cluster *model.Cluster
	Nodes   []NodeResult
	PKIDir  string
	// PKIEvents says what the PKI step did (issued, reused, reissued and
	// why); warnings among them are also in Report.
	PKIEvents []pki.Event
	Release   *release.Release
	// Kubeadm is the ClusterConfiguration etcd.external snippet written
	// to KubeadmFile, in the output folder as the operator named it
	// (kubeadm.enabled with TLS on).
	Kubeadm     []byte
	KubeadmFile string
}

// Build runs the pipeline. It returns a Result with a fatal report (and a
// nil error) when the spec or an input is wrong; errors are reserved for
// failures that are not the spec's fault (disk full, permissions).
func Build(ctx context.Context, o Options) (*Result, error) {
	l, err := Load(o.Spec, o.Jsonnet)
	if err != nil {
		return nil, err
	}
	res := &Result{Report: l.Report, Cluster: l.Cluster}
	if l.Report.IsFatal() {
		return res, nil
	}
	c := l.Cluster
	nodes, ok := selectNodes(c, o.Nodes, &res.Report)
	if !ok {
		return res, nil
	}
	// Usage-shaped mistakes first, before the tarball is hashed.
	if err := checkOptions(o); err != nil {
		res.Report.Errorf("", "%v", err)
		return res, nil
	}
	if err := outdir.CheckDir(o.OutDir, o.Force); err != nil {
		res.Report.Errorf("", "%v", err)
		return res, nil
	}
	// The folders the operator named may be links; everything below them is
	// etcdimg's and is written only through real folders (durable), so the
	// roots are resolved once, here.
	outDir := resolve(o.OutDir)
	tls := c.TLS.Enabled && !o.NoISO
	var pcfg pki.Config
	if tls {
		res.PKIDir = o.PKIDir
		if res.PKIDir == "" {
			res.PKIDir = filepath.Join(filepath.Dir(filepath.Clean(o.OutDir)), c.Name+"-pki")
		}
		if err := checkApart(outDir, resolve(res.PKIDir)); err != nil {
			res.Report.Errorf("", "%v", err)
			return res, nil
		}
		pcfg = pkiConfig(c, res.PKIDir, filepath.Dir(o.Spec), o)
		// The external CA's files: regular files of PEM size, reported at
		// their fields (a FIFO would hang the PKI step, /dev/zero fill memory).
		for _, f := range []struct{ field, path string }{{"tls.ca.cert", pcfg.CA.CertFile}, {"tls.ca.key", pcfg.CA.KeyFile}} {
			if f.path == "" {
				continue
			}
			if err := inputfile.Stat(f.path, inputfile.MaxPEM); err != nil {
				res.Report.Errorf(f.field, "%v", err)
			}
		}
		if res.Report.IsFatal() {
			return res, nil
		}
		// A dry run finds every PKI problem (a broken CA, a linked
		// nodes/<node>) before anything is written.
		if _, err := pki.Plan(pcfg); err != nil {
			res.Report.Errorf("tls", "%v", err)
			return res, nil
		}
	}
	if err := checkOutDir(outDir, nodes, o); err != nil {
		res.Report.Errorf("", "%v", err)
		return res, nil
	}
	// Which seed each node gets (bootstrap, join, replace) comes from the
	// recorded membership beside the PKI; read and checked here, written
	// below once the PKI is locked.
	pkiDir := o.PKIDir
	if pkiDir == "" {
		pkiDir = filepath.Join(filepath.Dir(filepath.Clean(o.OutDir)), c.Name+"-pki")
	}
	// The snapshot is checked (and becomes the new cluster's token) before
	// the membership, which must not record another cluster already.
	if o.RestoreFrom != "" {
		if err := prepareRestore(c, o.RestoreFrom); err != nil {
			res.Report.Errorf("--restore-from", "%v", err)
			return res, nil
		}
	}
	state, ok := nextMembership(c, nodes, pkiDir, o, &res.Report)
	if !ok {
		return res, nil
	}
	// Last of the checks, as the slowest (it hashes the tarball, or
	// downloads it into the cache).
	rel := release.Release{}
	if !o.NoISO {
		r, rerr := openRelease(ctx, c, o, filepath.Dir(o.Spec))
		if rerr != nil {
			res.Report.Errorf(rerr.path, "%v", rerr.err)
			return res, nil
		}
		rel = *r
		res.Release = r
	}

	var certs map[string]generator.NodePKI
	var admin *pki.CertKey
	if tls {
		// Held until every seed is written: another build on this PKI must
		// not replace the CA the seeds of this one carry.
		lock, err := pki.Lock(res.PKIDir, o.LockTimeout, func() {
			if o.OnWait != nil {
				o.OnWait(res.PKIDir)
			}
		})
		if err != nil {
			res.Report.Errorf("tls", "%v", err)
			return res, nil
		}
		defer lock.Unlock()
		p, perr := lock.Ensure(pcfg)
		if perr != nil {
			res.Report.Errorf("tls", "%v", perr)
			return res, nil
		}
		res.PKIEvents = p.Events
		for _, ev := range p.Events {
			if ev.Kind == pki.EventWarning {
				res.Report.Warnf("tls", "%s", pkiWarning(res.PKIDir, ev))
			}
		}
		certs = nodePKI(p)
		admin = &p.Admin
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	unlockOut, err := durable.Lock(outDir, lockTimeout(o), func() {
		if o.OnWait != nil {
			o.OnWait(o.OutDir)
		}
	})
	if err != nil {
		return nil, err
	}
	defer unlockOut()
	// The membership is recorded before any seed that relies on it exists.
	// A --no-iso build only shows what a build would write.
	if !o.NoISO {
		if err := membership.Write(membership.Path(pkiDir, outDir, c.TLS.Enabled), state); err != nil {
			return nil, err
		}
	}
	if err := outdir.WriteMarker(outDir); err != nil {
		return nil, err
	}
	// A killed build leaves temporary files (a seed's is 13-22 MB); this
	// folder is etcdimg's (it has the marker), so its leftovers go now.
	for _, d := range append([]string{outDir}, nodeDirs(outDir, nodes)...) {
		if _, err := durable.RemoveStale(d); err != nil {
			return nil, err
		}
	}
	outName := o.OutDir // as the operator named it, for messages
	o.OutDir = outDir
	if o.OnStart != nil {
		o.OnStart(len(nodes))
	}
	genRel := generator.ReleaseFor(c)
	nfs := make([]generator.NodeFiles, len(nodes))
	for i, n := range nodes {
		if nfs[i], err = generator.RenderNode(c, n, genRel, certs[n.Name]); err != nil {
			return nil, err
		}
	}
	// cluster.json lists every node, built this time (--node) or not, with
	// the instance-id its seed from this spec and PKI carries.
	iids := map[string]string{}
	for _, nf := range nfs {
		iids[nf.Node.Name] = nf.InstanceID
	}
	for _, n := range c.Nodes {
		if _, ok := iids[n.Name]; ok {
			continue
		}
		nf, err := generator.RenderNode(c, n, genRel, certs[n.Name])
		if err != nil {
			return nil, err
		}
		iids[n.Name] = nf.InstanceID
	}
	if err := WriteAllNodeFiles(o.OutDir, nfs); err != nil {
		return nil, err
	}
	results, err := buildNodes(ctx, c, nodes, nfs, genRel, rel.Path, certs, o)
	if err != nil {
		return nil, err
	}
	res.Nodes = results
	if err := writeClusterJSON(c, o.OutDir, res, admin, iids); err != nil {
		return nil, err
	}
	if c.Kubeadm != nil && tls {
		if res.Kubeadm, err = generator.KubeadmConfig(c); err != nil {
			return nil, err
		}
		if err := durable.WriteFile(filepath.Join(o.OutDir, outdir.KubeadmFile), res.Kubeadm, 0o644); err != nil {
			return nil, err
		}
		res.KubeadmFile = filepath.Join(outName, outdir.KubeadmFile)
	}
	return res, nil
}

// SeedMode is the mode of a seed image: one that carries private keys
// (TLS) is readable by its owner only, whatever the umask; see the README
// for how libvirt and VirtualBox still read it.
func SeedMode(hasKeys bool) os.FileMode {
	if hasKeys {
		return 0o600
	}
	return 0o644
}

// CheckFormat refuses a seed format other than iso and vfat.
func CheckFormat(format string) error {
	if format != "" && format != FormatISO && format != FormatVFAT {
		return fmt.Errorf("unknown seed format %q: use %s or %s", format, FormatISO, FormatVFAT)
	}
	return nil
}

// CheckEpoch says whether a seed of format can record t (SOURCE_DATE_EPOCH).
func CheckEpoch(t time.Time, format string) error {
	check := images.CheckModTime
	if format == FormatVFAT {
		check = images.CheckVFATModTime
	}
	if err := check(t); err != nil {
		return fmt.Errorf("%d %s", t.Unix(), strings.TrimPrefix(err.Error(), "images: mod time "))
	}
	return nil
}

// checkOptions finds the mistakes in the options themselves (the CLI
// reports them as usage errors before calling Build).
func checkOptions(o Options) error {
	if err := CheckFormat(o.Format); err != nil {
		return err
	}
	if o.NoISO {
		return nil
	}
	if err := CheckEpoch(o.Epoch, o.Format); err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH: %v", err)
	}
	return nil
}

func lockTimeout(o Options) time.Duration {
	if o.LockTimeout == 0 {
		return pki.DefaultLockTimeout
	}
	return o.LockTimeout
}

// resolve follows links in a folder the operator named, if it exists.
func resolve(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// checkApart refuses a PKI folder inside the output folder or the other way
// round: the output folder is what gets copied to hypervisor hosts and
// shared, and the CA key must never travel with the seeds.
func checkApart(out, pkiDir string) error {
	inside := func(a, b string) bool {
		rel, err := filepath.Rel(b, a)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	switch {
	case inside(pkiDir, out):
		return fmt.Errorf("--pki-dir %s is inside the output folder %s: the CA key would sit among the seeds; keep the PKI outside it (the default is <cluster>-pki beside it)", pkiDir, out)
	case inside(out, pkiDir):
		return fmt.Errorf("the output folder %s is inside the PKI folder %s; choose an output folder outside it", out, pkiDir)
	}
	return nil
}

// checkOutDir finds what would stop the writes into the output folder before
// anything is written: a folder that cannot be created or written, and a
// link where etcdimg writes (out/<node>, a seed, cluster.json).
func checkOutDir(dir string, nodes []model.Node, o Options) error {
	// The nearest existing folder must be writable: the output folder, or
	// the one it will be created in.
	existing := dir
	for {
		fi, err := os.Stat(existing)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("output folder: %s is not a folder", existing)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("output folder: %v", err)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	if err := unix.Access(existing, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("output folder: cannot write into %s: %v", existing, err)
	}
	names := []string{outdir.MarkerFile, outdir.ClusterFile, outdir.EtcdctlFile, outdir.KubeadmFile}
	for _, n := range nodes {
		names = append(names, n.Name+".iso", n.Name+".img")
	}
	for _, name := range names {
		if fi, err := os.Lstat(filepath.Join(dir, name)); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s: %w", filepath.Join(dir, name), durable.ErrSymlink)
		}
	}
	for _, d := range nodeDirs(dir, nodes) {
		if err := durable.CheckFolder(d); err != nil {
			return err
		}
		for _, f := range []string{"user-data", "meta-data", "network-config"} {
			if fi, err := os.Lstat(filepath.Join(d, f)); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				return fmt.Errorf("%s: %w", filepath.Join(d, f), durable.ErrSymlink)
			}
		}
	}
	return nil
}

func nodeDirs(out string, nodes []model.Node) []string {
	dirs := make([]string, len(nodes))
	for i, n := range nodes {
		dirs[i] = filepath.Join(out, n.Name)
	}
	return dirs
}

// pkiWarning is one readable line for a PKI warning: the file's path (in
// the PKI folder unless absolute, as for an external CA's key) and what is
// wrong with it.
func pkiWarning(dir string, ev pki.Event) string {
	f := ev.File
	if !filepath.IsAbs(f) {
		f = filepath.Join(dir, filepath.FromSlash(f))
	}
	return f + ": " + ev.Detail
}

// nextMembership reads the recorded membership (beside the PKI, or in the
// output folder without TLS), works out this build's and sets it on c, so
// every node gets its bootstrap, join or replace seed. Nothing is written.
func nextMembership(c *model.Cluster, nodes []model.Node, pkiDir string, o Options, r *report.Report) (*membership.File, bool) {
	var replace []string
	if o.Replace {
		if len(o.Nodes) == 0 {
			r.Errorf("", "--replace needs --node NAME: the member(s) to replace")
			return nil, false
		}
		replace = o.Nodes
	}
	path := membership.Path(pkiDir, o.OutDir, c.TLS.Enabled)
	prev, err := membership.Read(path)
	if err != nil {
		r.Errorf("", "membership: %v", err)
		return nil, false
	}
	next, err := membership.Next(prev, c, replace)
	if errors.Is(err, membership.ErrRestore) {
		r.Errorf("--restore-from", "%s", restoreOverRecord(c, prev, path, pkiDir))
		return nil, false
	}
	if errors.Is(err, membership.ErrRestoreMissing) {
		r.Errorf("--restore-from", "%s records cluster %q restored from the snapshot with sha256 %s: build its seeds with --restore-from that snapshot (its bootstrap seeds restore it; join and replace seeds do not carry it)",
			path, prev.Cluster, prev.Restore.SHA256)
		return nil, false
	}
	if err != nil {
		r.Errorf("nodes", "%v", err)
		return nil, false
	}
	if c.Membership, err = next.Model(); err != nil {
		r.Errorf("", "%s: %v", path, err)
		return nil, false
	}
	for i, n := range c.Nodes {
		if !slices.ContainsFunc(nodes, func(m model.Node) bool { return m.Name == n.Name }) || c.IsBootstrap(n) {
			continue
		}
		if _, ok := c.Etcd.Runtime.(*model.SystemdRuntime); !ok {
			kind, _ := c.SeedKind(n)
			r.Errorf(fmt.Sprintf("nodes[%d]", i), "%s gets a %s seed (the cluster is running, see %s), and join and replace seeds support etcd.runtime %q only, not %q",
				n.Name, kind, path, (&model.SystemdRuntime{}).Name(), c.Etcd.Runtime.Name())
		}
	}
	return next, !r.IsFatal()
}

func selectNodes(c *model.Cluster, names []string, r *report.Report) ([]model.Node, bool) {
	if len(names) == 0 {
		return c.Nodes, true
	}
	var out []model.Node
	for _, n := range c.Nodes {
		if slices.Contains(names, n.Name) {
			out = append(out, n)
		}
	}
	for _, name := range names {
		if _, ok := c.Node(name); !ok {
			known := make([]string, len(c.Nodes))
			for i, n := range c.Nodes {
				known[i] = n.Name
			}
			r.Errorf("nodes", "--node %q is not in the spec; nodes are %s", name, strings.Join(known, ", "))
		}
	}
	return out, !r.IsFatal()
}

type pathError struct {
	path string
	err  error
}

func openRelease(ctx context.Context, c *model.Cluster, o Options, specDir string) (*release.Release, *pathError) {
	e := c.Etcd
	// Which releases passed the layout check is remembered beside the
	// downloads; without a cache folder the check just runs every time.
	stamps := o.CacheDir
	if stamps == "" {
		if uc, err := os.UserCacheDir(); err == nil {
			stamps = filepath.Join(uc, "etcdimg", "releases")
		}
	}
	switch {
	case o.Release != "":
		r, err := release.OpenCached(o.Release, e.Version, e.Arch, e.Release.SHA256, stamps)
		if err != nil {
			return nil, &pathError{"etcd.release", fmt.Errorf("--etcd-release: %v", err)}
		}
		return r, nil
	case e.Release.URL != "":
		cache := o.CacheDir
		if cache == "" {
			uc, err := os.UserCacheDir()
			if err != nil {
				return nil, &pathError{"etcd.release.url", fmt.Errorf("no cache folder for downloads: %v", err)}
			}
			cache = filepath.Join(uc, "etcdimg", "releases")
		}
		r, err := release.Fetch(ctx, e.Release.URL, cache, e.Version, e.Arch, e.Release.SHA256)
		if err != nil {
			return nil, &pathError{"etcd.release.url", err}
		}
		return r, nil
	default:
		p := e.Release.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(specDir, p)
		}
		r, err := release.OpenCached(p, e.Version, e.Arch, e.Release.SHA256, stamps)
		if err != nil {
			return nil, &pathError{"etcd.release.path", err}
		}
		return r, nil
	}
}

func pkiConfig(c *model.Cluster, dir, specDir string, o Options) pki.Config {
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(specDir, p)
	}
	cfg := pki.Config{
		Dir:     dir,
		Cluster: c.Name,
		CA: pki.CAConfig{
			Algorithm: c.TLS.CA.Algorithm,
			CertFile:  rel(c.TLS.CA.Cert),
			KeyFile:   rel(c.TLS.CA.Key),
			Validity:  time.Duration(c.TLS.CA.ValidityDays) * 24 * time.Hour,
		},
		LeafAlgorithm: c.TLS.KeyAlgorithm,
		LeafValidity:  time.Duration(c.TLS.ValidityDays) * 24 * time.Hour,
		// kube-apiserver's client certificate stays in the PKI folder,
		// from where the operator copies it to the control plane.
		APIServerEtcdClient: c.Kubeadm != nil,
		Now:                 o.Now,
		Rand:                o.Rand,
	}
	for _, n := range c.Nodes {
		cfg.Nodes = append(cfg.Nodes, pki.Node{
			Name: n.Name, FQDN: fqdnOrEmpty(n), IPs: []net.IP{net.IP(n.IP.AsSlice())}, ExtraSANs: n.ExtraSANs,
		})
	}
	return cfg
}

func fqdnOrEmpty(n model.Node) string {
	if n.FQDN == n.Name {
		return ""
	}
	return n.FQDN
}

// nodePKI is each node's share of p: the files pki.NodeFiles lists.
func nodePKI(p *pki.PKI) map[string]generator.NodePKI {
	out := map[string]generator.NodePKI{}
	for name := range p.Nodes {
		files := generator.NodePKI{}
		for _, f := range pki.NodeFiles() {
			files[f.Name] = p.FileData(name, f)
		}
		out[name] = files
	}
	return out
}

func buildNodes(ctx context.Context, c *model.Cluster, nodes []model.Node, nfs []generator.NodeFiles, rel *release.Release, tarball string,
	certs map[string]generator.NodePKI, o Options) ([]NodeResult, error) {
	par := o.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	results := make([]NodeResult, len(nodes))
	errs := make([]error, len(nodes))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var progressMu sync.Mutex
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			start := time.Now()
			r, err := buildNode(c, n, nfs[i], rel, tarball, certs[n.Name], o)
			r.Duration = time.Since(start)
			results[i], errs[i] = r, err
			if err == nil && o.OnNode != nil {
				progressMu.Lock()
				o.OnNode(r)
				progressMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return results, nil
}

func buildNode(c *model.Cluster, n model.Node, nf generator.NodeFiles, rel *release.Release, tarball string, p generator.NodePKI, o Options) (NodeResult, error) {
	res := NodeResult{Name: n.Name, Dir: filepath.Join(o.OutDir, n.Name)}
	if o.NoISO {
		return res, nil
	}
	seed, err := generator.Seed(c, nf, rel, tarball, p)
	if err != nil {
		return res, err
	}
	files := make([]images.File, len(seed))
	for i, f := range seed {
		files[i] = images.File{Path: f.Path, Mode: f.Mode, Data: f.Data, SourcePath: f.SourcePath}
	}
	iopts := images.Options{VolumeID: "cidata", ModTime: o.Epoch, Publisher: "etcdimg", Application: "etcdimg seed for " + n.Name,
		FileMode: SeedMode(p != nil)}
	res.Format = o.Format
	if res.Format == "" {
		res.Format = FormatISO
	}
	write := images.WriteFile
	res.ISO = filepath.Join(o.OutDir, n.Name+".iso")
	if res.Format == FormatVFAT {
		// FAT keeps 11 upper-case characters of a label; NoCloud and
		// /dev/disk/by-label accept "cidata" as written.
		iopts.Publisher, iopts.Application = "", ""
		write = images.WriteVFAT
		res.ISO = filepath.Join(o.OutDir, n.Name+".img")
	}
	if err := write(res.ISO, files, iopts); err != nil {
		return res, fmt.Errorf("%s: %w", n.Name, err)
	}
	if st, err := os.Stat(res.ISO); err == nil {
		res.ISOSize = st.Size()
	}
	return res, nil
}

// WriteRendered is `render -o`: it writes the cloud-init files of nfs into
// outDir/<node>/ under the same rules as Build: a non-empty folder etcdimg
// did not create is refused unless forced, links where it writes are
// refused before anything is written, the folder is marked as etcdimg's
// and locked while written, and stale temporary files are removed.
func WriteRendered(outDir string, nfs []generator.NodeFiles, force bool) error {
	if err := outdir.CheckDir(outDir, force); err != nil {
		return err
	}
	dir := resolve(outDir)
	nodes := make([]model.Node, len(nfs))
	for i, nf := range nfs {
		nodes[i] = nf.Node
	}
	if err := checkOutDir(dir, nodes, Options{}); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := durable.Lock(dir, pki.DefaultLockTimeout, nil)
	if err != nil {
		return err
	}
	defer unlock()
	if err := outdir.WriteMarker(dir); err != nil {
		return err
	}
	for _, d := range append([]string{dir}, nodeDirs(dir, nodes)...) {
		if _, err := durable.RemoveStale(d); err != nil {
			return err
		}
	}
	return WriteAllNodeFiles(dir, nfs)
}

// WriteNodeFiles writes a node's cloud-init files into dir.
func WriteNodeFiles(dir string, nf generator.NodeFiles) error {
	if err := durable.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return durable.WriteBatch(nodeFiles(dir, nf))
}

// WriteAllNodeFiles writes every node's cloud-init files into
// outDir/<node>/ as one batch: with an fsync per file, 100 nodes' 300 files
// took most of a second; see durable.WriteBatch.
func WriteAllNodeFiles(outDir string, nfs []generator.NodeFiles) error {
	var files []durable.File
	for _, nf := range nfs {
		dir := filepath.Join(outDir, nf.Node.Name)
		// Mkdir, not MkdirAll: out/<node> that is a link is refused, never
		// followed (outDir itself exists and is resolved by the caller).
		if err := durable.Mkdir(dir, 0o755); err != nil {
			return err
		}
		files = append(files, nodeFiles(dir, nf)...)
	}
	return durable.WriteBatch(files)
}

func nodeFiles(dir string, nf generator.NodeFiles) []durable.File {
	return []durable.File{
		{Path: filepath.Join(dir, "user-data"), Data: nf.UserData, Mode: 0o644},
		{Path: filepath.Join(dir, "meta-data"), Data: nf.MetaData, Mode: 0o644},
		{Path: filepath.Join(dir, "network-config"), Data: nf.NetworkConfig, Mode: 0o644},
	}
}

func writeClusterJSON(c *model.Cluster, dir string, res *Result, admin *pki.CertKey, iids map[string]string) error {
	cj := &outdir.Cluster{Name: c.Name, TLS: c.TLS.Enabled, Version: c.Etcd.Version, Runtime: c.Etcd.Runtime.Name(),
		UID: c.Etcd.User.UID, GID: c.Etcd.User.GID}
	if c.Etcd.Arch != outdir.DefaultArch {
		cj.Arch = c.Etcd.Arch
	}
	built := map[string]NodeResult{}
	for _, r := range res.Nodes {
		built[r.Name] = r
	}
	for _, n := range c.Nodes {
		cn := outdir.Node{
			Name: n.Name, FQDN: n.FQDN, IP: n.IP.String(), MAC: n.MAC,
			ClientURLs: c.AdvertiseClientURLs(n), PeerURLs: []string{c.PeerURL(n)}, InstanceID: iids[n.Name],
		}
		// Seeds of nodes not built this time (--node) are listed when a
		// previous build left them.
		for _, f := range []struct {
			field *string
			ext   string
		}{{&cn.ISO, ".iso"}, {&cn.VFAT, ".img"}} {
			if r, ok := built[n.Name]; ok && r.ISO != "" && strings.HasSuffix(r.ISO, f.ext) {
				*f.field = filepath.Base(r.ISO)
			} else if _, err := os.Stat(filepath.Join(dir, n.Name+f.ext)); err == nil {
				*f.field = n.Name + f.ext
			}
		}
		cj.Nodes = append(cj.Nodes, cn)
	}
	if admin != nil && res.PKIDir != "" {
		abs, err := filepath.Abs(res.PKIDir)
		if err != nil {
			return err
		}
		cj.PKIDir = abs
		cj.Etcdctl = &outdir.Etcdctl{
			CACert: filepath.Join(abs, "ca.crt"), Cert: filepath.Join(abs, "admin.crt"), Key: filepath.Join(abs, "admin.key"),
		}
	}
	return outdir.Write(dir, cj)
}

// restoreOverRecord explains why a restore cannot use this PKI (or output)
// folder: it holds the record of a cluster whose members a restore would
// bootstrap anew, with seeds that clash with the recorded ones (join and
// replace seeds, instance-ids, --initial-cluster).
func restoreOverRecord(c *model.Cluster, prev *membership.File, path, pkiDir string) string {
	var names []string
	for _, e := range prev.Members {
		if !e.Removed {
			names = append(names, e.Name)
		}
	}
	what := "not restored from a snapshot"
	if prev.Restore != nil {
		what = "restored from another snapshot (sha256 " + prev.Restore.SHA256[:12] + "…)"
	}
	msg := fmt.Sprintf("%s records cluster %q (members %s; %s); a restore makes a new cluster that every node bootstraps from the snapshot, so it needs a folder with no record: ",
		path, prev.Cluster, strings.Join(names, ", "), what)
	// Removing the record is how any cluster starts over from scratch (see
	// the README's Day 2); it is offered only for a cluster that is gone.
	scratch := fmt.Sprintf("; or, once no member of that cluster runs any more, remove %s (as for any start from scratch) and build again", path)
	if !c.TLS.Enabled {
		return msg + "build into a new output folder (-o)" + scratch
	}
	msg += "build with a new --pki-dir (and a new -o)"
	if c.TLS.CA.Cert != "" {
		return msg + "; the spec's tls.ca keeps the CA your clients trust" + scratch
	}
	return msg + fmt.Sprintf("; to keep the CA your clients trust, set tls.ca.cert and tls.ca.key to %s and %s",
		filepath.Join(pkiDir, "ca.crt"), filepath.Join(pkiDir, "ca.key")) + scratch
}
