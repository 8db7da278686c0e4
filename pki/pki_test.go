package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEnsureFreshIssuesEverything(t *testing.T) {
	cfg := testConfig(t)
	planned, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Dir); !os.IsNotExist(err) {
		t.Fatalf("Plan created %s (stat err %v)", cfg.Dir, err)
	}
	p := mustEnsure(t, cfg)
	if !reflect.DeepEqual(planned, p.Events) {
		t.Errorf("Plan events differ from Ensure events:\nplan:   %v\nensure: %v", planned, p.Events)
	}
	if got, want := kinds(p.Events, EventIssued), allCertFiles("k8s01", "k8s02", "k8s03"); !slices.Equal(got, want) {
		t.Errorf("issued %v, want %v", got, want)
	}
	if len(p.Events) != len(allCertFiles("k8s01", "k8s02", "k8s03")) {
		t.Errorf("unexpected extra events: %v", p.Events)
	}
	if !slices.IsSortedFunc(p.Events, func(a, b Event) int { return strings.Compare(a.File, b.File) }) {
		t.Errorf("events not sorted: %v", p.Events)
	}

	ca := p.CACert
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA basic constraints: IsCA=%v valid=%v maxPathLen=%d zero=%v", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; ca.KeyUsage != want {
		t.Errorf("CA key usage %s, want %s", kuString(ca.KeyUsage), kuString(want))
	}
	if ca.Subject.CommonName != "etcdimg lab CA" || !slices.Equal(ca.Subject.Organization, []string{"lab"}) {
		t.Errorf("CA subject %v", ca.Subject)
	}
	if ca.SignatureAlgorithm != x509.ECDSAWithSHA256 || len(ca.SubjectKeyId) == 0 {
		t.Errorf("CA sigalg %v skid %x", ca.SignatureAlgorithm, ca.SubjectKeyId)
	}
	if !ca.NotBefore.Equal(testNow.Add(-time.Hour)) || !ca.NotAfter.Equal(testNow.Add(10*365*24*time.Hour)) {
		t.Errorf("CA validity %v..%v", ca.NotBefore, ca.NotAfter)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA not self-signed: %v", err)
	}

	type want struct {
		ck    CertKey
		cn    string
		ekus  []x509.ExtKeyUsage
		dns   []string
		ips   []string
		usage x509.ExtKeyUsage
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	n1, n3 := p.Nodes["k8s01"], p.Nodes["k8s03"]
	cases := map[string]want{
		"admin":         {p.Admin, "etcdimg-admin", client, nil, nil, x509.ExtKeyUsageClientAuth},
		"k8s01 server":  {n1[ProfileServer], "k8s01", both, []string{"k8s01", "k8s01.virtual.local", "localhost", "etcd.virtual.local"}, []string{"192.0.2.11", "127.0.0.1", "::1", "198.51.100.10"}, x509.ExtKeyUsageServerAuth},
		"k8s01 peer":    {n1[ProfilePeer], "k8s01", both, []string{"k8s01", "k8s01.virtual.local"}, []string{"192.0.2.11"}, x509.ExtKeyUsageServerAuth},
		"k8s01 hc":      {n1[ProfileHealthcheckClient], "k8s01-healthcheck-client", client, nil, nil, x509.ExtKeyUsageClientAuth},
		"k8s03 server":  {n3[ProfileServer], "k8s03", both, []string{"k8s03", "k8s03.virtual.local", "localhost"}, []string{"192.0.2.13", "2001:db8::13", "127.0.0.1", "::1"}, x509.ExtKeyUsageServerAuth},
		"k8s03 peer":    {n3[ProfilePeer], "k8s03", both, []string{"k8s03", "k8s03.virtual.local"}, []string{"192.0.2.13", "2001:db8::13"}, x509.ExtKeyUsageServerAuth},
		"k8s03 peer ca": {n3[ProfilePeer], "k8s03", both, []string{"k8s03", "k8s03.virtual.local"}, []string{"192.0.2.13", "2001:db8::13"}, x509.ExtKeyUsageClientAuth},
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for name, w := range cases {
		c := w.ck.Cert
		if c == nil {
			t.Fatalf("%s: no certificate", name)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{w.usage}}); err != nil {
			t.Errorf("%s: verify: %v", name, err)
		}
		if c.Subject.CommonName != w.cn || !slices.Equal(c.Subject.Organization, []string{"lab"}) {
			t.Errorf("%s: subject %v", name, c.Subject)
		}
		if !slices.Equal(c.ExtKeyUsage, w.ekus) {
			t.Errorf("%s: EKU %v, want %v", name, c.ExtKeyUsage, w.ekus)
		}
		if !slices.Equal(c.DNSNames, w.dns) {
			t.Errorf("%s: DNS SANs %q, want %q", name, c.DNSNames, w.dns)
		}
		var ips []string
		for _, ip := range c.IPAddresses {
			ips = append(ips, ip.String())
		}
		if !slices.Equal(ips, w.ips) {
			t.Errorf("%s: IP SANs %q, want %q", name, ips, w.ips)
		}
		if c.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Errorf("%s: key usage %s", name, kuString(c.KeyUsage))
		}
		if !c.BasicConstraintsValid || c.IsCA {
			t.Errorf("%s: basic constraints valid=%v CA=%v", name, c.BasicConstraintsValid, c.IsCA)
		}
		if len(c.SubjectKeyId) != 20 || !bytes.Equal(c.AuthorityKeyId, ca.SubjectKeyId) {
			t.Errorf("%s: skid %x akid %x (ca skid %x)", name, c.SubjectKeyId, c.AuthorityKeyId, ca.SubjectKeyId)
		}
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 127 || c.SerialNumber.BitLen() < 100 {
			t.Errorf("%s: serial %v (%d bits)", name, c.SerialNumber, c.SerialNumber.BitLen())
		}
		if !c.NotBefore.Equal(testNow.Add(-time.Hour)) || !c.NotAfter.Equal(testNow.Add(365*24*time.Hour)) {
			t.Errorf("%s: validity %v..%v", name, c.NotBefore, c.NotAfter)
		}
		if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
			t.Errorf("%s: key %T sigalg %v", name, c.PublicKey, c.SignatureAlgorithm)
		}
		key, err := parseKey(w.ck.KeyPEM)
		if err != nil || !keyMatches(c, key) {
			t.Errorf("%s: key PEM does not match (err %v)", name, err)
		}
		if !strings.HasPrefix(string(w.ck.KeyPEM), "-----BEGIN PRIVATE KEY-----") {
			t.Errorf("%s: key is not PKCS#8", name)
		}
	}
	// etcd's peer listener refuses a serverAuth-only chain for the client
	// side of a peer connection; make sure the server cert cannot be
	// mistaken for a client-only one either.
	if _, err := n1[ProfileHealthcheckClient].Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("healthcheck-client verifies for serverAuth")
	}
	serials := map[string]bool{ca.SerialNumber.String(): true}
	for _, w := range cases {
		serials[w.ck.Cert.SerialNumber.String()] = true
	}
	if len(serials) != 7 { // CA + 6 distinct leaves in cases
		t.Errorf("serials not unique: %d distinct", len(serials))
	}
	// What is on disk is what was returned.
	files := snapshot(t, cfg.Dir)
	if files["nodes/k8s01/server.crt"] != string(n1[ProfileServer].CertPEM) || files["nodes/k8s01/server.key"] != string(n1[ProfileServer].KeyPEM) || files["ca.crt"] != string(p.CACertPEM) {
		t.Error("returned PEM differs from the files")
	}
	wantFiles := []string{"admin.crt", "admin.key", "ca.crt", "ca.key"}
	for _, n := range []string{"k8s01", "k8s02", "k8s03"} {
		for _, f := range []string{"healthcheck-client", "peer", "server"} {
			wantFiles = append(wantFiles, "nodes/"+n+"/"+f+".crt", "nodes/"+n+"/"+f+".key")
		}
	}
	var got []string
	for f := range files {
		got = append(got, f)
	}
	slices.Sort(got)
	slices.Sort(wantFiles)
	if !slices.Equal(got, wantFiles) {
		t.Errorf("files %v\nwant %v", got, wantFiles)
	}
}

