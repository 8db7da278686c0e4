package pki

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzPEMLoader (issue 11.11) feeds arbitrary bytes to the PEM/CA loader:
// as the certificate and key files of an external CA, and as the ca.crt and
// ca.key of a PKI folder. Loading never panics; it either fails with one of
// the package's sentinel errors (a message saying how to fix it) or yields a
// CA that then signs leaves which verify against it and match their keys.
//
// Run: go test ./pki -run '^$' -fuzz '^FuzzPEMLoader$' -fuzztime 2m
func FuzzPEMLoader(f *testing.F) {
	// Seeds: a real generated CA (cert and key), the two swapped, a bundle
	// with both in one file, truncated and garbled PEM, empty input.
	cfg := Config{Dir: f.TempDir() + "/pki", Cluster: "fuzz", Nodes: testNodes()[:1], Now: func() time.Time { return testNow }, Rand: newDetRand(7)}
	if _, err := Ensure(cfg); err != nil {
		f.Fatal(err)
	}
	crt, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.crt"))
	key, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.key"))
	leaf, _ := os.ReadFile(filepath.Join(cfg.Dir, "nodes/k8s01/server.crt"))
	f.Add(crt, key)
	f.Add(key, crt)
	f.Add(append(append([]byte{}, crt...), key...), key)
	f.Add(crt[:len(crt)/2], key[:len(key)-10])
	f.Add(leaf, key)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "ext.crt"), filepath.Join(dir, "ext.key")
		os.WriteFile(certFile, certPEM, 0o600)
		os.WriteFile(keyFile, keyPEM, 0o600)
		// The parsers on their own.
		parseCerts(certPEM)
		parseKey(keyPEM)

		external := Config{Dir: filepath.Join(dir, "ext-pki"), Cluster: "fuzz", Nodes: testNodes()[:1],
			CA: CAConfig{CertFile: certFile, KeyFile: keyFile}, Now: func() time.Time { return testNow }, Rand: newDetRand(1), Backdate: -1}
		checkLoad(t, external)

		// The same bytes as the ca.crt/ca.key of a PKI folder.
		own := external
		own.CA = CAConfig{}
		own.Dir = filepath.Join(dir, "own-pki")
		os.MkdirAll(own.Dir, 0o700)
		os.WriteFile(filepath.Join(own.Dir, "ca.crt"), certPEM, 0o644)
		os.WriteFile(filepath.Join(own.Dir, "ca.key"), keyPEM, 0o600)
		checkLoad(t, own)
	})
}

var sentinels = []error{ErrInvalidConfig, ErrCAExpired, ErrCANotYetValid, ErrCAInvalid, ErrCAKeyMismatch, ErrCAIncomplete, ErrUnreadableFile, ErrIssuance}

func checkLoad(t *testing.T, cfg Config) {
	t.Helper()
	if _, err := Plan(cfg); err != nil {
		known := false
		for _, s := range sentinels {
			known = known || errors.Is(err, s)
		}
		if !known {
			t.Fatalf("Plan: error %q wraps no sentinel", err)
		}
		return
	}
	// Accepted: the loaded CA must sign a leaf that verifies against it.
	// In memory (Ensure would fsync a dozen files per run); Ensure itself
	// runs on accepted CAs in the unit tests.
	p, err := makePlan(cfg)
	if err != nil {
		t.Fatalf("Plan accepted what makePlan refuses: %v", err)
	}
	if p.ca.cert == nil || p.ca.key == nil || !keyMatches(p.ca.cert, p.ca.key) {
		t.Fatalf("accepted CA without a matching certificate and key")
	}
	leafKey, err := newKeyGen(newDetRand(3)).generate(AlgECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: testNow.Add(-time.Hour), NotAfter: p.ca.notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"k8s01"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca.cert, leafKey.Public(), p.ca.key)
	if err != nil {
		t.Fatalf("the accepted CA cannot sign: %v", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow}); err != nil {
		t.Fatalf("a leaf of the accepted CA does not verify against it: %v", err)
	}
}
