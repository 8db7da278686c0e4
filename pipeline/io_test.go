package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/pipeline"
	"github.com/etcdimg/etcdimg/pki"
)

// tree records every path below root (links not followed) with its type,
// mode, size, mtime and content, so a test can say "nothing on disk changed".
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() && fi.Size() < 1<<20 {
			b, _ := os.ReadFile(p)
			v += " " + string(b)
		}
		out[p] = v
		return nil
	})
	return out
}

func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, v := range after {
		if w, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		} else if w != v {
			t.Errorf("%s: %s changed", what, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: %s vanished", what, p)
		}
	}
}

func build(t *testing.T, o pipeline.Options) *pipeline.Result {
	t.Helper()
	res, err := pipeline.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func wantRefusal(t *testing.T, res *pipeline.Result, substrings ...string) {
	t.Helper()
	if !res.Report.IsFatal() {
		t.Fatalf("want a refusal, got:\n%s", res.Report)
	}
	for _, s := range substrings {
		if !strings.Contains(res.Report.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, res.Report)
		}
	}
}

// TestSeedModes (issue 11.1): a seed that carries keys is 0600 in both
// formats, also under umask 000; without TLS it stays 0644.
func TestSeedModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		name, patch, format, ext string
		mode                     os.FileMode
	}{
		{"tls iso", `{}`, pipeline.FormatISO, ".iso", 0o600},
		{"tls vfat", `{}`, pipeline.FormatVFAT, ".img", 0o600},
		{"plain iso", `{tls: {enabled: false}}`, pipeline.FormatISO, ".iso", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			o := opts(t, writeSpec(t, tc.patch), out)
			o.Format = tc.format
			mustBuild(t, o)
			for _, n := range []string{"etcd01", "etcd02", "etcd03"} {
				fi, err := os.Stat(filepath.Join(out, n+tc.ext))
				if err != nil || fi.Mode().Perm() != tc.mode {
					t.Errorf("%s%s: mode %v (%v), want %v", n, tc.ext, fi.Mode().Perm(), err, tc.mode)
				}
			}
			if tc.mode == 0o600 {
				for _, f := range []string{"ca.key", "admin.key", "nodes/etcd01/server.key"} {
					if fi, _ := os.Stat(filepath.Join(o.PKIDir, f)); fi.Mode().Perm() != 0o600 {
						t.Errorf("%s: mode %v", f, fi.Mode().Perm())
					}
				}
			}
		})
	}
}

// TestLinkedNodeFolderRefused (issue 11.7): with out/<node> -> /elsewhere,
// a rebuild is refused with the path before anything is written: nothing
// lands in /elsewhere, nothing in out or the PKI changes. The same for a
// linked nodes/<node> in the PKI, and a seed name that is a link.
func TestLinkedNodeFolderRefused(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	o := opts(t, writeSpec(t, `{}`), out)
	mustBuild(t, o)
	elsewhere := filepath.Join(root, "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	check := func(name, link string, want ...string) {
		t.Run(name, func(t *testing.T) {
			before := tree(t, root)
			res := build(t, o)
			wantRefusal(t, res, append(want, link)...)
			sameTree(t, name, before, tree(t, root))
			if es, _ := os.ReadDir(elsewhere); len(es) != 0 {
				t.Errorf("written through the link: %d entries in its target", len(es))
			}
			if fi, _ := os.Stat(elsewhere); fi.Mode().Perm() != 0o755 {
				t.Errorf("link target chmodded to %v", fi.Mode().Perm())
			}
		})
	}
	node := filepath.Join(out, "etcd02")
	os.RemoveAll(node)
	os.Symlink(elsewhere, node)
	check("out/<node>", node, "symbolic link")
	os.Remove(node)

	pkiNode := filepath.Join(o.PKIDir, "nodes", "etcd03")
	os.RemoveAll(pkiNode)
	os.Symlink(elsewhere, pkiNode)
	check("pki nodes/<node>", pkiNode, "symbolic link")
	os.Remove(pkiNode)

	seed := filepath.Join(out, "etcd01.iso")
	os.Remove(seed)
	os.Symlink(filepath.Join(elsewhere, "x.iso"), seed)
	check("seed", seed, "symbolic link")
	os.Remove(seed)

	// Once the links are gone the build goes through again.
	mustBuild(t, o)
}

// TestOutputFolderMayBeALink: the folder named by -o may itself be a link.
func TestOutputFolderMayBeALink(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	os.Mkdir(real, 0o755)
	link := filepath.Join(root, "out")
	os.Symlink(real, link)
	o := opts(t, writeSpec(t, `{}`), link)
	mustBuild(t, o)
	if _, err := os.Stat(filepath.Join(real, "etcd01", "user-data")); err != nil {
		t.Fatal(err)
	}
}