func TestEnsureTwiceReusesEverything(t *testing.T) {
	for _, alg := range []string{AlgECDSAP256, AlgRSA2048} {
		t.Run(alg, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.CA.Algorithm, cfg.LeafAlgorithm = alg, alg
			first := mustEnsure(t, cfg)
			before := snapshot(t, cfg.Dir)
			inodes := map[string]uint64{}
			for f := range before {
				fi, _ := os.Stat(filepath.Join(cfg.Dir, f))
				inodes[f] = fi.Sys().(*syscall.Stat_t).Ino
			}
			// A day later, fresh randomness: nothing may change.
			cfg.Now = at(testNow.Add(24 * time.Hour))
			cfg.Rand = newDetRand(99)
			planned, err := Plan(cfg)
			if err != nil {
				t.Fatal(err)
			}
			second := mustEnsure(t, cfg)
			if !reflect.DeepEqual(planned, second.Events) {
				t.Errorf("Plan %v\nEnsure %v", planned, second.Events)
			}
			if got, want := kinds(second.Events, EventReused), allCertFiles("k8s01", "k8s02", "k8s03"); !slices.Equal(got, want) || len(second.Events) != len(want) {
				t.Errorf("events %v, want only reused %v", second.Events, want)
			}
			after := snapshot(t, cfg.Dir)
			if !reflect.DeepEqual(before, after) {
				t.Error("files changed on the second run")
			}
			for f := range after {
				fi, _ := os.Stat(filepath.Join(cfg.Dir, f))
				if fi.Sys().(*syscall.Stat_t).Ino != inodes[f] {
					t.Errorf("%s was rewritten", f)
				}
			}
			if !bytes.Equal(first.Nodes["k8s02"][ProfilePeer].CertPEM, second.Nodes["k8s02"][ProfilePeer].CertPEM) ||
				!bytes.Equal(first.Admin.KeyPEM, second.Admin.KeyPEM) || !bytes.Equal(first.CACertPEM, second.CACertPEM) {
				t.Error("returned PEM differs between runs")
			}
			if second.Nodes["k8s03"][ProfileHealthcheckClient].Cert == nil || second.CACert == nil {
				t.Error("reused certificates not returned parsed")
			}
		})
	}
}

