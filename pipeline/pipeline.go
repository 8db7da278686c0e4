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

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/images"
	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/jsonnet"
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
	// Force allows writing into an existing folder etcdimg did not create.
	Force bool
	// Release overrides the spec's etcd.release path/url with a local
	// tarball; its sha256 must still equal the spec's.
	Release string
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
	if o.Format != "" && o.Format != FormatISO && o.Format != FormatVFAT {
		res.Report.Errorf("", "unknown seed format %q: use %s or %s", o.Format, FormatISO, FormatVFAT)
		return res, nil
	}
	if err := outdir.CheckDir(o.OutDir, o.Force); err != nil {
		res.Report.Errorf("", "%v", err)
		return res, nil
	}

	var certs map[string]generator.NodePKI
	var admin *pki.CertKey
	if c.TLS.Enabled && !o.NoISO {
		res.PKIDir = o.PKIDir
		if res.PKIDir == "" {
			res.PKIDir = filepath.Join(filepath.Dir(filepath.Clean(o.OutDir)), c.Name+"-pki")
		}
		p, perr := pki.Ensure(pkiConfig(c, res.PKIDir, filepath.Dir(o.Spec), o))
		if perr != nil {
			res.Report.Errorf("tls", "%v", perr)
			return res, nil
		}
		res.PKIEvents = p.Events
		for _, ev := range p.Events {
			if ev.Kind == pki.EventWarning {
				res.Report.Warnf("tls", "%s", ev)
			}
		}
		certs = nodePKI(p)
		admin = &p.Admin
	}

	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	if err := outdir.WriteMarker(o.OutDir); err != nil {
		return nil, err
	}
	if o.OnStart != nil {
		o.OnStart(len(nodes))
	}
	genRel := generator.ReleaseFor(c)
	nfs := make([]generator.NodeFiles, len(nodes))
	for i, n := range nodes {
		if nfs[i], err = generator.RenderNode(c, n, genRel); err != nil {
			return nil, err
		}
	}
	if err := WriteAllNodeFiles(o.OutDir, nfs); err != nil {
		return nil, err
	}
	results, err := buildNodes(ctx, c, nodes, nfs, genRel, rel.Path, certs, o)
	if err != nil {
		return nil, err
	}
	res.Nodes = results
	if err := writeClusterJSON(c, o.OutDir, res, admin); err != nil {
		return nil, err
	}
	return res, nil
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
		r, err := release.OpenCached(o.Release, e.Version, e.Release.SHA256, stamps)
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
		r, err := release.Fetch(ctx, e.Release.URL, cache, e.Version, e.Release.SHA256)
		if err != nil {
			return nil, &pathError{"etcd.release.url", err}
		}
		return r, nil
	default:
		p := e.Release.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(specDir, p)
		}
		r, err := release.OpenCached(p, e.Version, e.Release.SHA256, stamps)
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
		Now:           o.Now,
		Rand:          o.Rand,
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
	iopts := images.Options{VolumeID: "cidata", ModTime: o.Epoch, Publisher: "etcdimg", Application: "etcdimg seed for " + n.Name}
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

// WriteNodeFiles writes a node's cloud-init files into dir.
func WriteNodeFiles(dir string, nf generator.NodeFiles) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
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
		if err := os.MkdirAll(dir, 0o755); err != nil {
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

func writeClusterJSON(c *model.Cluster, dir string, res *Result, admin *pki.CertKey) error {
	cj := &outdir.Cluster{Name: c.Name, TLS: c.TLS.Enabled, Version: c.Etcd.Version, Runtime: c.Etcd.Runtime.Name(),
		UID: c.Etcd.User.UID, GID: c.Etcd.User.GID}
	built := map[string]NodeResult{}
	for _, r := range res.Nodes {
		built[r.Name] = r
	}
	for _, n := range c.Nodes {
		cn := outdir.Node{
			Name: n.Name, FQDN: n.FQDN, IP: n.IP.String(), MAC: n.MAC,
			ClientURLs: c.AdvertiseClientURLs(n), PeerURLs: []string{c.PeerURL(n)}, InstanceID: c.InstanceID(n),
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