// TestStaleTempFilesRemoved (issue 11.8): leftovers of a killed build (a
// seed's temporary file, a cloud-init file's) are removed by the next
// build; files that only look similar stay.
func TestStaleTempFilesRemoved(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	o := opts(t, writeSpec(t, `{}`), out)
	mustBuild(t, o)
	stale := []string{
		".etcd01.iso" + durable.TempInfix + "0123456789ab", // this version's seed
		"etcd02.iso.tmp-iso123456",                         // earlier versions' seed
		"etcd03.img.tmp-iso-vfat99",
		".cluster.json.tmp-77",
		"etcd01/.user-data" + durable.TempInfix + "aa",
	}
	keep := []string{"notes.tmp", "etcd01/tmp-iso"}
	for _, f := range append(append([]string{}, stale...), keep...) {
		if err := os.WriteFile(filepath.Join(out, f), bytes.Repeat([]byte("x"), 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustBuild(t, o)
	for _, f := range stale {
		if _, err := os.Lstat(filepath.Join(out, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the next build", f)
		}
	}
	for _, f := range keep {
		if _, err := os.Lstat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s was removed", f)
		}
	}
}

// TestKilledBuildLeftoversRemoved (issue 11.8): a real build process killed
// while it writes its seeds leaves temporary files; the next build removes
// them and completes.
func TestKilledBuildLeftoversRemoved(t *testing.T) {
	if os.Getenv("ETCDIMG_RELEASE") == "" {
		t.Skip("needs ETCDIMG_RELEASE (a real-size tarball makes the seed writes long enough to interrupt)")
	}
	root := t.TempDir()
	out := filepath.Join(root, "out")
	o := opts(t, writeSpec(t, `{}`), out)
	o.Jsonnet.ExtStr["release"] = os.Getenv("ETCDIMG_RELEASE")
	o.Jsonnet.ExtStr["sha"] = sha256File(t, os.Getenv("ETCDIMG_RELEASE"))
	var leftovers []string
	for attempt := 0; attempt < 20 && len(leftovers) == 0; attempt++ {
		os.RemoveAll(out)
		cmd := helperBuild(t, o)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill as soon as a seed's temporary file shows up.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			m, _ := filepath.Glob(filepath.Join(out, ".*.iso"+durable.TempInfix+"*"))
			if len(m) > 0 {
				cmd.Process.Kill()
				break
			}
			time.Sleep(time.Millisecond)
		}
		cmd.Wait()
		leftovers, _ = filepath.Glob(filepath.Join(out, ".*.iso"+durable.TempInfix+"*"))
	}
	if len(leftovers) == 0 {
		t.Fatal("could not kill a build while it wrote a seed")
	}
	mustBuild(t, o)
	if m, _ := filepath.Glob(filepath.Join(out, ".*"+durable.TempInfix+"*")); len(m) != 0 {
		t.Errorf("left after the next build: %v", m)
	}
	for _, n := range []string{"etcd01", "etcd02", "etcd03"} {
		if _, err := isoread.Read(filepath.Join(out, n+".iso")); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// TestConcurrentBuildsOnePKI (issue 11.2): builds that disagree about the
// PKI (other node sets and IPs, other leaf algorithms, which force
// re-issues) run at once on one --pki-dir, as goroutines and as separate
// processes. Afterwards ca.key matches ca.crt, every certificate on disk
// verifies against ca.crt (Go and openssl), and every seed a build wrote
// carries that CA and certificates that verify against it and match the
// keys beside them.
func TestConcurrentBuildsOnePKI(t *testing.T) {
	root := t.TempDir()
	pkiDir := filepath.Join(root, "pki")
	patches := []string{
		`{}`,
		`{tls: {keyAlgorithm: 'rsa-2048'}}`,
		`{nodes: [{name: 'etcd01', ip: '192.168.0.21'}, {name: 'etcd02', ip: '192.168.0.22'}, {name: 'etcd04', ip: '192.168.0.24'}]}`,
		`{nodes: [{name: 'etcd01', ip: '192.168.0.31', extraSANs: ['x.example']}]}`,
	}
	var mu sync.Mutex
	var outs []string
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(patches))
	for i, patch := range patches {
		o := opts(t, writeSpec(t, patch), filepath.Join(root, fmt.Sprintf("out-g%d", i)))
		o.PKIDir = pkiDir
		o.Epoch = time.Time{}
		// As goroutines...
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := pipeline.Build(context.Background(), o)
			if err == nil && res.Report.IsFatal() {
				err = errors.New(res.Report.String())
			}
			if err != nil {
				errs <- fmt.Errorf("goroutine build %d: %v", i, err)
				return
			}
			mu.Lock()
			outs = append(outs, o.OutDir)
			mu.Unlock()
		}()
		// ...and as processes.
		po := o
		po.OutDir = filepath.Join(root, fmt.Sprintf("out-p%d", i))
		cmd := helperBuild(t, po)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("process build %d: %v\n%s", i, err, b)
				return
			}
			mu.Lock()
			outs = append(outs, po.OutDir)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	ca := parsePEMCert(t, caPEM)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := exec.LookPath("openssl"); err == nil {
		a, _ := exec.Command("openssl", "pkey", "-in", filepath.Join(pkiDir, "ca.key"), "-pubout").Output()
		b, _ := exec.Command("openssl", "x509", "-in", filepath.Join(pkiDir, "ca.crt"), "-noout", "-pubkey").Output()
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Error("openssl: ca.key does not match ca.crt")
		}
		certs, _ := filepath.Glob(filepath.Join(pkiDir, "nodes", "*", "*.crt"))
		certs = append(certs, filepath.Join(pkiDir, "admin.crt"))
		args := append([]string{"verify", "-CAfile", filepath.Join(pkiDir, "ca.crt")}, certs...)
		if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Errorf("openssl verify: %v\n%s", err, b)
		}
	}
	for _, out := range outs {
		seeds, _ := filepath.Glob(filepath.Join(out, "*.iso"))
		if len(seeds) == 0 {
			t.Errorf("%s: no seeds", out)
		}
		for _, s := range seeds {
			img, err := isoread.Read(s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img.Files["etcdimg/pki/ca.crt"], caPEM) {
				t.Errorf("%s carries a CA that is not ca.crt", s)
			}
			for _, name := range []string{"server", "peer", "healthcheck-client"} {
				c := parsePEMCert(t, img.Files["etcdimg/pki/"+name+".crt"])
				if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					t.Errorf("%s: %s.crt does not verify against ca.crt: %v", s, name, err)
				}
				if _, err := tlsPair(img.Files["etcdimg/pki/"+name+".crt"], img.Files["etcdimg/pki/"+name+".key"]); err != nil {
					t.Errorf("%s: %s key does not match: %v", s, name, err)
				}
			}
		}
	}
}

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("no PEM in %q", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// helperBuild returns a command that runs Build with o in a separate
// process (this test binary, TestHelperBuild).
func helperBuild(t *testing.T, o pipeline.Options) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBuild$")
	cmd.Env = append(os.Environ(),
		"ETCDIMG_HELPER_BUILD=1",
		"HB_SPEC="+o.Spec, "HB_OUT="+o.OutDir, "HB_PKI="+o.PKIDir, "HB_CACHE="+o.CacheDir,
		"HB_RELEASE="+o.Jsonnet.ExtStr["release"], "HB_SHA="+o.Jsonnet.ExtStr["sha"])
	return cmd
}