// With an injected Rand, ECDSA issuance is reproducible (see the package
// doc); RSA is not, because Go 1.26 ignores custom readers in rsa.GenerateKey.
func TestECDSAIssuanceIsDeterministic(t *testing.T) {
	a, b := testConfig(t), testConfig(t)
	mustEnsure(t, a)
	mustEnsure(t, b)
	if !reflect.DeepEqual(snapshot(t, a.Dir), snapshot(t, b.Dir)) {
		t.Error("same Now and Rand gave different PKIs")
	}
	c := testConfig(t)
	c.Rand = newDetRand(2)
	mustEnsure(t, c)
	if snapshot(t, a.Dir)["ca.key"] == snapshot(t, c.Dir)["ca.key"] {
		t.Error("different Rand gave the same CA key")
	}
}

func TestNodeIPChangeReissuesOnlyThatNode(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)

	cfg.Nodes[1].IPs = []net.IP{net.ParseIP("192.0.2.22")}
	p := mustEnsure(t, cfg)
	after := snapshot(t, cfg.Dir)

	reissued := kinds(p.Events, EventReissued)
	if want := []string{"nodes/k8s02/peer.crt", "nodes/k8s02/server.crt"}; !slices.Equal(reissued, want) {
		t.Fatalf("reissued %v, want %v (events %v)", reissued, want, p.Events)
	}
	for _, f := range reissued {
		e, _ := findEvent(p.Events, EventReissued, f)
		if !strings.Contains(e.Detail, "added IP:192.0.2.22") || !strings.Contains(e.Detail, "removed IP:192.0.2.12") {
			t.Errorf("%s: detail %q does not say why", f, e.Detail)
		}
	}
	if len(kinds(p.Events, EventReused)) != len(allCertFiles("k8s01", "k8s02", "k8s03"))-2 {
		t.Errorf("events %v", p.Events)
	}
	for f, content := range before {
		changed := after[f] != content
		if want := f == "nodes/k8s02/peer.crt" || f == "nodes/k8s02/server.crt"; changed != want {
			t.Errorf("%s changed=%v, want %v", f, changed, want)
		}
	}
	// The key is kept across a re-issue.
	if !strings.Contains(after["nodes/k8s02/server.key"], "PRIVATE KEY") || after["nodes/k8s02/server.key"] != before["nodes/k8s02/server.key"] {
		t.Error("server key was replaced")
	}
	ips := p.Nodes["k8s02"][ProfilePeer].Cert.IPAddresses
	if len(ips) != 1 || !ips[0].Equal(net.ParseIP("192.0.2.22")) {
		t.Errorf("new peer IPs %v", ips)
	}
	// And it is stable afterwards.
	p = mustEnsure(t, cfg)
	if len(kinds(p.Events, EventReused)) != len(p.Events) {
		t.Errorf("third run not all reused: %v", p.Events)
	}
}

