// Package clustertest runs a real etcd cluster (the binaries of the release
// tarball, through internal/etcdtest) on loopback, with a PKI from package
// pki and an output folder whose cluster.json is written by package outdir,
// exactly the folder `etcdimg build` leaves. Tests of the commands that talk
// to a running cluster (status, snapshot, member remove) point at Dir as an
// operator points at the build's output folder.
//
// Each member listens on its own loopback address (127.0.0.x) and a free
// port. Linux sends every loopback connection from 127.0.0.1, and etcd
// checks a peer's source address against its peer certificate, so every
// node certificate carries 127.0.0.1 besides the member's own address, as
// pki's own etcd test does.
package clustertest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pki"
)

// Options describe the cluster to start.
type Options struct {
	Members int  // voting members at start; default 3
	Plain   bool // plain http, no TLS
	// Extra etcd flags for every member, e.g. --quota-backend-bytes.
	ExtraArgs []string
	// LeafValidity of the node and admin certificates (pki's default, a
	// year, when zero).
	LeafValidity time.Duration
}

// Cluster is a running cluster and its output folder.
type Cluster struct {
	t       testing.TB
	Name    string
	Dir     string // the output folder: cluster.json, etcdctl.env
	PKIDir  string
	Bins    etcdtest.Bins
	Members []*Member
	plain   bool
	valid   time.Duration
	token   string
	extra   []string
	pkiCfg  pki.Config
}

// Member is one etcd process.
type Member struct {
	Name      string
	IP        string
	ClientURL string
	PeerURL   string
	DataDir   string
	Args      []string
	Proc      *etcdtest.Proc
}

var seq atomic.Int32

