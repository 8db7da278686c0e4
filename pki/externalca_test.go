package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// extCA writes a CA made by Go (not by this package) and points cfg at it.
type extCA struct {
	certPath, keyPath string
	cert              *x509.Certificate
	key               crypto.Signer
}

func newExtCA(t *testing.T, key crypto.Signer, keyEncoding string, mod func(*x509.Certificate)) extCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(4242),
		Subject:               pkix.Name{CommonName: "Corp Issuing CA", Organization: []string{"Corp"}},
		NotBefore:             testNow.Add(-30 * 24 * time.Hour),
		NotAfter:              testNow.Add(3 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	var block *pem.Block
	switch keyEncoding {
	case "pkcs1":
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	case "sec1":
		b, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
	default:
		b, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	}
	dir := t.TempDir()
	e := extCA{certPath: filepath.Join(dir, "corp-ca.pem"), keyPath: filepath.Join(dir, "corp-ca-key.pem"), cert: cert, key: key}
	if err := os.WriteFile(e.certPath, encodeCert(der), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.keyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e extCA) config(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.CA.CertFile, cfg.CA.KeyFile = e.certPath, e.keyPath
	return cfg
}

func mustECDSA(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRSA(t *testing.T, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestExternalCA(t *testing.T) {
	for name, tc := range map[string]struct {
		key    func(*testing.T) crypto.Signer
		enc    string
		sigAlg x509.SignatureAlgorithm
	}{
		"rsa-2048 pkcs1": {func(t *testing.T) crypto.Signer { return mustRSA(t, 2048) }, "pkcs1", x509.SHA256WithRSA},
		"rsa-2048 pkcs8": {func(t *testing.T) crypto.Signer { return mustRSA(t, 2048) }, "pkcs8", x509.SHA256WithRSA},
		"ecdsa sec1":     {func(t *testing.T) crypto.Signer { return mustECDSA(t) }, "sec1", x509.ECDSAWithSHA256},
		"ecdsa pkcs8":    {func(t *testing.T) crypto.Signer { return mustECDSA(t) }, "pkcs8", x509.ECDSAWithSHA256},
	} {
		t.Run(name, func(t *testing.T) {
			e := newExtCA(t, tc.key(t), tc.enc, nil)
			cfg := e.config(t)
			p := mustEnsure(t, cfg)
			if ev, ok := findEvent(p.Events, EventIssued, "ca.crt"); !ok || !strings.Contains(ev.Detail, "copied from the external CA "+e.certPath) {
				t.Errorf("events %v", p.Events)
			}
			if _, err := os.Stat(filepath.Join(cfg.Dir, "ca.key")); !os.IsNotExist(err) {
				t.Error("external CA key copied into the pki directory")
			}
			for f, content := range snapshot(t, cfg.Dir) {
				if strings.Contains(content, "PRIVATE KEY") && !strings.HasSuffix(f, ".key") {
					t.Errorf("%s holds a private key", f)
				}
			}
			if want, _ := os.ReadFile(e.certPath); string(p.CACertPEM) != string(want) {
				t.Error("ca.crt is not the external certificate")
			}
			roots := x509.NewCertPool()
			roots.AddCert(e.cert)
			for _, ck := range []CertKey{p.Admin, p.Nodes["k8s01"][ProfileServer], p.Nodes["k8s02"][ProfilePeer], p.Nodes["k8s03"][ProfileHealthcheckClient]} {
				if _, err := ck.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
					t.Errorf("%s: %v", ck.Cert.Subject.CommonName, err)
				}
				if ck.Cert.SignatureAlgorithm != tc.sigAlg {
					t.Errorf("%s: sigalg %v", ck.Cert.Subject.CommonName, ck.Cert.SignatureAlgorithm)
				}
				if ck.Cert.Issuer.CommonName != "Corp Issuing CA" || !slices.Equal(ck.Cert.AuthorityKeyId, e.cert.SubjectKeyId) {
					t.Errorf("issuer %v akid %x", ck.Cert.Issuer, ck.Cert.AuthorityKeyId)
				}
			}
			// Reuse works the same with an external CA.
			before := snapshot(t, cfg.Dir)
			p = mustEnsure(t, cfg)
			if len(kinds(p.Events, EventReused)) != len(p.Events) || !reflect.DeepEqual(before, snapshot(t, cfg.Dir)) {
				t.Errorf("second run: %v", p.Events)
			}
		})
	}
}

// The AKID of a leaf must be the CA's own SKID, whatever method the CA used
// to compute it (openssl_test.go covers a CA without a SKID).
func TestExternalCAAKIDFollowsSKID(t *testing.T) {
	e := newExtCA(t, mustECDSA(t), "pkcs8", func(c *x509.Certificate) { c.SubjectKeyId = []byte{1, 2, 3, 4} })
	p := mustEnsure(t, e.config(t))
	if !slices.Equal(p.Admin.Cert.AuthorityKeyId, []byte{1, 2, 3, 4}) {
		t.Errorf("AKID %x does not follow the CA's SKID", p.Admin.Cert.AuthorityKeyId)
	}
}

func TestExternalCABundleAndCombinedFile(t *testing.T) {
	e := newExtCA(t, mustECDSA(t), "sec1", nil)
	// One file with the CA cert, an unrelated root cert and the key, as some
	// tools produce it: only certificates may reach ca.crt.
	other := newExtCA(t, mustECDSA(t), "pkcs8", nil)
	certPEM, _ := os.ReadFile(e.certPath)
	otherPEM, _ := os.ReadFile(other.certPath)
	keyPEM, _ := os.ReadFile(e.keyPath)
	combined := filepath.Join(t.TempDir(), "all.pem")
	os.WriteFile(combined, slices.Concat(certPEM, otherPEM, keyPEM), 0o600)
	cfg := testConfig(t)
	cfg.CA.CertFile, cfg.CA.KeyFile = combined, combined
	p := mustEnsure(t, cfg)
	if string(p.CACertPEM) != string(certPEM)+string(otherPEM) {
		t.Errorf("ca.crt:\n%s", p.CACertPEM)
	}
	if !p.CACert.Equal(e.cert) {
		t.Error("signing CA is not the first certificate")
	}
}

func TestExternalCAErrors(t *testing.T) {
	rsaKey := mustRSA(t, 2048)
	for name, tc := range map[string]struct {
		key      crypto.Signer
		mod      func(*x509.Certificate)
		otherKey bool
		sentinel error
		want     []string
	}{
		"not a CA": {rsaKey, func(c *x509.Certificate) { c.IsCA = false; c.KeyUsage = x509.KeyUsageDigitalSignature }, false, ErrCAInvalid,
			[]string{"is not a CA certificate", "drop the external CA setting"}},
		"no basic constraints": {rsaKey, func(c *x509.Certificate) { c.IsCA, c.BasicConstraintsValid = false, false }, false, ErrCAInvalid,
			[]string{"basicConstraints CA:TRUE is missing"}},
		"no keyCertSign": {rsaKey, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }, false, ErrCAInvalid,
			[]string{"lacks the keyCertSign key usage"}},
		"mismatched key": {rsaKey, nil, true, ErrCAKeyMismatch,
			[]string{"does not belong to", "configure the key that matches"}},
		"expired": {rsaKey, func(c *x509.Certificate) { c.NotAfter = testNow.Add(-24 * time.Hour) }, false, ErrCAExpired,
			[]string{"expired on 2026-02-28", "replace it with a valid CA"}},
		"not yet valid": {rsaKey, func(c *x509.Certificate) { c.NotBefore = testNow.Add(24 * time.Hour) }, false, ErrCANotYetValid,
			[]string{"is not valid before 2026-03-02T12:00:00Z", "clock"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newExtCA(t, tc.key, "pkcs8", tc.mod)
			if tc.otherKey {
				e2 := newExtCA(t, mustECDSA(t), "sec1", nil)
				e.keyPath = e2.keyPath
			}
			cfg := e.config(t)
			_, err := Ensure(cfg)
			wantErr(t, err, tc.sentinel, append(tc.want, e.certPath)...)
			if _, err := os.Stat(cfg.Dir); !os.IsNotExist(err) {
				t.Error("a failed CA check wrote files")
			}
		})
	}
	t.Run("ed25519", func(t *testing.T) {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		e := newExtCA(t, k, "pkcs8", nil)
		_, err := Ensure(e.config(t))
		wantErr(t, err, ErrCAInvalid, "is a ed25519 key; only RSA and ECDSA")
	})
	t.Run("missing file", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.CA.CertFile, cfg.CA.KeyFile = "/nonexistent/ca.pem", "/nonexistent/ca-key.pem"
		_, err := Ensure(cfg)
		wantErr(t, err, ErrCAIncomplete, "/nonexistent/ca.pem")
	})
	t.Run("encrypted key", func(t *testing.T) {
		e := newExtCA(t, mustECDSA(t), "pkcs8", nil)
		os.WriteFile(e.keyPath, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
		_, err := Ensure(e.config(t))
		wantErr(t, err, ErrUnreadableFile, "encrypted", "openssl pkey")
	})
}

func TestExternalCAExpiringSoonWarns(t *testing.T) {
	e := newExtCA(t, mustECDSA(t), "pkcs8", func(c *x509.Certificate) { c.NotAfter = testNow.Add(60 * 24 * time.Hour) })
	e.keyPath = chmodCopy(t, e.keyPath, 0o644)
	cfg := e.config(t)
	p := mustEnsure(t, cfg)
	ev, ok := findEvent(p.Events, EventWarning, "ca.crt")
	if !ok || !strings.Contains(ev.Detail, "expires on 2026-04-30 (in 60 days)") {
		t.Errorf("events %v", p.Events)
	}
	// Leaves end with the CA, and a loose external key is reported but
	// left alone.
	if !p.Admin.Cert.NotAfter.Equal(e.cert.NotAfter) {
		t.Errorf("leaf NotAfter %v", p.Admin.Cert.NotAfter)
	}
	if ev, ok := findEvent(p.Events, EventWarning, e.keyPath); !ok || !strings.Contains(ev.Detail, "0644") {
		t.Errorf("events %v", p.Events)
	}
	if fi, _ := os.Stat(e.keyPath); fi.Mode().Perm() != 0o644 {
		t.Error("external key permissions changed")
	}
}

func chmodCopy(t *testing.T, path string, mode os.FileMode) string {
	b, _ := os.ReadFile(path)
	p := filepath.Join(t.TempDir(), filepath.Base(path))
	os.WriteFile(p, b, mode)
	os.Chmod(p, mode)
	return p
}

func TestExternalCAChangeAndConflicts(t *testing.T) {
	e := newExtCA(t, mustECDSA(t), "pkcs8", nil)
	cfg := e.config(t)
	mustEnsure(t, cfg)
	// The operator rotates the external CA: ca.crt is copied again and every
	// leaf re-issued, each saying why.
	e2 := newExtCA(t, mustECDSA(t), "pkcs8", nil)
	cfg.CA.CertFile, cfg.CA.KeyFile = e2.certPath, e2.keyPath
	p := mustEnsure(t, cfg)
	if ev, ok := findEvent(p.Events, EventReissued, "ca.crt"); !ok || !strings.Contains(ev.Detail, "changed") {
		t.Errorf("events %v", p.Events)
	}
	for _, f := range leafFiles("k8s01", "k8s02", "k8s03") {
		if ev, ok := findEvent(p.Events, EventReissued, f); !ok || !strings.Contains(ev.Detail, "not signed by the current CA") {
			t.Errorf("%s: events %v", f, p.Events)
		}
	}
	// A generated CA in the directory is never silently replaced by an
	// external one.
	gen := testConfig(t)
	mustEnsure(t, gen)
	gen.CA.CertFile, gen.CA.KeyFile = e.certPath, e.keyPath
	_, err := Ensure(gen)
	wantErr(t, err, ErrInvalidConfig, "ca.key belongs to a CA etcdimg generated", "move the pki directory away")
}