func TestExtraSANChangeReissuesOnlyServer(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	cfg.Nodes[0].ExtraSANs = []string{"etcd.virtual.local"}
	p := mustEnsure(t, cfg)
	if got := kinds(p.Events, EventReissued); !slices.Equal(got, []string{"nodes/k8s01/server.crt"}) {
		t.Fatalf("reissued %v", got)
	}
	e, _ := findEvent(p.Events, EventReissued, "nodes/k8s01/server.crt")
	if !strings.Contains(e.Detail, "removed IP:198.51.100.10") || strings.Contains(e.Detail, "added") {
		t.Errorf("detail %q", e.Detail)
	}
	// Case and order of names do not matter.
	cfg.Nodes[0].ExtraSANs = []string{"ETCD.virtual.local"}
	cfg.Nodes[0].FQDN = "K8S01.virtual.local"
	p = mustEnsure(t, cfg)
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Errorf("case change reissued %v", got)
	}
}

func TestAddNodeIssuesOnlyItsCerts(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	cfg.Nodes = append(cfg.Nodes, Node{Name: "k8s04", IPs: []net.IP{net.ParseIP("192.0.2.14")}})
	p := mustEnsure(t, cfg)
	if got, want := kinds(p.Events, EventIssued), leafFiles("k8s04")[1:]; !slices.Equal(got, want) {
		t.Errorf("issued %v, want %v", got, want)
	}
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Errorf("reissued %v", got)
	}
	after := snapshot(t, cfg.Dir)
	for f, c := range before {
		if after[f] != c {
			t.Errorf("%s changed", f)
		}
	}
	if len(after) != len(before)+6 {
		t.Errorf("%d files, want %d", len(after), len(before)+6)
	}
	if dns := p.Nodes["k8s04"][ProfilePeer].Cert.DNSNames; !slices.Equal(dns, []string{"k8s04"}) {
		t.Errorf("node without FQDN: peer DNS %v", dns)
	}
}

func TestRemovedNodeWarnsAndKeepsFiles(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	cfg.Nodes = cfg.Nodes[:2]
	planned, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := mustEnsure(t, cfg)
	if !reflect.DeepEqual(planned, p.Events) {
		t.Errorf("Plan %v\nEnsure %v", planned, p.Events)
	}
	e, ok := findEvent(p.Events, EventWarning, "nodes/k8s03")
	if !ok || !strings.Contains(e.Detail, "not in the spec") {
		t.Fatalf("no removal warning: %v", p.Events)
	}
	if len(kinds(p.Events, EventWarning)) != 1 || len(kinds(p.Events, EventReused)) != len(allCertFiles("k8s01", "k8s02")) {
		t.Errorf("events %v", p.Events)
	}
	if !reflect.DeepEqual(before, snapshot(t, cfg.Dir)) {
		t.Error("files changed")
	}
	if _, ok := p.Nodes["k8s03"]; ok {
		t.Error("removed node returned")
	}
}

func TestLeafRenewalWindow(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	// 336 days in: 29 days left of the 365.
	cfg.Now = at(testNow.Add(336 * 24 * time.Hour))
	p := mustEnsure(t, cfg)
	if got, want := kinds(p.Events, EventReissued), leafFiles("k8s01", "k8s02", "k8s03"); !slices.Equal(got, want) {
		t.Fatalf("reissued %v, want %v", got, want)
	}
	e, _ := findEvent(p.Events, EventReissued, "admin.crt")
	if !strings.Contains(e.Detail, "expires on 2027-03-01, less than 30 days from now") {
		t.Errorf("detail %q", e.Detail)
	}
	if _, ok := findEvent(p.Events, EventReused, "ca.crt"); !ok {
		t.Error("CA not reused")
	}
	// 31 days left: reused.
	cfg2 := testConfig(t)
	mustEnsure(t, cfg2)
	cfg2.Now = at(testNow.Add(334 * 24 * time.Hour))
	p = mustEnsure(t, cfg2)
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Errorf("reissued %v with 31 days left", got)
	}
	// Past expiry.
	cfg2.Now = at(testNow.Add(400 * 24 * time.Hour))
	p = mustEnsure(t, cfg2)
	e, _ = findEvent(p.Events, EventReissued, "nodes/k8s01/peer.crt")
	if !strings.Contains(e.Detail, "expired on 2027-03-01") {
		t.Errorf("detail %q", e.Detail)
	}
	// Clock went backwards before NotBefore (minus the backdate).
	cfg3 := testConfig(t)
	mustEnsure(t, cfg3)
	cfg3.Now = at(testNow.Add(-2 * time.Hour))
	_, err := Ensure(cfg3)
	wantErr(t, err, ErrCANotYetValid, "not valid before 2026-03-01T11:00:00Z", "clock")
}