// Start starts the cluster, waits until every member is healthy and
// writes Dir/cluster.json. Everything is torn down by t's cleanups.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Members == 0 {
		o.Members = 3
	}
	rel := etcdtest.Release(t)
	n := seq.Add(1)
	c := &Cluster{
		t: t, Name: fmt.Sprintf("ct%d", n), Dir: filepath.Join(t.TempDir(), "out"),
		Bins: etcdtest.Extract(t, rel), plain: o.Plain, extra: o.ExtraArgs, valid: o.LeafValidity,
		token: fmt.Sprintf("clustertest-%d-%d", os.Getpid(), n),
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var initial []string
	for i := range o.Members {
		m := c.newMember(fmt.Sprintf("etcd%02d", i+1))
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	c.ensurePKI()
	for _, m := range c.Members {
		m.Args = c.args(m, strings.Join(initial, ","), "new")
		m.Proc = etcdtest.Start(t, c.Bins.Etcd, m.Args)
	}
	c.WriteClusterJSON()
	c.WaitHealthy(90 * time.Second)
	return c
}

func (c *Cluster) scheme() string {
	if c.plain {
		return "http"
	}
	return "https"
}

func (c *Cluster) newMember(name string) *Member {
	// Addresses 127.0.0.10+ keep members apart in logs and URLs; ports come
	// from the kernel so parallel test packages do not collide.
	ip := fmt.Sprintf("127.0.0.%d", 10+len(c.Members)+1)
	return &Member{
		Name: name, IP: ip,
		ClientURL: fmt.Sprintf("%s://%s:%d", c.scheme(), ip, etcdtest.FreePort(c.t, ip)),
		PeerURL:   fmt.Sprintf("%s://%s:%d", c.scheme(), ip, etcdtest.FreePort(c.t, ip)),
		DataDir:   dataDir(c.t),
	}
}

// dataDir is an empty 0700 folder, as etcd wants its data dir.
func dataDir(t testing.TB) string {
	d := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// ensurePKI issues (or reuses) the CA, the admin certificate and one set
// of node certificates per member.
func (c *Cluster) ensurePKI() {
	if c.plain {
		return
	}
	if c.PKIDir == "" {
		c.PKIDir = filepath.Join(filepath.Dir(c.Dir), "pki")
	}
	c.pkiCfg = pki.Config{Dir: c.PKIDir, Cluster: c.Name, LeafValidity: c.valid}
	for _, m := range c.Members {
		c.pkiCfg.Nodes = append(c.pkiCfg.Nodes, pki.Node{Name: m.Name, IPs: []net.IP{net.ParseIP(m.IP), net.IPv4(127, 0, 0, 1)}})
	}
	if _, err := pki.Ensure(c.pkiCfg); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) pkiFile(rel string) string { return filepath.Join(c.PKIDir, filepath.FromSlash(rel)) }

func (c *Cluster) args(m *Member, initial, state string) []string {
	args := []string{
		"--name", m.Name,
		"--data-dir", m.DataDir,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--listen-peer-urls", m.PeerURL,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--initial-cluster", initial,
		"--initial-cluster-token", c.token,
		"--initial-cluster-state", state,
		"--heartbeat-interval", "100",
		"--election-timeout", "1000",
		"--log-level", "warn",
	}
	if !c.plain {
		node := "nodes/" + m.Name + "/"
		args = append(args,
			"--client-cert-auth", "--trusted-ca-file", c.pkiFile("ca.crt"),
			"--cert-file", c.pkiFile(node+"server.crt"), "--key-file", c.pkiFile(node+"server.key"),
			"--peer-client-cert-auth", "--peer-trusted-ca-file", c.pkiFile("ca.crt"),
			"--peer-cert-file", c.pkiFile(node+"peer.crt"), "--peer-key-file", c.pkiFile(node+"peer.key"),
		)
	}
	return append(args, c.extra...)
}

// WriteClusterJSON writes Dir/cluster.json and etcdctl.env for the current
// members, through outdir as the build does.
func (c *Cluster) WriteClusterJSON() {
	cj := &outdir.Cluster{Name: c.Name, TLS: !c.plain, Version: "3.6.16", Runtime: "systemd", UID: 1000, GID: 1000}
	for _, m := range c.Members {
		cj.Nodes = append(cj.Nodes, outdir.Node{
			Name: m.Name, IP: m.IP, ClientURLs: []string{m.ClientURL}, PeerURLs: []string{m.PeerURL},
			InstanceID: "iid-" + m.Name,
		})
	}
	if !c.plain {
		cj.PKIDir = c.PKIDir
		cj.Etcdctl = &outdir.Etcdctl{CACert: c.pkiFile("ca.crt"), Cert: c.pkiFile("admin.crt"), Key: c.pkiFile("admin.key")}
	}
	if err := outdir.Write(c.Dir, cj); err != nil {
		c.t.Fatal(err)
	}
}

// Auth are etcdctl's TLS flags for the admin certificate.
func (c *Cluster) Auth() []string {
	if c.plain {
		return nil
	}
	return []string{"--cacert=" + c.pkiFile("ca.crt"), "--cert=" + c.pkiFile("admin.crt"), "--key=" + c.pkiFile("admin.key")}
}

// Endpoints are the client URLs of the members whose process is running.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		if m.Running() {
			eps = append(eps, m.ClientURL)
		}
	}
	return eps
}

// Running says whether the member's process is alive.
func (m *Member) Running() bool {
	if m.Proc == nil {
		return false
	}
	select {
	case <-m.Proc.Done():
		return false
	default:
		return true
	}
}

// Member returns the member named name.
func (c *Cluster) Member(name string) *Member {
	for _, m := range c.Members {
		if m.Name == name {
			return m
		}
	}
	c.t.Fatalf("no member %s", name)
	return nil
}

// WaitHealthy waits until every running member is healthy.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	if err := etcdtest.WaitHealthy(c.t, c.Bins.Etcdctl, c.Endpoints(), c.Auth(), timeout); err != nil {
		c.t.Fatal(err)
	}
}