// TestHelperBuild is the body of helperBuild's process, not a test.
func TestHelperBuild(t *testing.T) {
	if os.Getenv("ETCDIMG_HELPER_BUILD") != "1" {
		t.Skip("helper process for other tests")
	}
	o := pipeline.Options{
		Spec:     os.Getenv("HB_SPEC"),
		Jsonnet:  jsonnet.Options{ExtStr: map[string]string{"release": os.Getenv("HB_RELEASE"), "sha": os.Getenv("HB_SHA")}},
		OutDir:   os.Getenv("HB_OUT"),
		PKIDir:   os.Getenv("HB_PKI"),
		CacheDir: os.Getenv("HB_CACHE"),
		Parallel: 1,
	}
	res, err := pipeline.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.IsFatal() {
		t.Fatal(res.Report.String())
	}
}

// TestFailsBeforeWriting (issue 11.4, the parts outside the spec): a
// SOURCE_DATE_EPOCH a seed cannot record, an unknown format, an output
// folder that cannot be written and an output folder inside the PKI folder
// or the other way round are all found before anything exists on disk.
func TestFailsBeforeWriting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch func(o *pipeline.Options, root string)
		want  string
	}{
		{"epoch after 2155", func(o *pipeline.Options, _ string) { o.Epoch = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) }, "SOURCE_DATE_EPOCH"},
		{"epoch before 1980 for vfat", func(o *pipeline.Options, _ string) {
			o.Epoch, o.Format = time.Date(1979, 1, 1, 0, 0, 0, 0, time.UTC), pipeline.FormatVFAT
		}, "1980-2107"},
		{"format zip", func(o *pipeline.Options, _ string) { o.Format = "zip" }, `unknown seed format "zip"`},
		{"output under a file", func(o *pipeline.Options, root string) {
			os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
			o.OutDir = filepath.Join(root, "file", "out")
		}, "not a directory"},
		{"pki inside output", func(o *pipeline.Options, _ string) { o.PKIDir = filepath.Join(o.OutDir, "pki") }, "the CA key would sit among the seeds"},
		{"pki is output", func(o *pipeline.Options, _ string) { o.PKIDir = o.OutDir }, "the CA key would sit among the seeds"},
		{"output inside pki", func(o *pipeline.Options, _ string) { o.OutDir = filepath.Join(o.PKIDir, "seeds") }, "is inside the PKI folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			o := opts(t, writeSpec(t, `{}`), filepath.Join(root, "out"))
			tc.patch(&o, root)
			before := tree(t, root)
			res := build(t, o)
			wantRefusal(t, res, tc.want)
			sameTree(t, tc.name, before, tree(t, root))
		})
	}
	t.Run("read-only output folder", func(t *testing.T) {
		root := t.TempDir()
		ro := filepath.Join(root, "ro")
		os.Mkdir(ro, 0o755)
		if os.Geteuid() == 0 {
			// root ignores permission bits; an immutable folder stops it.
			if b, err := exec.Command("chattr", "+i", ro).CombinedOutput(); err != nil {
				t.Skipf("chattr +i: %v %s", err, b)
			}
			defer exec.Command("chattr", "-i", ro).Run()
		} else {
			os.Chmod(ro, 0o555)
		}
		o := opts(t, writeSpec(t, `{}`), filepath.Join(ro, "out"))
		o.PKIDir = filepath.Join(root, "pki")
		before := tree(t, root)
		res := build(t, o)
		wantRefusal(t, res, "cannot write into "+ro)
		sameTree(t, "read-only", before, tree(t, root))
	})
}

