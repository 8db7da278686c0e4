package rollout_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/clustertest"
	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pki"
	"github.com/etcdimg/etcdimg/rollout"
)

// fixture is a real 3-member TLS cluster in which each member, like a VM,
// serves its own installed copy of its certificates (a node's
// /etc/etcd/pki), not the PKI folder's files: etcd re-reads its
// certificate files on every handshake, so only a copy shows whether a
// reseed really delivered the rebuilt seed's certificate. The fake
// hypervisor's reseed stops the member (SIGTERM, as systemd at a reboot),
// installs the node files from the PKI folder (what the rebuilt seed
// carries) and starts it again on its data dir.
type fixture struct {
	t  *testing.T
	cl *clustertest.Cluster
	// reseeded lists the nodes Reseed was called for, in order, and
	// leaders who led the cluster at that moment.
	reseeded, leaders []string
	// broken makes Reseed misbehave for a node: "down" leaves it stopped,
	// "stale" restarts it without installing the rebuilt certificates,
	// "noop" does nothing at all (a VM that ignored its reboot).
	broken map[string]string
}

var nodeFiles = []string{"server.crt", "server.key", "peer.crt", "peer.key"}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, cl: clustertest.Start(t, clustertest.Options{}), broken: map[string]string{}}
	// Move every member onto its installed copy: all stop, copy, all
	// start on their data dirs (a cluster restart).
	for _, m := range f.cl.Members {
		m.Proc.Stop(10 * time.Second)
	}
	for _, m := range f.cl.Members {
		inst := filepath.Join(t.TempDir(), "installed")
		if err := os.Mkdir(inst, 0o700); err != nil {
			t.Fatal(err)
		}
		for i, a := range m.Args {
			for _, nf := range nodeFiles {
				if a == filepath.Join(f.cl.PKIDir, "nodes", m.Name, nf) {
					m.Args[i] = filepath.Join(inst, nf)
				}
			}
		}
		f.install(m)
		m.Proc = etcdtest.Start(t, f.cl.Bins.Etcd, m.Args)
	}
	f.cl.WaitHealthy(60 * time.Second)
	// cluster.json names each node's seed, as a build writes it.
	f.setCluster(func(c *outdir.Cluster) {
		for i := range c.Nodes {
			c.Nodes[i].ISO = c.Nodes[i].Name + ".iso"
		}
	})
	return f
}