// Etcdctl runs the release's etcdctl against the running members with the
// admin certificate.
func (c *Cluster) Etcdctl(args ...string) string {
	c.t.Helper()
	all := append([]string{"--endpoints=" + strings.Join(c.Endpoints(), ","), "--dial-timeout=3s", "--command-timeout=20s"}, c.Auth()...)
	out, err := etcdtest.Etcdctl(c.t, c.Bins.Etcdctl, append(all, args...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// Kill kills a member's process (a crashed VM).
func (c *Cluster) Kill(name string) {
	m := c.Member(name)
	m.Proc.Kill()
}

// Restart starts a stopped member again on its data dir.
func (c *Cluster) Restart(name string) {
	m := c.Member(name)
	m.Proc = etcdtest.Start(c.t, c.Bins.Etcd, m.Args)
}

// etcdctl prints the id with %16x: one that starts with a zero nibble is
// padded with blanks ("Member  acbc99f0e7b7826 added").
var addedID = regexp.MustCompile(`Member +([0-9a-f]+) added`)

// AddLearner adds a member as a learner through etcdctl, as a join seed
// would, and, with start, starts it with --initial-cluster-state existing.
// The node is added to the PKI and to cluster.json. It returns the member
// and its id in hex.
func (c *Cluster) AddLearner(name string, start bool) (*Member, string) {
	c.t.Helper()
	m := c.newMember(name)
	// etcd refuses a reconfiguration ("unhealthy cluster") until every
	// member has been connected for five seconds: right after Start, wait.
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; {
		all := append([]string{"--endpoints=" + strings.Join(c.Endpoints(), ","), "--dial-timeout=3s", "--command-timeout=20s"}, c.Auth()...)
		o, err := etcdtest.Etcdctl(c.t, c.Bins.Etcdctl, append(all, "member", "add", name, "--learner", "--peer-urls="+m.PeerURL)...)
		if err == nil {
			out = o
			break
		}
		if !strings.Contains(o, "unhealthy cluster") || time.Now().After(deadline) {
			c.t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	id := addedID.FindStringSubmatch(out)
	if id == nil {
		c.t.Fatalf("member add: no id in %q", out)
	}
	var initial string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "ETCD_INITIAL_CLUSTER="); ok {
			initial = strings.Trim(v, `"`)
		}
	}
	if initial == "" {
		c.t.Fatalf("member add: no ETCD_INITIAL_CLUSTER in %q", out)
	}
	c.Members = append(c.Members, m)
	c.ensurePKI()
	m.Args = c.args(m, initial, "existing")
	if start {
		m.Proc = etcdtest.Start(c.t, c.Bins.Etcd, m.Args)
	}
	c.WriteClusterJSON()
	return m, id[1]
}

// Put writes n keys prefix0..prefix<n-1> of size bytes each, in
// transactions of up to 100 puts and 1 MiB (etcd refuses requests over
// 1.5 MiB), so a few thousand keys take seconds, not minutes.
func (c *Cluster) Put(prefix string, n, size int) {
	c.t.Helper()
	val := strings.Repeat("x", size)
	batch := max(1, min(100, (1<<20)/max(size, 1)))
	for i := 0; i < n; i += batch {
		var ops []string
		for j := i; j < min(n, i+batch); j++ {
			ops = append(ops, "put "+prefix+strconv.Itoa(j)+" "+val)
		}
		c.txn(strings.Join(ops, "\n"))
	}
}

// Delete deletes the keys under prefix.
func (c *Cluster) Delete(prefix string) {
	c.t.Helper()
	c.Etcdctl("del", "--prefix", prefix)
}

func (c *Cluster) txn(ops string) {
	c.t.Helper()
	f := filepath.Join(c.t.TempDir(), "txn")
	// etcdctl txn reads compares, success ops and failure ops from stdin,
	// each block ended by an empty line (no compares: success runs).
	if err := os.WriteFile(f, []byte("\n"+ops+"\n\n\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	all := append([]string{"--endpoints=" + strings.Join(c.Endpoints(), ","), "--dial-timeout=3s", "--command-timeout=20s"}, c.Auth()...)
	sh := fmt.Sprintf("exec %s %s txn < %s", c.Bins.Etcdctl, strings.Join(all, " "), f)
	out, err := etcdtest.Etcdctl(c.t, "/bin/sh", "-c", sh)
	if err != nil || !strings.HasPrefix(out, "SUCCESS") {
		c.t.Fatalf("txn: %v %s", err, out)
	}
}
