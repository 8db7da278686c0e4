package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testVersion = "3.6.16"

type entry struct {
	name string
	mode int64
	typ  byte
	body string
}

func goodEntries(dir string) []entry {
	return []entry{
		{name: dir + "/", mode: 0o755, typ: tar.TypeDir},
		{name: dir + "/README-etcdctl.md", mode: 0o644, body: "# etcdctl\n"},
		{name: dir + "/etcd", mode: 0o755, body: elfBody("amd64", "fake etcd")},
		{name: dir + "/etcdctl", mode: 0o755, body: elfBody("amd64", "fake etcdctl")},
		{name: dir + "/etcdutl", mode: 0o755, body: elfBody("amd64", "fake etcdutl")},
	}
}

func tarGz(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: typ, ModTime: time.Unix(0, 0)}
		switch typ {
		case tar.TypeReg:
			hdr.Size = int64(len(e.body))
		case tar.TypeSymlink:
			hdr.Linkname = e.body
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeTarball writes data under the canonical name, as the build script
// would, and returns its path and sha256.
func writeTarball(t *testing.T, data []byte) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), FileName(testVersion, "amd64"))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, sum(data)
}

func TestOpenGood(t *testing.T) {
	data := tarGz(t, goodEntries(DirName(testVersion, "amd64")))
	p, s := writeTarball(t, data)

	// The expected sum is accepted in upper case and with a "v" version, as
	// people paste them from release pages.
	r, err := Open(p, "v"+testVersion, "amd64", strings.ToUpper(s))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := Release{
		Version: testVersion,
		Arch:    "amd64",
		Name:    "etcd-v3.6.16-linux-amd64.tar.gz",
		Path:    p,
		SHA256:  s,
		Size:    int64(len(data)),
		Dir:     "etcd-v3.6.16-linux-amd64",
	}
	if *r != want {
		t.Errorf("Open = %+v, want %+v", *r, want)
	}
}

func TestOpenDotSlashEntries(t *testing.T) {
	// `tar -C dir .` style archives prefix every entry with "./".
	var es []entry
	for _, e := range goodEntries(DirName(testVersion, "amd64")) {
		e.name = "./" + e.name
		es = append(es, e)
	}
	es = append([]entry{{name: "./", mode: 0o755, typ: tar.TypeDir}}, es...)
	p, s := writeTarball(t, tarGz(t, es))
	if _, err := Open(p, testVersion, "amd64", s); err != nil {
		t.Fatalf("Open: %v", err)
	}
}

func TestOpenBad(t *testing.T) {
	dir := DirName(testVersion, "amd64")
	without := func(name string) []entry {
		var es []entry
		for _, e := range goodEntries(dir) {
			if e.name != dir+"/"+name {
				es = append(es, e)
			}
		}
		return es
	}
	with := func(name string, change func(*entry)) []entry {
		es := goodEntries(dir)
		for i := range es {
			if es[i].name == dir+"/"+name {
				change(&es[i])
			}
		}
		return es
	}
	good := tarGz(t, goodEntries(dir))

	tests := []struct {
		name string
		data []byte
		// sum overrides the real sha256 of data when set.
		sum     string
		wantErr []string
	}{
		{
			name:    "missing etcdutl",
			data:    tarGz(t, without("etcdutl")),
			wantErr: []string{"missing etcd-v3.6.16-linux-amd64/etcdutl", "make etcd-release"},
		},
		{
			name:    "wrong top folder",
			data:    tarGz(t, goodEntries("etcd-v3.6.15-linux-amd64")),
			wantErr: []string{"top folder is etcd-v3.6.15-linux-amd64, want etcd-v3.6.16-linux-amd64"},
		},
		{
			name:    "arm64 tarball",
			data:    tarGz(t, goodEntries("etcd-v3.6.16-linux-arm64")),
			wantErr: []string{"top folder is etcd-v3.6.16-linux-arm64"},
		},
		{
			name:    "not executable",
			data:    tarGz(t, with("etcdctl", func(e *entry) { e.mode = 0o644 })),
			wantErr: []string{"etcd-v3.6.16-linux-amd64/etcdctl is not executable (mode 0644)", "0755"},
		},
		{
			name:    "symlink",
			data:    tarGz(t, with("etcd", func(e *entry) { e.typ = tar.TypeSymlink; e.body = "/usr/bin/etcd" })),
			wantErr: []string{"etcd-v3.6.16-linux-amd64/etcd is not a regular file"},
		},
		{
			name:    "directory named etcd",
			data:    tarGz(t, with("etcd", func(e *entry) { e.typ = tar.TypeDir; e.name += "/" })),
			wantErr: []string{"etcd-v3.6.16-linux-amd64/etcd is not a regular file"},
		},
		{
			name:    "binary one folder too deep",
			data:    tarGz(t, append(without("etcd"), entry{name: dir + "/bin/etcd", mode: 0o755, body: "x"})),
			wantErr: []string{"missing etcd-v3.6.16-linux-amd64/etcd;"},
		},
		{
			name:    "empty archive",
			data:    tarGz(t, nil),
			wantErr: []string{"the archive is empty"},
		},
		{
			name:    "path traversal",
			data:    tarGz(t, append(goodEntries(dir), entry{name: "../evil", mode: 0o644, body: "x"})),
			wantErr: []string{`unsafe tar entry "../evil"`},
		},
		{
			name:    "bad sha",
			data:    good,
			sum:     strings.Repeat("ab", 32),
			wantErr: []string{"sha256 is " + sum(good), "want " + strings.Repeat("ab", 32)},
		},
		{
			name:    "short sha",
			data:    good,
			sum:     "abc123",
			wantErr: []string{`expected sha256 "abc123" is not 64 hex characters`},
		},
		{
			name:    "non-hex sha",
			data:    good,
			sum:     strings.Repeat("zz", 32),
			wantErr: []string{"is not 64 hex characters"},
		},
		{
			name:    "not gzip",
			data:    []byte("<html>404 not found</html>"),
			wantErr: []string{"not a gzip file"},
		},
		{
			// The sum matches the corrupt bytes, so this is caught by the
			// layout check, as a tarball corrupted before it was summed is.
			name:    "corrupt gzip body",
			data:    corrupt(good),
			wantErr: []string{"corrupt tar.gz"},
		},
		{
			name:    "truncated gzip",
			data:    good[:len(good)-6],
			wantErr: []string{"corrupt tar.gz"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, s := writeTarball(t, tt.data)
			if tt.sum != "" {
				s = tt.sum
			}
			r, err := Open(p, testVersion, "amd64", s)
			if err == nil {
				t.Fatalf("Open succeeded with %+v, want an error", r)
			}
			msg := err.Error()
			for _, w := range tt.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if !strings.HasPrefix(msg, "release ") {
				t.Errorf("error %q does not start with \"release \"", msg)
			}
		})
	}
}

