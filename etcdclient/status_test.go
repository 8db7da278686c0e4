package etcdclient_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/clustertest"
)

func open(t *testing.T, dir string) *etcdclient.Client {
	t.Helper()
	c, err := etcdclient.Open(dir, etcdclient.Options{DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func row(t *testing.T, st *etcdclient.Status, name string) etcdclient.MemberStatus {
	t.Helper()
	for _, m := range st.Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no row %s in %+v", name, st.Members)
	return etcdclient.MemberStatus{}
}

func certNotAfter(t *testing.T, path string) time.Time {
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
	return c.NotAfter
}

// TestStatusTLSLearnerAndMemberDown runs three real members over mutual
// TLS plus a learner, and checks every field status reports against what
// etcd and the PKI say; then one member is killed and must show as
// unreachable with the reason while the others stay healthy.
func TestStatusTLSLearnerAndMemberDown(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	cl.Put("k/", 50, 100)
	_, learnerID := cl.AddLearner("etcd04", true)
	c := open(t, cl.Dir)
	ctx := context.Background()

	// The learner needs a moment to start and receive the leader's data.
	var st *etcdclient.Status
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if st, err = c.Status(ctx); err != nil {
			t.Fatal(err)
		}
		// A new member publishes its client URLs through raft once it
		// runs, a moment after it answers.
		published := true
		for _, m := range st.Members {
			published = published && len(m.ClientURLs) > 0
		}
		if (st.Healthy && published) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !st.Healthy || len(st.Problems) != 0 {
		t.Fatalf("healthy cluster reported unhealthy: %v", st.Problems)
	}
	if len(st.Members) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(st.Members), st.Members)
	}
	leaders := 0
	for _, m := range st.Members {
		if !m.Member || !m.InSpec || !m.Reachable || !m.Healthy || m.Error != "" {
			t.Errorf("%s: %+v", m.Name, m)
		}
		if m.Leader {
			leaders++
			if st.Leader != m.Name || st.LeaderID != m.ID {
				t.Errorf("leader %s/%s, row %s/%s", st.Leader, st.LeaderID, m.Name, m.ID)
			}
		}
		if m.Version != "3.6.16" || m.Quota != etcdclient.DefaultQuota || m.DBSize <= 0 || m.DBSizeInUse <= 0 || m.DBSizeInUse > m.DBSize {
			t.Errorf("%s: version %q quota %d db %d in use %d", m.Name, m.Version, m.Quota, m.DBSize, m.DBSizeInUse)
		}
		if m.RaftTerm == 0 || m.RaftIndex == 0 {
			t.Errorf("%s: raft term %d index %d", m.Name, m.RaftTerm, m.RaftIndex)
		}
		mem := cl.Member(m.Name)
		if len(m.PeerURLs) != 1 || m.PeerURLs[0] != mem.PeerURL || len(m.ClientURLs) != 1 || m.ClientURLs[0] != mem.ClientURL || m.Endpoint != mem.ClientURL {
			t.Errorf("%s: urls peer %v client %v endpoint %s", m.Name, m.PeerURLs, m.ClientURLs, m.Endpoint)
		}
		// The expiry comes from the handshake; it must be the member's
		// server certificate and nothing else.
		want := certNotAfter(t, filepath.Join(cl.PKIDir, "nodes", m.Name, "server.crt"))
		if m.Cert == nil || !m.Cert.NotAfter.Equal(want) || m.Cert.Error != "" || !strings.Contains(m.Cert.Subject, m.Name) {
			t.Errorf("%s: cert %+v, want notAfter %v", m.Name, m.Cert, want)
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders", leaders)
	}
	l := row(t, st, "etcd04")
	if !l.Learner || l.ID != learnerID || l.Progress == nil || l.Progress.LeaderIndex == 0 || l.Progress.Percent <= 0 {
		t.Errorf("learner row: %+v progress %+v (id want %s)", l, l.Progress, learnerID)
	}
	for _, name := range []string{"etcd01", "etcd02", "etcd03"} {
		if m := row(t, st, name); m.Learner || m.Progress != nil {
			t.Errorf("%s shown as learner", name)
		}
	}
	if st.ClusterID == "" || len(st.Alarms) != 0 {
		t.Errorf("cluster id %q alarms %v", st.ClusterID, st.Alarms)
	}

	// One member down: its row says so and why; the others are healthy.
	cl.Kill("etcd02")
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Healthy {
		t.Fatal("cluster with a dead member reported healthy")
	}
	down := row(t, st, "etcd02")
	if down.Reachable || down.Healthy || !strings.Contains(down.Error, "unreachable") || !strings.Contains(down.Error, "connection refused") || down.ID == "" {
		t.Errorf("dead member row: %+v", down)
	}
	for _, name := range []string{"etcd01", "etcd03", "etcd04"} {
		if m := row(t, st, name); !m.Healthy {
			t.Errorf("%s unhealthy with one member down: %s", name, m.Error)
		}
	}
	if len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "etcd02") {
		t.Errorf("problems: %q", st.Problems)
	}
	t.Logf("status of 4 members, one down, took %v", time.Duration(st.Took))
}

// TestStatusNoQuorum: with two of three members down the last one is
// reachable but not healthy (a linearizable read needs a quorum), and the
// member list still shows every member from its local view.
func TestStatusNoQuorum(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := open(t, cl.Dir)
	cl.Kill("etcd01")
	cl.Kill("etcd02")
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Healthy || len(st.Members) != 3 {
		t.Fatalf("healthy=%v rows=%d", st.Healthy, len(st.Members))
	}
	m := row(t, st, "etcd03")
	if !m.Reachable || m.Healthy || m.Error == "" {
		t.Errorf("etcd03: %+v", m)
	}
	problems := strings.Join(st.Problems, "\n")
	if !strings.Contains(problems, "local view") || !strings.Contains(problems, "alarms unknown") {
		t.Errorf("problems do not say the member list is a local view and alarms are unknown: %q", st.Problems)
	}
	if took := time.Duration(st.Took); took > 15*time.Second {
		t.Errorf("status of a cluster without quorum took %v", took)
	}
}

// TestStatusPlainAndNOSPACE: a plain-http single member with a 1 MiB quota
// filled until etcd raises NOSPACE; status reports the quota, the alarm on
// the member, and unhealthy.
func TestStatusPlainAndNOSPACE(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Members: 1, Plain: true, ExtraArgs: []string{"--quota-backend-bytes=1048576"}})
	c := open(t, cl.Dir)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := row(t, st, "etcd01")
	if !st.Healthy || m.Cert != nil || m.Quota != 1<<20 {
		t.Fatalf("before: healthy=%v cert=%v quota=%d %v", st.Healthy, m.Cert, m.Quota, st.Problems)
	}
	val := strings.Repeat("v", 64<<10)
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("no NOSPACE after 100 puts of 64 KiB into a 1 MiB quota")
		}
		pctx, cancel := c.Ctx(ctx)
		_, err := c.Put(pctx, "fill", val)
		cancel()
		if err != nil {
			if !strings.Contains(err.Error(), "database space exceeded") {
				t.Fatal(err)
			}
			break
		}
	}
	st, err = c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m = row(t, st, "etcd01")
	if st.Healthy || m.Healthy || len(st.Alarms) != 1 || st.Alarms[0].Alarm != "NOSPACE" || st.Alarms[0].Member != "etcd01" || len(m.Alarms) != 1 {
		t.Errorf("after NOSPACE: healthy=%v member=%+v alarms=%+v", st.Healthy, m, st.Alarms)
	}
	if m.DBSize < 1<<20/2 {
		t.Errorf("db size %d after filling a 1 MiB quota", m.DBSize)
	}
}

// TestStatusCertExpiryNote: a member serving a certificate that expires
// within CertWarning gets a note (the cluster is still healthy).
func TestStatusCertExpiryNote(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Members: 1, LeafValidity: 10 * 24 * time.Hour})
	st, err := open(t, cl.Dir).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Healthy || len(st.Notes) != 1 || !strings.Contains(st.Notes[0], "etcd01: the served certificate expires ") || !regexp.MustCompile(`in (9|10) days: renew it$`).MatchString(st.Notes[0]) {
		t.Errorf("healthy %v notes %q problems %q", st.Healthy, st.Notes, st.Problems)
	}
}