func TestGeneratedCAExpired(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	cfg.Now = at(testNow.Add(11 * 365 * 24 * time.Hour))
	_, err := Ensure(cfg)
	wantErr(t, err, ErrCAExpired, filepath.Join(cfg.Dir, "ca.crt")+" expired on 2036-02-27", "remove the pki directory")
	if _, perr := Plan(cfg); perr == nil || perr.Error() != err.Error() {
		t.Errorf("Plan error %v, Ensure error %v", perr, err)
	}
	if !reflect.DeepEqual(before, snapshot(t, cfg.Dir)) {
		t.Error("files changed")
	}
}

func TestGeneratedCAExpiringSoonWarnsAndCapsLeaves(t *testing.T) {
	cfg := testConfig(t)
	cfg.CA.Validity = 60 * 24 * time.Hour
	p := mustEnsure(t, cfg)
	var details []string
	for _, e := range p.Events {
		if e.Kind == EventWarning {
			details = append(details, e.File+": "+e.Detail)
		}
	}
	if len(details) != 1 || !strings.Contains(details[0], "new certificates end with the CA") {
		t.Errorf("warnings %q", details)
	}
	if got, want := p.Admin.Cert.NotAfter, p.CACert.NotAfter; !got.Equal(want) {
		t.Errorf("leaf NotAfter %v, CA NotAfter %v", got, want)
	}
	// Second run: CA has < 90 days left, leaves are not renewed in a loop
	// even though they have < 30 days... once they do.
	cfg.Now = at(testNow.Add(45 * 24 * time.Hour))
	p = mustEnsure(t, cfg)
	e, ok := findEvent(p.Events, EventWarning, "ca.crt")
	if !ok || !strings.Contains(e.Detail, "expires on 2026-04-30 (in 15 days)") {
		t.Errorf("events %v", p.Events)
	}
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Errorf("leaves capped by the CA were reissued: %v", got)
	}
}

func TestCAKeyWithoutCertIsRepaired(t *testing.T) {
	cfg := testConfig(t)
	first := mustEnsure(t, cfg)
	os.Remove(filepath.Join(cfg.Dir, "ca.crt"))
	cfg.Now = at(testNow.Add(time.Hour))
	p := mustEnsure(t, cfg)
	e, ok := findEvent(p.Events, EventIssued, "ca.crt")
	if !ok || !strings.Contains(e.Detail, "existing ca.key") {
		t.Fatalf("events %v", p.Events)
	}
	if got := kinds(p.Events, EventReused); len(got) != len(leafFiles("k8s01", "k8s02", "k8s03")) {
		t.Errorf("leaves not reused under the repaired CA: %v", p.Events)
	}
	if !bytes.Equal(first.CACert.SubjectKeyId, p.CACert.SubjectKeyId) || first.CACert.Subject.String() != p.CACert.Subject.String() {
		t.Error("repaired CA has a different identity")
	}
}

func TestCACertWithoutKeyIsAnError(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	os.Remove(filepath.Join(cfg.Dir, "ca.key"))
	_, err := Ensure(cfg)
	wantErr(t, err, ErrCAIncomplete, "ca.key is missing", "restore")
}

func TestUnparseableFilesAreNotOverwritten(t *testing.T) {
	for _, f := range []string{"ca.crt", "ca.key", "nodes/k8s02/peer.crt", "admin.key"} {
		t.Run(f, func(t *testing.T) {
			cfg := testConfig(t)
			mustEnsure(t, cfg)
			path := filepath.Join(cfg.Dir, f)
			os.WriteFile(path, []byte("not pem\n"), 0o600)
			_, err := Ensure(cfg)
			wantErr(t, err, ErrUnreadableFile, path, "remove it")
			if b, _ := os.ReadFile(path); string(b) != "not pem\n" {
				t.Error("file overwritten")
			}
		})
	}
}

func TestMissingKeyOrCertIsIssuedAndReported(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	os.Remove(filepath.Join(cfg.Dir, "nodes/k8s01/server.key"))
	os.Remove(filepath.Join(cfg.Dir, "nodes/k8s02/peer.crt"))
	p := mustEnsure(t, cfg)
	e, ok := findEvent(p.Events, EventReissued, "nodes/k8s01/server.crt")
	if !ok || !strings.Contains(e.Detail, "key file is missing") {
		t.Errorf("events %v", p.Events)
	}
	e, ok = findEvent(p.Events, EventIssued, "nodes/k8s02/peer.crt")
	if !ok || !strings.Contains(e.Detail, "existing key") {
		t.Errorf("events %v", p.Events)
	}
	after := snapshot(t, cfg.Dir)
	if after["nodes/k8s02/peer.key"] != before["nodes/k8s02/peer.key"] {
		t.Error("existing key replaced")
	}
	if after["nodes/k8s01/server.key"] == "" {
		t.Error("no new key")
	}
}

