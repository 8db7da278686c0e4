package pki

import (
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/pki/pkitest"
)

// testNow is a fixed clock; every test that does not move time uses it.
var testNow = pkitest.Now

func newDetRand(seed uint64) io.Reader { return pkitest.NewRand(seed) }

func testNodes() []Node {
	return []Node{
		{Name: "k8s01", FQDN: "k8s01.virtual.local", IPs: []net.IP{net.ParseIP("192.0.2.11")}, ExtraSANs: []string{"etcd.virtual.local", "198.51.100.10"}},
		{Name: "k8s02", FQDN: "k8s02.virtual.local", IPs: []net.IP{net.ParseIP("192.0.2.12")}},
		{Name: "k8s03", FQDN: "k8s03.virtual.local", IPs: []net.IP{net.ParseIP("192.0.2.13"), net.ParseIP("2001:db8::13")}},
	}
}

func testConfig(t testing.TB) Config {
	t.Helper()
	return Config{
		Dir:     filepath.Join(t.TempDir(), "pki"),
		Cluster: "lab",
		Nodes:   testNodes(),
		Now:     func() time.Time { return testNow },
		Rand:    newDetRand(1),
	}
}

func at(t time.Time) func() time.Time { return pkitest.Clock(t) }

func mustEnsure(t testing.TB, cfg Config) *PKI {
	t.Helper()
	p, err := Ensure(cfg)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return p
}

// snapshot maps every file below dir to its content.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventMap indexes events by file; a file with several events gets them
// joined, so that unexpected extra events show up in comparisons.
func eventMap(ev []Event) map[string]string {
	m := map[string]string{}
	for _, e := range ev {
		if m[e.File] != "" {
			m[e.File] += " | "
		}
		m[e.File] += e.Kind
	}
	return m
}

func kinds(ev []Event, kind string) []string {
	var out []string
	for _, e := range ev {
		if e.Kind == kind {
			out = append(out, e.File)
		}
	}
	return out
}

func findEvent(ev []Event, kind, file string) (Event, bool) {
	for _, e := range ev {
		if e.Kind == kind && e.File == file {
			return e, true
		}
	}
	return Event{}, false
}

func leafFiles(nodes ...string) []string {
	out := []string{"admin.crt"}
	for _, n := range nodes {
		for _, p := range []string{"healthcheck-client", "peer", "server"} {
			out = append(out, "nodes/"+n+"/"+p+".crt")
		}
	}
	slices.Sort(out)
	return out
}

func allCertFiles(nodes ...string) []string {
	out := append([]string{"ca.crt"}, leafFiles(nodes...)...)
	slices.Sort(out)
	return out
}

func parseCertFile(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCerts(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return certs[0]
}

func wantErr(t testing.TB, err, sentinel error, substrings ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %v, got nil", sentinel)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not wrap %v", err, sentinel)
	}
	for _, s := range substrings {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "pki: ") {
		t.Errorf("error %q lacks the pki: prefix", msg)
	}
}
