package pki

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

const goldenDir = "testdata/golden"

func goldenConfig(dir string) Config {
	return Config{Dir: dir, Cluster: "golden", Nodes: testNodes(), Now: at(testNow), Rand: newDetRand(42)}
}

// TestGoldenPKI pins ECDSA issuance byte for byte: same Now and Rand, same
// files. A Go release that changes x509 encoding shows up here; check the
// diff with openssl and rerun with -update.
func TestGoldenPKI(t *testing.T) {
	cfg := goldenConfig(filepath.Join(t.TempDir(), "pki"))
	mustEnsure(t, cfg)
	got := snapshot(t, cfg.Dir)
	if *update {
		os.RemoveAll(goldenDir)
		for f, content := range got {
			p := filepath.Join(goldenDir, filepath.FromSlash(f))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := snapshot(t, goldenDir)
	if !reflect.DeepEqual(got, want) {
		for f := range want {
			if got[f] != want[f] {
				t.Errorf("%s differs from %s", f, goldenDir)
			}
		}
		for f := range got {
			if _, ok := want[f]; !ok {
				t.Errorf("%s is not in %s", f, goldenDir)
			}
		}
		t.Log("rerun with -update if the change is intended")
	}
}

// A committed PKI, as git checks it out (0755 directories, 0644 keys), is
// reused as is: permissions are tightened with warnings, no certificate
// changes.
func TestGoldenPKIFromCheckoutIsReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	for f, content := range snapshot(t, goldenDir) {
		p := filepath.Join(dir, filepath.FromSlash(f))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	os.Chmod(dir, 0o755)
	cfg := goldenConfig(dir)
	cfg.Rand = newDetRand(1000) // reuse must not depend on it
	p := mustEnsure(t, cfg)
	if got, want := kinds(p.Events, EventReused), allCertFiles("k8s01", "k8s02", "k8s03"); !reflect.DeepEqual(got, want) {
		t.Errorf("reused %v, want %v", got, want)
	}
	if n := len(kinds(p.Events, EventWarning)); n != 5+11 { // 5 dirs; ca, admin and 9 node keys
		t.Errorf("%d warnings: %v", n, p.Events)
	}
	if !reflect.DeepEqual(snapshot(t, dir), snapshot(t, goldenDir)) {
		t.Error("files changed")
	}
}