func TestMismatchedKeyGetsNewCertificate(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	// A key from another profile stands in for a run that died after
	// writing a new key but before its certificate.
	other, _ := os.ReadFile(filepath.Join(cfg.Dir, "admin.key"))
	os.WriteFile(filepath.Join(cfg.Dir, "nodes/k8s01/peer.key"), other, 0o600)
	p := mustEnsure(t, cfg)
	e, ok := findEvent(p.Events, EventReissued, "nodes/k8s01/peer.crt")
	if !ok || !strings.Contains(e.Detail, "key does not match the certificate") {
		t.Fatalf("events %v", p.Events)
	}
	if !keyMatchesPEM(t, p.Nodes["k8s01"][ProfilePeer]) || !bytes.Equal(p.Nodes["k8s01"][ProfilePeer].KeyPEM, other) {
		t.Error("certificate not issued for the key on disk")
	}
}

func keyMatchesPEM(t *testing.T, ck CertKey) bool {
	k, err := parseKey(ck.KeyPEM)
	return err == nil && keyMatches(ck.Cert, k)
}

func TestLeafAlgorithmChangeReplacesKeys(t *testing.T) {
	cfg := testConfig(t)
	cfg.Nodes = cfg.Nodes[:1]
	mustEnsure(t, cfg)
	cfg.LeafAlgorithm = AlgRSA2048
	p := mustEnsure(t, cfg)
	if got := kinds(p.Events, EventReissued); !slices.Equal(got, leafFiles("k8s01")) {
		t.Fatalf("reissued %v", got)
	}
	e, _ := findEvent(p.Events, EventReissued, "admin.crt")
	if !strings.Contains(e.Detail, "key is ecdsa-p256, the config asks for rsa-2048") {
		t.Errorf("detail %q", e.Detail)
	}
	c := p.Nodes["k8s01"][ProfileServer].Cert
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok || c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("key %T usage %s", c.PublicKey, kuString(c.KeyUsage))
	}
	// ECDSA CA signs the RSA leaf: signature algorithm follows the CA key.
	if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("sigalg %v", c.SignatureAlgorithm)
	}
	if !keyMatchesPEM(t, p.Nodes["k8s01"][ProfileServer]) {
		t.Error("key mismatch")
	}
	// Existing CA algorithm differs from the config: kept, with a warning.
	cfg.CA.Algorithm = AlgRSA3072
	p = mustEnsure(t, cfg)
	if e, ok := findEvent(p.Events, EventWarning, "ca.key"); !ok || !strings.Contains(e.Detail, "keeping the existing CA") {
		t.Errorf("events %v", p.Events)
	}
}

func TestRSACASignsWithSHA256RSA(t *testing.T) {
	cfg := testConfig(t)
	cfg.Nodes = cfg.Nodes[:1]
	cfg.CA.Algorithm = AlgRSA3072
	p := mustEnsure(t, cfg)
	if p.CACert.SignatureAlgorithm != x509.SHA256WithRSA || p.Admin.Cert.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("sigalgs %v %v", p.CACert.SignatureAlgorithm, p.Admin.Cert.SignatureAlgorithm)
	}
	if k := p.CACert.PublicKey.(*rsa.PublicKey); k.N.BitLen() != 3072 {
		t.Errorf("CA key %d bits", k.N.BitLen())
	}
	if _, ok := p.Admin.Cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Error("leaf not ECDSA by default")
	}
}

func TestConfigValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no dir":        {func(c *Config) { c.Dir = "" }, "no pki directory"},
		"no cluster":    {func(c *Config) { c.Cluster = " " }, "cluster name is empty"},
		"ca alg":        {func(c *Config) { c.CA.Algorithm = "ed25519" }, `unknown CA algorithm "ed25519"`},
		"leaf alg":      {func(c *Config) { c.LeafAlgorithm = "rsa-1024" }, `unknown leaf algorithm "rsa-1024"`},
		"half external": {func(c *Config) { c.CA.CertFile = "x.crt" }, "both a certificate file and a key file"},
		"bad name":      {func(c *Config) { c.Nodes[0].Name = "../etc" }, `node name "../etc"`},
		"empty name":    {func(c *Config) { c.Nodes[0].Name = "" }, `node name ""`},
		"dup name":      {func(c *Config) { c.Nodes[1].Name = "K8S01" }, `node "K8S01" appears twice`},
		"bad fqdn":      {func(c *Config) { c.Nodes[0].FQDN = "a..b" }, `fqdn "a..b"`},
		"trailing dot":  {func(c *Config) { c.Nodes[0].FQDN = "k8s01.virtual.local." }, `fqdn "k8s01.virtual.local."`},
		"bad san":       {func(c *Config) { c.Nodes[0].ExtraSANs = []string{"not a name"} }, `extra SAN "not a name"`},
		"bad ip":        {func(c *Config) { c.Nodes[0].IPs = []net.IP{{1, 2, 3}} }, "invalid IP"},
		"neg validity":  {func(c *Config) { c.LeafValidity = -time.Hour }, "negative leaf validity"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.mod(&cfg)
			_, err := Plan(cfg)
			wantErr(t, err, ErrInvalidConfig, tc.want)
		})
	}
	cfg := testConfig(t)
	cfg.Nodes[0].ExtraSANs = []string{"*.etcd.virtual.local", "2001:db8::1"}
	if _, err := Plan(cfg); err != nil {
		t.Errorf("wildcard and IPv6 extra SANs: %v", err)
	}
}

func TestNodeWithoutIPsWarns(t *testing.T) {
	cfg := testConfig(t)
	cfg.Nodes = []Node{{Name: "solo", FQDN: "solo.virtual.local"}}
	p := mustEnsure(t, cfg)
	if e, ok := findEvent(p.Events, EventWarning, "nodes/solo/peer.crt"); !ok || !strings.Contains(e.Detail, "no IP addresses") {
		t.Errorf("events %v", p.Events)
	}
	if ips := p.Nodes["solo"][ProfileServer].Cert.IPAddresses; len(ips) != 2 {
		t.Errorf("server IPs %v, want loopback only", ips)
	}
}

func TestDefaultsUseRealClockAndRandomness(t *testing.T) {
	cfg := Config{Dir: filepath.Join(t.TempDir(), "pki"), Cluster: "c", Nodes: testNodes()[:1]}
	start := time.Now()
	p := mustEnsure(t, cfg)
	c := p.Nodes["k8s01"][ProfileServer].Cert
	if d := c.NotBefore.Sub(start.Add(-time.Hour)); d < -2*time.Second || d > time.Minute {
		t.Errorf("NotBefore %v, started %v", c.NotBefore, start)
	}
	q := mustEnsure(t, Config{Dir: filepath.Join(t.TempDir(), "pki"), Cluster: "c", Nodes: testNodes()[:1]})
	if bytes.Equal(p.Admin.KeyPEM, q.Admin.KeyPEM) || p.Admin.Cert.SerialNumber.Cmp(q.Admin.Cert.SerialNumber) == 0 {
		t.Error("two default runs produced the same key or serial")
	}
	if len(mustEnsure(t, cfg).Events) != len(allCertFiles("k8s01")) {
		t.Error("second default run not clean")
	}
}

func TestBackdate(t *testing.T) {
	cfg := testConfig(t)
	cfg.Nodes = nil
	cfg.Backdate = -1
	p := mustEnsure(t, cfg)
	if !p.Admin.Cert.NotBefore.Equal(testNow) {
		t.Errorf("NotBefore %v with backdating disabled", p.Admin.Cert.NotBefore)
	}
	cfg = testConfig(t)
	cfg.Nodes = nil
	cfg.Backdate = 6 * time.Hour
	p = mustEnsure(t, cfg)
	if !p.Admin.Cert.NotBefore.Equal(testNow.Add(-6*time.Hour)) || !p.CACert.NotBefore.Equal(testNow.Add(-6*time.Hour)) {
		t.Errorf("NotBefore %v", p.Admin.Cert.NotBefore)
	}
}

func TestRemovedCAReissuesEveryLeaf(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	os.Remove(filepath.Join(cfg.Dir, "ca.crt"))
	os.Remove(filepath.Join(cfg.Dir, "ca.key"))
	cfg.Rand = newDetRand(7)
	p := mustEnsure(t, cfg)
	if _, ok := findEvent(p.Events, EventIssued, "ca.crt"); !ok {
		t.Fatalf("events %v", p.Events)
	}
	for _, f := range leafFiles("k8s01", "k8s02", "k8s03") {
		e, ok := findEvent(p.Events, EventReissued, f)
		if !ok || !strings.Contains(e.Detail, "not signed by the current CA") {
			t.Errorf("%s: %v", f, e)
		}
	}
	after := snapshot(t, cfg.Dir)
	if after["admin.key"] != before["admin.key"] {
		t.Error("leaf key rotated although only the CA changed")
	}
	if err := p.Admin.Cert.CheckSignatureFrom(p.CACert); err != nil {
		t.Error(err)
	}
}

