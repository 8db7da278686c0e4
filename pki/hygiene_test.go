package pki

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSymlinkedNodeDirRefused (issue 11.7): a nodes/<node> that links
// elsewhere is refused with its path before anything is written; the
// link's target gets no key and keeps its mode.
func TestSymlinkedNodeDirRefused(t *testing.T) {
	for _, first := range []bool{true, false} {
		cfg := testConfig(t)
		if !first {
			mustEnsure(t, cfg)
			os.RemoveAll(filepath.Join(cfg.Dir, "nodes", "k8s02"))
		}
		elsewhere := filepath.Join(t.TempDir(), "elsewhere")
		os.Mkdir(elsewhere, 0o755)
		os.MkdirAll(filepath.Join(cfg.Dir, "nodes"), 0o700)
		link := filepath.Join(cfg.Dir, "nodes", "k8s02")
		if err := os.Symlink(elsewhere, link); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, cfg.Dir)
		_, err := Ensure(cfg)
		wantErr(t, err, ErrInvalidConfig, link, "symbolic link")
		if es, _ := os.ReadDir(elsewhere); len(es) != 0 {
			t.Errorf("written through the link: %v", es)
		}
		if fi, _ := os.Stat(elsewhere); fi.Mode().Perm() != 0o755 {
			t.Errorf("link target chmodded to %v", fi.Mode().Perm())
		}
		if after := snapshot(t, cfg.Dir); len(after) != len(before) {
			t.Errorf("PKI changed: %d files, was %d", len(after), len(before))
		}
	}
	// A "nodes" folder that is a link is refused the same way.
	cfg := testConfig(t)
	os.MkdirAll(cfg.Dir, 0o700)
	elsewhere := t.TempDir()
	os.Symlink(elsewhere, filepath.Join(cfg.Dir, "nodes"))
	_, err := Ensure(cfg)
	wantErr(t, err, ErrInvalidConfig, filepath.Join(cfg.Dir, "nodes"), "symbolic link")
	// A key that is a link is neither read nor chmodded through.
	cfg = testConfig(t)
	mustEnsure(t, cfg)
	victim := filepath.Join(t.TempDir(), "victim.key")
	b, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.key"))
	os.WriteFile(victim, b, 0o644)
	os.Remove(filepath.Join(cfg.Dir, "ca.key"))
	os.Symlink(victim, filepath.Join(cfg.Dir, "ca.key"))
	_, err = Ensure(cfg)
	wantErr(t, err, ErrInvalidConfig, filepath.Join(cfg.Dir, "ca.key"), "symbolic link")
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o644 {
		t.Errorf("key link target chmodded to %v", fi.Mode().Perm())
	}
}

// TestPKIDirMayBeALink: the folder the operator names may itself be a link.
func TestPKIDirMayBeALink(t *testing.T) {
	cfg := testConfig(t)
	real := filepath.Join(t.TempDir(), "real")
	os.Mkdir(real, 0o700)
	os.Symlink(real, cfg.Dir)
	mustEnsure(t, cfg)
	if _, err := os.Stat(filepath.Join(real, "nodes", "k8s01", "server.key")); err != nil {
		t.Fatal(err)
	}
}

// TestCAKeyOwnedByAnotherUser (issue 11.10): one warning naming the file.
func TestCAKeyOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	if err := os.Chown(filepath.Join(cfg.Dir, "ca.key"), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	p := mustEnsure(t, cfg)
	e, ok := findEvent(p.Events, EventWarning, "ca.key")
	if !ok || !strings.Contains(e.Detail, "owned by uid 4242") || strings.Contains(e.Detail, "\n") {
		t.Fatalf("events %v", p.Events)
	}
	if n := len(kinds(p.Events, EventWarning)); n != 1 {
		t.Errorf("%d warnings, want 1: %v", n, p.Events)
	}
}

// TestExternalCASpecialFiles (issue 11.3): /dev/zero and a FIFO as the
// external CA's files fail at once with the path; nothing hangs.
func TestExternalCASpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ca.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "ca.crt")
	os.WriteFile(cert, []byte("not read"), 0o644)
	for _, tc := range []struct{ cert, key, want string }{
		{"/dev/zero", fifo, "/dev/zero"},
		{cert, fifo, fifo},
	} {
		cfg := testConfig(t)
		cfg.CA.CertFile, cfg.CA.KeyFile = tc.cert, tc.key
		if tc.cert != "/dev/zero" {
			// A real certificate, so the key is what fails.
			ext := testConfig(t)
			mustEnsure(t, ext)
			cfg.CA.CertFile = filepath.Join(ext.Dir, "ca.crt")
		}
		done := make(chan error, 1)
		go func() { _, err := Ensure(cfg); done <- err }()
		select {
		case err := <-done:
			wantErr(t, err, ErrCAIncomplete, tc.want, "not a regular file")
		case <-time.After(10 * time.Second):
			t.Fatalf("%s / %s: hangs", tc.cert, tc.key)
		}
		if _, err := os.Stat(cfg.Dir); err == nil {
			t.Error("the PKI folder was created for a config that fails")
		}
	}
}

// TestConcurrentEnsure (issue 11.2): runs on one folder at once, with
// different node sets and leaf algorithms so they disagree, are serialised:
// afterwards ca.key matches ca.crt and every certificate and key on disk
// verifies against it; each run's result is self-consistent too.
func TestConcurrentEnsure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	results := make([]*PKI, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := Config{Dir: dir, Cluster: "lab", Nodes: testNodes()[:1+i%3], Now: func() time.Time { return testNow }}
			if i%2 == 1 {
				cfg.LeafAlgorithm = AlgRSA2048
			}
			results[i], errs[i] = Ensure(cfg)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	ca := parseCertFile(t, filepath.Join(dir, "ca.crt"))
	key, err := parseKey([]byte(snapshot(t, dir)["ca.key"]))
	if err != nil || !keyMatches(ca, key) {
		t.Fatalf("ca.key does not match ca.crt: %v", err)
	}
	for i, r := range results {
		if !r.CACert.Equal(ca) {
			t.Errorf("run %d returned another CA than ca.crt", i)
		}
	}
	checkPKIConsistent(t, dir, ca)
}

// checkPKIConsistent verifies every certificate below dir against ca, and
// every key against its certificate, with Go and (if present) openssl.
func checkPKIConsistent(t *testing.T, dir string, ca *x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	files := snapshot(t, dir)
	n := 0
	for f, data := range files {
		if !strings.HasSuffix(f, ".crt") || f == "ca.crt" {
			continue
		}
		n++
		certs, err := parseCerts([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s does not verify against ca.crt: %v", f, err)
		}
		key, err := parseKey([]byte(files[strings.TrimSuffix(f, ".crt")+".key"]))
		if err != nil || !keyMatches(certs[0], key) {
			t.Errorf("%s: key does not match (%v)", f, err)
		}
		if _, err := exec.LookPath("openssl"); err == nil {
			openssl(t, "verify", "-attime", strconv.FormatInt(testNow.Unix(), 10), "-CAfile", filepath.Join(dir, "ca.crt"), filepath.Join(dir, f))
		}
	}
	if n == 0 {
		t.Fatal("no certificates")
	}
}
