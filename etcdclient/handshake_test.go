package etcdclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/outdir"
)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) ca {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return ca{c, key}
}

func (c ca) issue(t *testing.T, cn string, notAfter time.Time, ips ...net.IP) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter, IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serve runs a TLS listener that completes handshakes with cert.
func serve(t *testing.T, cert tls.Certificate) string {
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return "https://" + l.Addr().String()
}

// TestHandshakeReportsBadCertificates: the certificate an endpoint serves
// is read from the handshake even when it no longer verifies, so status
// can show an expired certificate's date, or one from another CA, instead
// of a bare handshake failure.
func TestHandshakeReportsBadCertificates(t *testing.T) {
	dir := t.TempDir()
	good, other := newCA(t), newCA(t)
	admin := good.issue(t, "admin", time.Now().Add(time.Hour))
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", good.cert.Raw)
	writePEM(t, filepath.Join(dir, "admin.crt"), "CERTIFICATE", admin.Certificate[0])
	kder, _ := x509.MarshalECPrivateKey(admin.PrivateKey.(*ecdsa.PrivateKey))
	writePEM(t, filepath.Join(dir, "admin.key"), "EC PRIVATE KEY", kder)

	lo := net.IPv4(127, 0, 0, 1)
	expiry := time.Now().Add(240 * time.Hour).Truncate(time.Second)
	valid := serve(t, good.issue(t, "valid", expiry, lo))
	expired := serve(t, good.issue(t, "expired", time.Now().Add(-time.Hour), lo))
	foreign := serve(t, other.issue(t, "foreign", time.Now().Add(time.Hour), lo))
	wrongSAN := serve(t, good.issue(t, "wrong-san", time.Now().Add(time.Hour), net.IPv4(10, 9, 9, 9)))

	cl := &outdir.Cluster{Name: "hs", TLS: true, Nodes: []outdir.Node{{Name: "n", IP: "127.0.0.1", ClientURLs: []string{valid}}},
		Etcdctl: &outdir.Etcdctl{CACert: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "admin.crt"), Key: filepath.Join(dir, "admin.key")}}
	c, err := etcdclient.New(cl, etcdclient.Options{DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	cert, verr, err := c.Handshake(ctx, valid)
	if err != nil || verr != nil || cert.Subject.CommonName != "valid" || !cert.NotAfter.Equal(expiry) {
		t.Errorf("valid: %v %v %v", cert, verr, err)
	}
	for ep, want := range map[string]string{expired: "expired", foreign: "unknown authority", wrongSAN: "10.9.9.9"} {
		cert, verr, err := c.Handshake(ctx, ep)
		if err != nil || cert == nil || verr == nil || !strings.Contains(verr.Error(), want) {
			t.Errorf("%s: cert %v verify %v err %v, want a verify error with %q", ep, cert, verr, err, want)
		}
	}
	// Nothing listening: the dial error, fast.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "https://" + l.Addr().String()
	l.Close()
	if _, _, err := c.Handshake(ctx, dead); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("dead endpoint: %v", err)
	}
}