// install copies the node's files from the PKI folder to where the member
// reads them.
func (f *fixture) install(m *clustertest.Member) {
	f.t.Helper()
	for _, nf := range nodeFiles {
		b, err := os.ReadFile(filepath.Join(f.cl.PKIDir, "nodes", m.Name, nf))
		if err != nil {
			f.t.Fatal(err)
		}
		var dst string
		for _, a := range m.Args {
			if filepath.Base(a) == nf && strings.HasSuffix(filepath.Dir(a), "installed") {
				dst = a
			}
		}
		if dst == "" {
			f.t.Fatalf("%s: no installed %s in %v", m.Name, nf, m.Args)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) reseed(ctx context.Context, node string) error {
	f.reseeded = append(f.reseeded, node)
	f.leaders = append(f.leaders, f.status().Leader)
	m := f.cl.Member(node)
	if f.broken[node] == "noop" {
		return nil
	}
	if err := m.Proc.Stop(20 * time.Second); err != nil {
		return err
	}
	switch f.broken[node] {
	case "down":
		return nil
	case "stale":
	default:
		f.install(m)
	}
	m.Proc = etcdtest.Start(f.t, f.cl.Bins.Etcd, m.Args)
	return nil
}

func (f *fixture) options() rollout.Options {
	return rollout.Options{
		Dir:         f.cl.Dir,
		Reseed:      f.reseed,
		NodeTimeout: time.Minute,
		PollMax:     time.Second,
		Client:      etcdclient.Options{DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second},
		Log:         f.t.Logf,
	}
}

// renew reissues every node's leaves from the same CA, as `etcdimg certs
// renew` before a rebuild, and returns each node's new server certificate.
func (f *fixture) renew() map[string]*x509.Certificate {
	f.t.Helper()
	var nodes []string
	for _, m := range f.cl.Members {
		nodes = append(nodes, m.Name)
	}
	if _, err := pki.RenewLeaves(pki.RenewOptions{Dir: f.cl.PKIDir, Nodes: nodes}); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]*x509.Certificate{}
	for _, n := range nodes {
		out[n] = readCert(f.t, filepath.Join(f.cl.PKIDir, "nodes", n, "server.crt"))
	}
	return out
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// status is what etcdimg status sees now.
func (f *fixture) status() *etcdclient.Status {
	f.t.Helper()
	c, err := etcdclient.Open(f.cl.Dir, etcdclient.Options{DialTimeout: 2 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// served is the leaf each member serves on its client URL.
func (f *fixture) served(node string) *x509.Certificate {
	f.t.Helper()
	c, err := etcdclient.Open(f.cl.Dir, etcdclient.Options{DialTimeout: 2 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	defer c.Close()
	cert, verr, err := c.Handshake(context.Background(), f.cl.Member(node).ClientURL)
	if err != nil || verr != nil {
		f.t.Fatalf("%s: handshake: %v %v", node, err, verr)
	}
	return cert
}

// setCluster rewrites cluster.json through outdir, as a rebuild does.
func (f *fixture) setCluster(edit func(c *outdir.Cluster)) {
	f.t.Helper()
	c, err := outdir.Read(f.cl.Dir)
	if err != nil {
		f.t.Fatal(err)
	}
	edit(c)
	if err := outdir.Write(f.cl.Dir, c); err != nil {
		f.t.Fatal(err)
	}
}

func phases(res *rollout.Result, node string) []string {
	var out []string
	for _, s := range res.Steps {
		if s.Node == node {
			out = append(out, s.Phase)
		}
	}
	return out
}

func took(res *rollout.Result, node string) time.Duration {
	var d time.Duration
	for _, s := range res.Steps {
		if s.Node == node {
			d += s.Took
		}
	}
	return d
}

// TestRolloutDeliversRenewedCertificatesLeaderLast renews every leaf,
// delivers the three nodes and checks they were reseeded one by one in
// cluster.json's order with the leader last, each serving its renewed
// certificate afterwards; a re-run touches nothing; a node whose seed gets
// a new instance-id is the only one a later run delivers.
func TestRolloutDeliversRenewedCertificatesLeaderLast(t *testing.T) {
	f := newFixture(t)
	renewed := f.renew()
	for _, m := range f.cl.Members {
		if old := f.served(m.Name); old.Equal(renewed[m.Name]) {
			t.Fatalf("%s serves the renewed certificate before any reseed: the fixture proves nothing", m.Name)
		}
	}
	leader := f.status().Leader
	var want []string
	for _, m := range f.cl.Members {
		if m.Name != leader {
			want = append(want, m.Name)
		}
	}
	want = append(want, leader)

	start := time.Now()
	res, err := rollout.Run(context.Background(), f.options())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rollout of 3 members took %s", time.Since(start).Round(time.Millisecond))
	if !slices.Equal(f.reseeded, want) || !slices.Equal(res.Delivered, want) {
		t.Fatalf("reseeded %v, delivered %v; want %v (leader %s last)", f.reseeded, res.Delivered, want, leader)
	}
	// The leader handed leadership over before its own reseed: no node
	// was the leader when it went down.
	for i, n := range f.reseeded {
		if f.leaders[i] == n {
			t.Errorf("%s led the cluster when it was reseeded (leaders at each reseed: %v)", n, f.leaders)
		}
	}
	for _, n := range want {
		wantPhases := []string{"gate", "reseed", "down", "healthy", "voting", "version", "cert", "cluster"}
		if n == leader {
			wantPhases = []string{"gate", "handover", "reseed", "down", "healthy", "voting", "version", "cert", "cluster"}
		}
		if got := phases(res, n); !slices.Equal(got, wantPhases) {
			t.Errorf("%s: phases %v, want %v", n, got, wantPhases)
		}
		t.Logf("%s: delivered in %s", n, took(res, n).Round(time.Millisecond))
		if got := f.served(n); !got.Equal(renewed[n]) {
			t.Errorf("%s serves serial %x, want the renewed %x", n, got.SerialNumber, renewed[n].SerialNumber)
		}
	}
	if st := f.status(); !st.Healthy {
		t.Fatalf("cluster unhealthy after the rollout: %v", st.Problems)
	}
	rec, err := rollout.ReadRecord(f.cl.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range f.cl.Members {
		if d := rec.Nodes[m.Name]; d.InstanceID != "iid-"+m.Name || d.EtcdVersion != "3.6.16" {
			t.Errorf("record of %s: %+v", m.Name, d)
		}
	}

	// Re-run: nothing changed since, nothing is touched.
	f.reseeded = nil
	res, err = rollout.Run(context.Background(), f.options())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.reseeded) != 0 || len(res.Delivered) != 0 || !slices.Equal(res.Skipped, []string{"etcd01", "etcd02", "etcd03"}) {
		t.Fatalf("re-run: reseeded %v, result %+v; want every node skipped", f.reseeded, res)
	}

	// A rebuild that changes only etcd02 gives its seed a new instance-id.
	f.setCluster(func(c *outdir.Cluster) { c.Nodes[1].InstanceID = "iid-etcd02-2" })
	res, err = rollout.Run(context.Background(), f.options())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.reseeded, []string{"etcd02"}) || !slices.Equal(res.Skipped, []string{"etcd01", "etcd03"}) {
		t.Fatalf("after etcd02's rebuild: reseeded %v, skipped %v; want etcd02 alone", f.reseeded, res.Skipped)
	}

	// Explicit nodes are delivered whatever the record says; the output
	// folder named through a link works as the folder itself.
	f.reseeded = nil
	o := f.options()
	o.Nodes = []string{"etcd03", "etcd01"}
	o.Dir = filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(f.cl.Dir, o.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := rollout.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.reseeded, o.Nodes) {
		t.Fatalf("explicit nodes: reseeded %v, want %v", f.reseeded, o.Nodes)
	}
	o.Nodes = []string{"etcd09"}
	if _, err := rollout.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "etcd09 is not in") {
		t.Fatalf("unknown node: %v", err)
	}
}

// TestRolloutRefusesAndStops: a rollout refuses to start on a cluster with
// a member down or on seeds whose etcd version is a downgrade or skips a
// minor, and reseeds nothing; it stops at the first node that does not come
// back (down, or back with the old certificate), naming it and what it
// waited for, with the next node untouched; a re-run continues there.
func TestRolloutRefusesAndStops(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	f.cl.Kill("etcd02")
	_, err := rollout.Run(ctx, f.options())
	if err == nil || !strings.Contains(err.Error(), "etcd02") || !strings.Contains(err.Error(), "nothing was touched") {
		t.Fatalf("member down: %v; want a refusal naming etcd02", err)
	}
	t.Logf("member down: %v", err)
	if len(f.reseeded) != 0 {
		t.Fatalf("member down: reseeded %v", f.reseeded)
	}
	f.cl.Restart("etcd02")
	f.cl.WaitHealthy(60 * time.Second)

	for _, v := range []struct{ version, want string }{
		{"3.5.21", "is a downgrade"},
		{"3.8.0", "skips 3.7"},
	} {
		f.setCluster(func(c *outdir.Cluster) { c.Version = v.version })
		_, err := rollout.Run(ctx, f.options())
		if err == nil || !strings.Contains(err.Error(), v.want) || !strings.Contains(err.Error(), "etcd01, etcd02, etcd03: etcd 3.6.16 to "+v.version) {
			t.Fatalf("seeds with etcd %s: %v; want %q", v.version, err, v.want)
		}
		t.Logf("seeds with etcd %s: %v", v.version, err)
		if len(f.reseeded) != 0 {
			t.Fatalf("version refused: reseeded %v", f.reseeded)
		}
	}
	f.setCluster(func(c *outdir.Cluster) { c.Version = "3.6.16" })

	// The first node's reseed leaves it down.
	o := f.options()
	o.Nodes = []string{"etcd01", "etcd02", "etcd03"}
	o.NodeTimeout = 8 * time.Second
	f.broken["etcd01"] = "down"
	res, err := rollout.Run(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "etcd01 did not come back within 8s: waiting for the member to be healthy") {
		t.Fatalf("etcd01 left down: %v", err)
	}
	t.Logf("etcd01 left down: %v", err)
	if !slices.Equal(f.reseeded, []string{"etcd01"}) || !slices.Equal(res.Remaining, o.Nodes) || len(res.Delivered) != 0 {
		t.Fatalf("etcd01 left down: reseeded %v, result %+v", f.reseeded, res)
	}
	if rec, _ := rollout.ReadRecord(f.cl.Dir); len(rec.Nodes) != 0 {
		t.Fatalf("a node that did not come back was recorded: %+v", rec.Nodes)
	}
	// While etcd01 is down, a re-run refuses to start.
	f.reseeded = nil
	if _, err := rollout.Run(ctx, o); err == nil || !strings.Contains(err.Error(), "etcd01 (") {
		t.Fatalf("re-run with etcd01 down: %v", err)
	}
	if len(f.reseeded) != 0 {
		t.Fatalf("re-run with etcd01 down: reseeded %v", f.reseeded)
	}
	f.cl.Restart("etcd01")
	f.cl.WaitHealthy(60 * time.Second)

	// A reseed that did not reboot the node: it never goes down, so it
	// has not booted its new seed, however healthy it looks.
	f.broken["etcd03"] = "noop"
	f.reseeded = nil
	o.Nodes = []string{"etcd03", "etcd01"}
	if _, err := rollout.Run(ctx, o); err == nil || !strings.Contains(err.Error(), "etcd03 did not come back within 8s: waiting for the node to go down (reboot); last seen: etcd03 still answers, etcd not restarted") {
		t.Fatalf("etcd03 not rebooted: %v", err)
	}
	if !slices.Equal(f.reseeded, []string{"etcd03"}) {
		t.Fatalf("etcd03 not rebooted: reseeded %v", f.reseeded)
	}
	delete(f.broken, "etcd03")
	o.Nodes = []string{"etcd01", "etcd02", "etcd03"}

	// Renewed certificates, but etcd02's reseed restarts it on the old ones
	// (a seed that did not carry them): it is healthy, and not delivered.
	renewed := f.renew()
	delete(f.broken, "etcd01")
	f.broken["etcd02"] = "stale"
	f.reseeded = nil
	res, err = rollout.Run(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "etcd02 did not come back within 8s: waiting for the member to serve the rebuilt seed's server certificate") {
		t.Fatalf("etcd02 on stale certificates: %v", err)
	}
	t.Logf("etcd02 on stale certificates: %v", err)
	if !slices.Equal(f.reseeded, []string{"etcd01", "etcd02"}) || !slices.Equal(res.Delivered, []string{"etcd01"}) ||
		!slices.Equal(res.Remaining, []string{"etcd02", "etcd03"}) {
		t.Fatalf("stale: reseeded %v, result %+v", f.reseeded, res)
	}
	if f.served("etcd03").Equal(renewed["etcd03"]) {
		t.Fatal("etcd03 serves its renewed certificate though it was never reseeded")
	}

	// Fixed: the re-run (choosing by itself) skips etcd01, which the failed
	// run delivered, and delivers etcd02 and etcd03.
	delete(f.broken, "etcd02")
	f.reseeded = nil
	o.Nodes = nil
	res, err = rollout.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Skipped, []string{"etcd01"}) || len(res.Delivered) != 2 || !slices.Equal(f.reseeded, res.Delivered) {
		t.Fatalf("resume: skipped %v, delivered %v, reseeded %v", res.Skipped, res.Delivered, f.reseeded)
	}
	for _, m := range f.cl.Members {
		if !f.served(m.Name).Equal(renewed[m.Name]) {
			t.Errorf("%s does not serve its renewed certificate after the resumed rollout", m.Name)
		}
	}
}
