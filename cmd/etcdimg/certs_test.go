package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pki"
)

// testCluster makes a PKI for one node m1 at ip and an output folder whose
// cluster.json points at it, with the given client and peer URLs.
func testCluster(t *testing.T, ip, client, peer string) (dir, pkiDir string) {
	t.Helper()
	root := t.TempDir()
	dir, pkiDir = filepath.Join(root, "out"), filepath.Join(root, "pki")
	if _, err := pki.Ensure(pki.Config{Dir: pkiDir, Cluster: "certs", Nodes: []pki.Node{{Name: "m1", IPs: []net.IP{net.ParseIP(ip)}}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &outdir.Cluster{Name: "certs", TLS: true, Version: "3.6.16", Runtime: "systemd", UID: 1501, GID: 1501, PKIDir: pkiDir,
		Nodes:   []outdir.Node{{Name: "m1", FQDN: "m1", IP: ip, ClientURLs: []string{client}, PeerURLs: []string{peer}, InstanceID: "etcdimg-certs-m1"}},
		Etcdctl: &outdir.Etcdctl{CACert: filepath.Join(pkiDir, "ca.crt"), Cert: filepath.Join(pkiDir, "admin.crt"), Key: filepath.Join(pkiDir, "admin.key")}}
	if err := outdir.Write(dir, c); err != nil {
		t.Fatal(err)
	}
	return dir, pkiDir
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e strings.Builder
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestCertsCheckThresholdAndJSON pins the clock: fresh certificates are fine
// today, and 340 days on every leaf is within the 30-day threshold (exit 1)
// while the CA is not.
func TestCertsCheckThresholdAndJSON(t *testing.T) {
	dir, pkiDir := testCluster(t, "192.0.2.10", "https://192.0.2.10:2379", "https://192.0.2.10:2380")
	defer func(f func() time.Time) { certsNow = f }(certsNow)
	certsNow = time.Now
	if code, out, errs := runCLI("certs", "check", dir); code != 0 || !strings.Contains(out, "nodes/m1/server.crt") {
		t.Fatalf("fresh PKI: exit %d\n%s%s", code, out, errs)
	}
	certsNow = func() time.Time { return time.Now().Add(340 * 24 * time.Hour) }
	code, out, errs := runCLI("certs", "check", "--pki-dir", pkiDir, "-o", "json")
	if code != 1 || !strings.Contains(errs, "within 30 days") {
		t.Fatalf("340 days on: exit %d, want 1\n%s%s", code, out, errs)
	}
	var res struct {
		Certificates []pki.CertInfo `json:"certificates"`
		Attention    int            `json:"needAttention"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if res.Attention != 4 || len(res.Certificates) != 5 {
		t.Errorf("attention %d of %d certificates, want 4 of 5 (every leaf, not the CA)", res.Attention, len(res.Certificates))
	}
	for _, c := range res.Certificates {
		if want := map[bool]string{true: pki.StateOK, false: pki.StateExpiring}[c.IsCA]; c.State != want || (!c.IsCA && c.DaysLeft != 24) {
			t.Errorf("%s: %s, %d days left", c.File, c.State, c.DaysLeft)
		}
	}
	if code, _, _ := runCLI("certs", "check", "--pki-dir", pkiDir, "--threshold", "20"); code != 0 {
		t.Errorf("threshold 20 at 24 days left: exit %d, want 0", code)
	}
	// renew at that time: everything fine again, keys kept
	key, _ := os.ReadFile(filepath.Join(pkiDir, "nodes", "m1", "peer.key"))
	code, out, errs = runCLI("certs", "renew", dir)
	if code != 0 || strings.Count(out, "renewed ") != 4 || !strings.Contains(out, "keys were kept") {
		t.Fatalf("renew: exit %d\n%s%s", code, out, errs)
	}
	if k, _ := os.ReadFile(filepath.Join(pkiDir, "nodes", "m1", "peer.key")); string(k) != string(key) {
		t.Error("renew replaced a key without --new-keys")
	}
	if code, out, errs := runCLI("certs", "check", dir); code != 0 {
		t.Errorf("after renew: exit %d\n%s%s", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"certs"}, 2},
		{[]string{"certs", "frob"}, 2},
		{[]string{"certs", "check"}, 2},
		{[]string{"certs", "check", dir, dir}, 2},
		{[]string{"certs", "check", "--pki-dir", pkiDir, "--live"}, 2},
		{[]string{"certs", "check", dir, "-o", "yaml"}, 2},
		{[]string{"certs", "renew", dir, "--ca", "--node", "m1"}, 2},
		{[]string{"certs", "check", filepath.Join(dir, "missing")}, 1},
		{[]string{"certs", "renew", dir, "--node", "m9"}, 1},
	} {
		if code, out, errs := runCLI(tc.args...); code != tc.code {
			t.Errorf("etcdimg %s: exit %d, want %d\n%s%s", strings.Join(tc.args, " "), code, tc.code, out, errs)
		}
	}
}

// TestCertsCheckLiveAgainstEtcd runs a real etcd member with the PKI's
// certificates and reads what its client and peer ports serve. etcd reads
// its certificate files again for every new connection, so after `certs
// renew` the same process serves the renewed certificate: the live check
// tells the file it serves apart from an older one.
func TestCertsCheckLiveAgainstEtcd(t *testing.T) {
	bins := etcdtest.Extract(t, etcdtest.Release(t))
	ip := "127.0.0.41"
	client := fmt.Sprintf("https://%s:%d", ip, etcdtest.FreePort(t, ip))
	peer := fmt.Sprintf("https://%s:%d", ip, etcdtest.FreePort(t, ip))
	dir, pkiDir := testCluster(t, ip, client, peer)
	f := func(rel string) string { return filepath.Join(pkiDir, filepath.FromSlash(rel)) }
	etcdtest.Start(t, bins.Etcd, []string{
		"--name", "m1", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m1=" + peer, "--initial-cluster-state", "new",
		"--client-cert-auth", "--trusted-ca-file", f("ca.crt"), "--cert-file", f("nodes/m1/server.crt"), "--key-file", f("nodes/m1/server.key"),
		"--peer-client-cert-auth", "--peer-trusted-ca-file", f("ca.crt"), "--peer-cert-file", f("nodes/m1/peer.crt"), "--peer-key-file", f("nodes/m1/peer.key"),
	})
	admin := []string{"--cacert", f("ca.crt"), "--cert", f("admin.crt"), "--key", f("admin.key")}
	if err := etcdtest.WaitHealthy(t, bins.Etcdctl, []string{client}, admin, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	defer func(f func() time.Time) { certsNow = f }(certsNow)
	certsNow = time.Now

	live := func() map[string]liveResult {
		t.Helper()
		code, out, errs := runCLI("certs", "check", dir, "--live", "-o", "json")
		var res struct {
			Live []liveResult `json:"live"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("json: %v\n%s%s", err, out, errs)
		}
		m := map[string]liveResult{}
		for _, l := range res.Live {
			m[l.Port] = l
		}
		if code != 0 {
			t.Logf("exit %d: %s", code, errs)
		}
		return m
	}
	got := live()
	if l := got["client"]; l.File != "nodes/m1/server.crt" || l.Verify != "ok" || l.Served == nil || l.Served.State != pki.StateOK {
		t.Errorf("client port: %+v", l)
	}
	if l := got["peer"]; l.File != "nodes/m1/peer.crt" || l.Verify != "ok" {
		t.Errorf("peer port: %+v", l)
	}
	oldSerial := got["client"].Served.Serial

	// Renewed files: etcd serves them on the next handshake, no restart.
	if code, out, errs := runCLI("certs", "renew", dir, "--node", "m1"); code != 0 {
		t.Fatalf("renew: exit %d\n%s%s", code, out, errs)
	}
	got = live()
	if l := got["client"]; l.File != "nodes/m1/server.crt" || l.Served == nil || l.Served.Serial == oldSerial || l.Verify != "ok" {
		t.Errorf("client port after renew: %+v (old serial %s)", l, oldSerial)
	}

	// A certificate the PKI no longer has: put the old one back for etcd
	// only, by pointing the check at a PKI copy renewed once more.
	copyDir := filepath.Join(t.TempDir(), "pki2")
	if err := os.CopyFS(copyDir, os.DirFS(pkiDir)); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI("certs", "renew", "--pki-dir", copyDir, "--node", "m1"); code != 0 {
		t.Fatal(errs)
	}
	c, _ := outdir.Read(dir)
	c.PKIDir = copyDir
	if err := outdir.Write(dir, c); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("certs", "check", dir, "--live")
	if code != 1 || !strings.Contains(out, "NOT IN PKI") {
		t.Errorf("served certificate missing from the PKI: exit %d, want 1\n%s%s", code, out, errs)
	}

	// An endpoint that is down is reported, and fails the check.
	c.Nodes[0].PeerURLs = []string{fmt.Sprintf("https://%s:%d", ip, etcdtest.FreePort(t, ip))}
	c.PKIDir = pkiDir
	if err := outdir.Write(dir, c); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI("certs", "check", dir, "--live", "--timeout", "2s")
	if code != 1 || !strings.Contains(out, "unreachable") {
		t.Errorf("down endpoint: exit %d, want 1\n%s%s", code, out, errs)
	}
}