// resign rewrites a leaf on disk as the CA would have signed it with mod
// applied, to simulate certificates made by an older profile.
func resign(t *testing.T, cfg Config, rel string, mod func(*x509.Certificate)) {
	t.Helper()
	caKeyPEM, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.key"))
	caKey, err := parseKey(caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca := parseCertFile(t, filepath.Join(cfg.Dir, "ca.crt"))
	old := parseCertFile(t, filepath.Join(cfg.Dir, rel))
	tmpl := *old
	tmpl.ExtraExtensions = nil
	tmpl.Extensions = nil
	tmpl.RawSubject = nil // else CreateCertificate ignores Subject
	mod(&tmpl)
	der, err := x509.CreateCertificate(newDetRand(5), &tmpl, ca, old.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, rel), encodeCert(der), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProfileDriftIsReissued(t *testing.T) {
	for name, tc := range map[string]struct {
		file string
		mod  func(*x509.Certificate)
		want string
	}{
		"key usage": {"nodes/k8s01/server.crt", func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageKeyEncipherment },
			"key usages are digitalSignature,keyEncipherment, the spec wants digitalSignature"},
		"eku": {"nodes/k8s01/peer.crt", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} },
			"extended key usages are serverAuth, the spec wants clientAuth,serverAuth"},
		"common name": {"admin.crt", func(c *x509.Certificate) { c.Subject.CommonName = "root" },
			`common name is "root", the spec wants "etcdimg-admin"`},
		"organization": {"admin.crt", func(c *x509.Certificate) { c.Subject.Organization = []string{"system:masters"} },
			`organization is ["system:masters"], the spec wants ["lab"]`},
		"is a CA": {"nodes/k8s02/healthcheck-client.crt", func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage |= x509.KeyUsageCertSign },
			"basic constraints are not CA:FALSE"},
		"uri san": {"nodes/k8s02/peer.crt", func(c *x509.Certificate) { c.URIs = append(c.URIs, mustURL(t, "spiffe://lab/etcd")) },
			"SANs changed: removed URI:spiffe://lab/etcd"},
		"not yet valid": {"nodes/k8s03/server.crt", func(c *x509.Certificate) { c.NotBefore = testNow.Add(time.Hour) },
			"not valid before 2026-03-01T13:00:00Z"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			mustEnsure(t, cfg)
			resign(t, cfg, tc.file, tc.mod)
			p := mustEnsure(t, cfg)
			if got := kinds(p.Events, EventReissued); !slices.Equal(got, []string{tc.file}) {
				t.Fatalf("reissued %v", got)
			}
			if e, _ := findEvent(p.Events, EventReissued, tc.file); !strings.Contains(e.Detail, tc.want) {
				t.Errorf("detail %q, want %q", e.Detail, tc.want)
			}
			if p := mustEnsure(t, cfg); len(kinds(p.Events, EventReused)) != len(p.Events) {
				t.Errorf("not stable: %v", p.Events)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// With the system CSPRNG, RSA keys are generated on all cores.
func TestRSALeavesWithDefaultRand(t *testing.T) {
	cfg := Config{Dir: filepath.Join(t.TempDir(), "pki"), Cluster: "c", Nodes: testNodes()[:1], LeafAlgorithm: AlgRSA2048}
	p := mustEnsure(t, cfg)
	keys := map[string]bool{}
	for _, ck := range []CertKey{p.Admin, p.Nodes["k8s01"][ProfileServer], p.Nodes["k8s01"][ProfilePeer], p.Nodes["k8s01"][ProfileHealthcheckClient]} {
		if k, ok := ck.Cert.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 || !keyMatchesPEM(t, ck) {
			t.Errorf("%s: %T", ck.Cert.Subject.CommonName, ck.Cert.PublicKey)
		}
		keys[string(ck.KeyPEM)] = true
	}
	if len(keys) != 4 {
		t.Error("keys are not distinct")
	}
}

func TestEventString(t *testing.T) {
	if s := (Event{Kind: EventReissued, File: "admin.crt", Detail: "expired"}).String(); s != "reissued admin.crt: expired" {
		t.Error(s)
	}
	if s := (Event{Kind: EventReused, File: "ca.crt"}).String(); s != "reused ca.crt" {
		t.Error(s)
	}
}