// corrupt flips bytes in the middle of the deflate stream while keeping the
// gzip header intact.
func corrupt(b []byte) []byte {
	c := bytes.Clone(b)
	for i := len(c) / 2; i < len(c)/2+8 && i < len(c)-8; i++ {
		c[i] ^= 0xff
	}
	return c
}

func TestOpenMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName(testVersion, "amd64"))
	_, err := Open(p, testVersion, "amd64", strings.Repeat("0", 64))
	if err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "make etcd-release") {
		t.Fatalf("Open of a missing file = %v, want an error saying how to build it", err)
	}
}

func TestOpenChecksumErrorType(t *testing.T) {
	p, _ := writeTarball(t, tarGz(t, goodEntries(DirName(testVersion, "amd64"))))
	_, err := Open(p, testVersion, "amd64", strings.Repeat("0", 64))
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %v, want a *ChecksumError", err)
	}
}

func TestCleanEntryName(t *testing.T) {
	for in, want := range map[string]string{
		"a/b":     "a/b",
		"./a/b":   "a/b",
		"a/":      "a",
		"./":      "",
		"a/../b":  "b",
		"a//b/./": "a/b",
	} {
		got, err := CleanEntryName(in)
		if err != nil || got != want {
			t.Errorf("CleanEntryName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/etc/passwd", "..", "../x", "a/../../x"} {
		if got, err := CleanEntryName(in); err == nil {
			t.Errorf("CleanEntryName(%q) = %q, want an error", in, got)
		}
	}
}

var realName = regexp.MustCompile(`^etcd-v(.+)-linux-amd64\.tar\.gz$`)

// TestOpenReal checks a tarball made by scripts/etcd-release.sh; the version
// comes from its name and the expected sum from the .sha256 file beside it.
func TestOpenReal(t *testing.T) {
	p := os.Getenv("ETCDIMG_RELEASE")
	if p == "" {
		t.Skip("ETCDIMG_RELEASE is not set; run scripts/etcd-release.sh and set ETCDIMG_RELEASE to the tarball it writes (e.g. out/etcd-release/etcd-v3.6.16-linux-amd64.tar.gz)")
	}
	if !filepath.IsAbs(p) {
		// Relative to the repo root, like etcdtest.Release; go test runs
		// this from release/. (Importing etcdtest here would be a cycle.)
		p = filepath.Join("..", p)
	}
	m := realName.FindStringSubmatch(filepath.Base(p))
	if m == nil {
		t.Fatalf("ETCDIMG_RELEASE=%s: name is not etcd-vVERSION-linux-amd64.tar.gz", p)
	}
	sumLine, err := os.ReadFile(p + ".sha256")
	if err != nil {
		t.Fatalf("ETCDIMG_RELEASE=%s: %v (the build script writes it next to the tarball)", p, err)
	}
	want := strings.Fields(string(sumLine))
	if len(want) == 0 {
		t.Fatalf("%s.sha256 is empty", p)
	}
	r, err := Open(p, m[1], "amd64", want[0])
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if r.Size < 1<<20 {
		t.Errorf("Size = %d, implausibly small for an etcd release", r.Size)
	}
	t.Logf("%s: version %s, %d bytes, sha256 %s", r.Path, r.Version, r.Size, r.SHA256)

	// A neighbouring version must be refused by its top folder, not pass.
	if _, err := Open(p, m[1]+"0", "amd64", want[0]); err == nil || !strings.Contains(err.Error(), "top folder") {
		t.Errorf("Open with the wrong version = %v, want a top folder error", err)
	}
}

// TestOpenSpecialFiles (issue 11.3): a device or a FIFO given as the
// release (--etcd-release, etcd.release.path) fails at once, naming it.
func TestOpenSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "etcd.tar.gz")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dev/zero", fifo, t.TempDir()} {
		done := make(chan error, 1)
		go func() { _, err := OpenCached(p, "3.6.16", "amd64", strings.Repeat("a", 64), ""); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: hangs", p)
		}
	}
}
