package outdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/durable"
)

// TestCheckDirTempOnly (issue 11.8): a folder holding only etcdimg's
// temporary files (a build killed before its marker was written) is
// etcdimg's; one temporary-looking name of another pattern, or any other
// file, still makes it foreign.
func TestCheckDirTempOnly(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".k8s01.iso"+durable.TempInfix+"abc"), nil, 0o600)
	if err := CheckDir(dir, false); err != nil {
		t.Fatalf("temporary files only: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "k8s01.iso.tmp-iso1"), nil, 0o600)
	if err := CheckDir(dir, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("foreign file: %v", err)
	}
	if err := CheckDir(dir, true); err != nil {
		t.Fatal(err)
	}
}

// TestReadNoISOWithTLS: build --no-iso with TLS on makes no PKI, so its
// cluster.json has tls but no etcdctl; Read accepts it. With a PKI folder
// the etcdctl paths are required.
func TestReadNoISOWithTLS(t *testing.T) {
	dir := t.TempDir()
	c := &Cluster{Name: "c", TLS: true, Nodes: []Node{{Name: "a", IP: "10.0.0.2", ClientURLs: []string{"https://10.0.0.2:2379"}}}}
	if err := Write(dir, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err != nil {
		t.Fatal(err)
	}
	c.PKIDir = "/pki"
	Write(dir, c)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "etcdctl") {
		t.Fatalf("pkiDir without etcdctl: %v", err)
	}
}