// TestWarningsOneLine (issue 11.10): a PKI warning is one line with the
// file's path, not "warning: tls: warning ca.key: …".
func TestWarningsOneLine(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	o := opts(t, writeSpec(t, `{}`), out)
	mustBuild(t, o)
	os.Chmod(filepath.Join(o.PKIDir, "ca.key"), 0o644)
	res := mustBuild(t, o)
	var got []string
	for _, e := range res.Report.Entries {
		if e.Path == "tls" {
			got = append(got, e.String())
		}
	}
	want := "warning: tls: " + filepath.Join(o.PKIDir, "ca.key") + ": key permissions 0644 allow group/other access; tightening to 0600"
	if len(got) != 1 || !strings.HasPrefix(got[0], want) || strings.Contains(got[0], "\n") {
		t.Errorf("warnings:\n%s\nwant one line starting %q", strings.Join(got, "\n"), want)
	}
}

// TestRenderRefusesForeignFolder (issue 11.9): render -o follows build's
// rule: a non-empty folder etcdimg did not create is not written.
func TestRenderRefusesForeignFolder(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "thesis.tex"), []byte("precious"), 0o644)
	before := tree(t, out)
	err := pipeline.WriteRendered(out, nil, false)
	if err == nil || !strings.Contains(err.Error(), "pass --force") {
		t.Fatalf("err %v", err)
	}
	sameTree(t, "render", before, tree(t, out))
}

func tlsPair(cert, key []byte) (tls.Certificate, error) { return tls.X509KeyPair(cert, key) }

func sha256File(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestBuildWaitsForPKILock (issue 11.2): a build whose PKI folder another
// run holds says it waits and, past the timeout, fails clearly naming the
// folder, having written nothing.
func TestBuildWaitsForPKILock(t *testing.T) {
	root := t.TempDir()
	o := opts(t, writeSpec(t, `{}`), filepath.Join(root, "out"))
	held, err := pki.Lock(o.PKIDir, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	var waited []string
	o.OnWait = func(folder string) { waited = append(waited, folder) }
	o.LockTimeout = 300 * time.Millisecond
	// The release's layout stamp is a cache, outside what is compared.
	o.CacheDir = t.TempDir()
	before := tree(t, root)
	res := build(t, o)
	wantRefusal(t, res, o.PKIDir, "in use by another etcdimg run")
	if len(waited) != 1 || waited[0] != o.PKIDir {
		t.Errorf("OnWait calls %v", waited)
	}
	sameTree(t, "locked", before, tree(t, root))
	// Released, the same build goes through.
	held.Unlock()
	o.OnWait = nil
	mustBuild(t, o)
}
