package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/pki"
)

// TestEtcdClusterWithIssuedCerts forms a real 3-member etcd cluster over
// mutual TLS, client and peer, with nothing but the files Ensure wrote, and
// checks who etcd lets in. Skipped unless ETCDIMG_RELEASE names a release
// tarball (scripts/etcd-release.sh builds one).
func TestEtcdClusterWithIssuedCerts(t *testing.T) {
	bins := etcdtest.Extract(t, etcdtest.Release(t))

	ips := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	var nodes []pki.Node
	for i, ip := range ips {
		name := fmt.Sprintf("m%d", i+1)
		// With --peer-client-cert-auth etcd checks the source address of a
		// peer connection against the peer certificate's IP SANs. On a VM
		// that is the node IP; here Linux picks 127.0.0.1 as the source for
		// every loopback destination (etcd cannot bind its dialer), so each
		// member really does connect from 127.0.0.1 as well, and the spec
		// says so, as it would list a second NIC.
		nodes = append(nodes, pki.Node{Name: name, FQDN: name + ".pki.test", IPs: []net.IP{net.ParseIP(ip), net.IPv4(127, 0, 0, 1)}})
	}
	// Real clock: etcd checks validity against it.
	cfg := pki.Config{Dir: filepath.Join(t.TempDir(), "pki"), Cluster: "pkitest", Nodes: nodes}
	if _, err := pki.Ensure(cfg); err != nil {
		t.Fatal(err)
	}
	f := func(rel string) string { return filepath.Join(cfg.Dir, filepath.FromSlash(rel)) }
	ca := f("ca.crt")

	tlsMin := tlsMinVersionFlag(t, bins.Etcd)
	type member struct{ name, client, peer string }
	var ms []member
	var initial, endpoints []string
	for i, ip := range ips {
		m := member{
			name:   nodes[i].Name,
			client: fmt.Sprintf("https://%s:%d", ip, etcdtest.FreePort(t, ip)),
			peer:   fmt.Sprintf("https://%s:%d", ip, etcdtest.FreePort(t, ip)),
		}
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peer)
		endpoints = append(endpoints, m.client)
	}
	var procs []*etcdtest.Proc
	for _, m := range ms {
		dataDir := t.TempDir()
		node := "nodes/" + m.name + "/"
		args := []string{
			"--name", m.name,
			"--data-dir", dataDir,
			"--initial-advertise-peer-urls", m.peer,
			"--listen-peer-urls", m.peer,
			"--listen-client-urls", m.client,
			"--advertise-client-urls", m.client,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", "pki-" + strconv.Itoa(os.Getpid()),
			"--initial-cluster-state", "new",
			"--heartbeat-interval", "100",
			"--election-timeout", "1000",
			"--client-cert-auth",
			"--trusted-ca-file", ca,
			"--cert-file", f(node + "server.crt"),
			"--key-file", f(node + "server.key"),
			"--peer-client-cert-auth",
			"--peer-trusted-ca-file", ca,
			"--peer-cert-file", f(node + "peer.crt"),
			"--peer-key-file", f(node + "peer.key"),
		}
		args = append(args, tlsMin...)
		procs = append(procs, etcdtest.Start(t, bins.Etcd, args))
	}

	admin := []string{"--cacert", ca, "--cert", f("admin.crt"), "--key", f("admin.key")}
	if err := etcdtest.WaitHealthy(t, bins.Etcdctl, endpoints, admin, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	ctl := func(endpoint string, auth []string, args ...string) (string, error) {
		all := append([]string{"--endpoints=" + endpoint, "--dial-timeout=3s", "--command-timeout=5s"}, auth...)
		return etcdtest.Etcdctl(t, bins.Etcdctl, append(all, args...)...)
	}

	out, err := ctl(endpoints[0], admin, "member", "list")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "started"); n != 3 {
		t.Errorf("member list shows %d started members:\n%s", n, out)
	}
	if _, err := ctl(endpoints[0], admin, "put", "/pki/probe", "via-m1"); err != nil {
		t.Fatal(err)
	}
	out, err = ctl(endpoints[2], admin, "get", "/pki/probe", "--print-value-only")
	if err != nil || strings.TrimSpace(out) != "via-m1" {
		t.Errorf("admin get via m3 = %q, %v", out, err)
	}

	// Each node's healthcheck-client works against its own member, dialled
	// by IP (the server certificate's IP SAN is what the client checks).
	for i, m := range ms {
		hc := []string{"--cacert", ca, "--cert", f("nodes/" + m.name + "/healthcheck-client.crt"), "--key", f("nodes/" + m.name + "/healthcheck-client.key")}
		if out, err := ctl(endpoints[i], hc, "endpoint", "health"); err != nil {
			t.Errorf("%s healthcheck-client: %v\n%s", m.name, err, out)
		}
	}

	// The peer port enforces the source-address check that makes the node
	// IPs in the peer certificate matter: m1's peer certificate (IP SANs
	// include the source, 127.0.0.1) gets in; a certificate of the same CA
	// whose only SAN is m1's other IP does not. (etcd skips the check for
	// certificates without any SAN, and falls back to DNS lookups for DNS
	// SANs, so the probe has exactly one IP SAN.)
	peerGet := func(cert, key string) error {
		return httpsGet(t, ms[1].peer+"/version", ca, cert, key)
	}
	if err := peerGet(f("nodes/m1/peer.crt"), f("nodes/m1/peer.key")); err != nil {
		t.Errorf("m1's peer certificate refused on m2's peer port: %v", err)
	}
	probeCrt, probeKey := signProbe(t, f("ca.crt"), f("ca.key"), net.ParseIP(ips[0]))
	if err := peerGet(probeCrt, probeKey); err == nil {
		t.Error("a peer certificate without the source IP was accepted on the peer port")
	}
	if log, _ := os.ReadFile(procs[1].LogPath); !regexp.MustCompile(`rejected connection on peer endpoint.*"ip-addresses":\["` + regexp.QuoteMeta(ips[0]) + `"\]`).Match(log) {
		t.Error("m2 did not log the source-address rejection of the probe")
	}

	// No client certificate: refused.
	if out, err := ctl(endpoints[0], []string{"--cacert", ca}, "get", "/pki/probe"); err == nil {
		t.Errorf("get without a client certificate succeeded:\n%s", out)
	} else {
		t.Logf("without a client certificate: %v", firstLine(err))
	}
	// A client certificate from another CA: refused.
	other := pki.Config{Dir: filepath.Join(t.TempDir(), "other"), Cluster: "intruder"}
	if _, err := pki.Ensure(other); err != nil {
		t.Fatal(err)
	}
	foreign := []string{"--cacert", ca, "--cert", filepath.Join(other.Dir, "admin.crt"), "--key", filepath.Join(other.Dir, "admin.key")}
	if out, err := ctl(endpoints[1], foreign, "get", "/pki/probe"); err == nil {
		t.Errorf("get with a certificate from another CA succeeded:\n%s", out)
	} else {
		t.Logf("with another CA's client certificate: %v", firstLine(err))
	}
	// And the client side checks the server too: trusting only the other CA
	// must fail even with a valid client certificate.
	wrongCA := []string{"--cacert", filepath.Join(other.Dir, "ca.crt"), "--cert", f("admin.crt"), "--key", f("admin.key")}
	if out, err := ctl(endpoints[1], wrongCA, "get", "/pki/probe"); err == nil {
		t.Errorf("get trusting another CA succeeded:\n%s", out)
	} else {
		t.Logf("trusting another CA: %v", firstLine(err))
	}
	// etcdctl only reports a timeout; etcd's log says why it refused.
	for _, w := range []struct {
		member int
		text   string
	}{
		{0, "tls: client didn't provide a certificate"},
		{1, "x509: certificate signed by unknown authority"},
		{1, "remote error: tls: bad certificate"},
	} {
		if log, _ := os.ReadFile(procs[w.member].LogPath); !strings.Contains(string(log), w.text) {
			t.Errorf("%s's log lacks %q", ms[w.member].name, w.text)
		}
	}
	// Still serving: the refusals were about certificates, not a dead member.
	if out, err := ctl(endpoints[1], admin, "get", "/pki/probe", "--print-value-only"); err != nil || strings.TrimSpace(out) != "via-m1" {
		t.Errorf("admin get via m2 after the refusals = %q, %v", out, err)
	}
}

// tlsMinVersionFlag pins TLS 1.2 as the floor on etcd 3.6+, where the flag
// exists and where a release default could otherwise drift.
func tlsMinVersionFlag(t *testing.T, etcd string) []string {
	b, err := exec.Command(etcd, "--version").CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("etcd --version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`etcd Version: (\d+)\.(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cannot read the etcd version from %q", out)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major > 3 || major == 3 && minor >= 6 {
		return []string{"--tls-min-version", "TLS1.2"}
	}
	return nil
}

// httpsGet does one mutual-TLS GET and fails unless it gets a 200.
func httpsGet(t *testing.T, url, caFile, certFile, keyFile string) error {
	t.Helper()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12,
		}},
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

// signProbe issues, outside the package under test, a client certificate
// whose only SAN is ip.
func signProbe(t *testing.T, caCrt, caKey string, ip net.IP) (crtFile, keyFile string) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(caCrt, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "probe"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{ip},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crtFile, keyFile = filepath.Join(dir, "probe.crt"), filepath.Join(dir, "probe.key")
	os.WriteFile(crtFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return crtFile, keyFile
}

func firstLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	return lines[len(lines)-1]
}
