package images

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/etcdimg/etcdimg/internal/durable"
)

// noWrites fails the test if anything reaches it: validation errors must
// come before the first byte.
type noWrites struct{ t *testing.T }

func (w noWrites) Write(p []byte) (int, error) {
	w.t.Errorf("unexpected write of %d bytes", len(p))
	return len(p), nil
}

func TestValidation(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "src", []byte("x"))
	huge := filepath.Join(dir, "huge")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: takes no space, but Stat says 4 GiB.
	if err := f.Truncate(MaxFileSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	data := []byte("x")
	long := strings.Repeat("n", MaxNameBytes+1)

	cases := []struct {
		name   string
		files  []File
		opts   Options
		errHas string // must appear in the message, with the path
	}{
		{"duplicate", []File{{Path: "a/b", Data: data}, {Path: "a/b", Data: data}}, Options{}, `"a/b": duplicate path`},
		{"file then dir", []File{{Path: "a", Data: data}, {Path: "a/b", Data: data}}, Options{}, `"a/b": "a" is both a file and a directory`},
		{"dir then file", []File{{Path: "a/b", Data: data}, {Path: "a", Data: data}}, Options{}, `"a": path is both a file and a directory`},
		{"empty path", []File{{Path: "", Data: data}}, Options{}, "empty path"},
		{"absolute", []File{{Path: "/etc/passwd", Data: data}}, Options{}, `"/etc/passwd": absolute path`},
		{"dot dot", []File{{Path: "a/../b", Data: data}}, Options{}, `"a/../b": path component ".." not allowed`},
		{"dot", []File{{Path: "./b", Data: data}}, Options{}, `"./b": path component "." not allowed`},
		{"empty component", []File{{Path: "a//b", Data: data}}, Options{}, `"a//b": empty path component`},
		{"trailing slash", []File{{Path: "a/", Data: data}}, Options{}, `"a/": empty path component`},
		{"long name", []File{{Path: "d/" + long, Data: data}}, Options{}, "is longer than 100 bytes"},
		{"long dir name", []File{{Path: long + "/f", Data: data}}, Options{}, "is longer than 100 bytes"},
		{"too deep", []File{{Path: "1/2/3/4/5/6/7/8/f", Data: data}}, Options{}, `"1/2/3/4/5/6/7/8/f": more than 8 directory levels`},
		{"bad utf-8", []File{{Path: "a\xff", Data: data}}, Options{}, "not valid utf-8"},
		{"both", []File{{Path: "a", Data: data, SourcePath: src}}, Options{}, `"a": both data and source path set`},
		{"neither", []File{{Path: "a"}}, Options{}, `"a": neither data nor source path set`},
		{"missing source", []File{{Path: "a", SourcePath: filepath.Join(dir, "nope")}}, Options{}, `"a": source: stat`},
		{"source is a dir", []File{{Path: "a", SourcePath: dir}}, Options{}, "is not a regular file"},
		{"4 GiB", []File{{Path: "big.img", SourcePath: huge}}, Options{}, `"big.img": size 4294967296 is not below the 4 GiB limit`},
		{"mode type bits", []File{{Path: "a", Mode: fs.ModeDir | 0o755, Data: data}}, Options{}, `"a": mode`},
		{"volume id", []File{{Path: "a", Data: data}}, Options{VolumeID: strings.Repeat("v", 33)}, "volume id"},
		{"volume id ascii", []File{{Path: "a", Data: data}}, Options{VolumeID: "cidätä"}, "not printable ascii"},
		{"publisher", []File{{Path: "a", Data: data}}, Options{Publisher: strings.Repeat("p", 129)}, "publisher"},
		{"mod time", []File{{Path: "a", Data: data}}, Options{ModTime: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}, "outside 1900-2155"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Write(noWrites{t}, c.files, c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if n != 0 {
				t.Errorf("reported %d bytes written", n)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.errHas) {
				t.Errorf("error %q does not contain %q", msg, c.errHas)
			}
			if !strings.HasPrefix(msg, "images: ") || unicode.IsUpper([]rune(strings.TrimPrefix(msg, "images: "))[0]) {
				t.Errorf("error %q is not a lower-case images: message", msg)
			}
			if _, err := Size(c.files, c.opts); err == nil {
				t.Error("Size accepted what Write refused")
			}
		})
	}

	// Just below the limits is fine.
	okFiles := []File{
		{Path: "d/" + strings.Repeat("n", MaxNameBytes), Data: data},
		{Path: "1/2/3/4/5/6/7/f", Data: data},
	}
	if _, err := Size(okFiles, Options{}); err != nil {
		t.Errorf("limits refused: %v", err)
	}
	if err := os.Truncate(huge, MaxFileSize-1); err != nil {
		t.Fatal(err)
	}
	if n, err := Size([]File{{Path: "big.img", SourcePath: huge}}, Options{}); err != nil || n < MaxFileSize {
		t.Errorf("4 GiB - 1 refused: %d %v", n, err)
	}
}

func TestDeterministic(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	var a, b bytes.Buffer
	if _, err := Write(&a, fx.files, testOpts); err != nil {
		t.Fatal(err)
	}
	// Input order must not matter: reverse it.
	rev := slices.Clone(fx.files)
	slices.Reverse(rev)
	if _, err := Write(&b, rev, testOpts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes (one with reversed input) differ")
	}
	// WriteFile to a real file gives the same bytes as Write to a buffer.
	path := filepath.Join(t.TempDir(), "seed.iso")
	if err := WriteFile(path, fx.files, testOpts); err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), c) {
		t.Fatal("WriteFile differs from Write")
	}
	n, err := Size(fx.files, testOpts)
	if err != nil || n != int64(a.Len()) {
		t.Errorf("Size %d %v, Write wrote %d", n, err, a.Len())
	}

	// Another ModTime: other bytes, same content.
	other := testOpts
	other.ModTime = testOpts.ModTime.Add(24 * time.Hour)
	path2 := filepath.Join(t.TempDir(), "other.iso")
	if err := WriteFile(path2, fx.files, other); err != nil {
		t.Fatal(err)
	}
	d, err := os.ReadFile(path2)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c, d) || len(c) != len(d) {
		t.Fatalf("other ModTime: equal=%v, sizes %d and %d", bytes.Equal(c, d), len(c), len(d))
	}
	first, second := readWithDiskfs(t, path), readWithDiskfs(t, path2)
	compareTree(t, "other ModTime", first, second)
	if len(first) != len(fx.want) {
		t.Errorf("read back %d files, want %d", len(first), len(fx.want))
	}

	// The zero ModTime means the fixed default, not the clock.
	zero := testOpts
	zero.ModTime = time.Time{}
	var e, f bytes.Buffer
	if _, err := Write(&e, fx.files[:3], zero); err != nil {
		t.Fatal(err)
	}
	def := testOpts
	def.ModTime = DefaultModTime
	if _, err := Write(&f, fx.files[:3], def); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Bytes(), f.Bytes()) {
		t.Error("zero ModTime is not DefaultModTime")
	}
	// Same instant in another zone: same bytes (everything is UTC).
	zoned := testOpts
	zoned.ModTime = testOpts.ModTime.In(time.FixedZone("x", 5*3600+1800))
	var g bytes.Buffer
	if _, err := Write(&g, fx.files, zoned); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), g.Bytes()) {
		t.Error("the ModTime's zone changed the bytes")
	}
}

var errInjected = errors.New("injected failure")

// failAfter accepts limit bytes, then fails.
type failAfter struct {
	limit, n int64
}

func (w *failAfter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) <= w.limit {
		w.n += int64(len(p))
		return len(p), nil
	}
	k := w.limit - w.n
	w.n = w.limit
	return int(k), errInjected
}

// shortWriter claims success while taking less than it was given.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return len(p) - 1, nil
}

func TestWriteErrors(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	total, err := Size(fx.files, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	// Failures in the system area, the descriptors, the path tables, the
	// directories, Data files and SourcePath files (the payload is large, so
	// total/2 lands in it), and at the last byte.
	for _, limit := range []int64{0, 100, 16*sectorSize + 10, 19*sectorSize + 1, 30 * sectorSize, total / 2, total - 1} {
		w := &failAfter{limit: limit}
		n, err := Write(w, fx.files, testOpts)
		if !errors.Is(err, errInjected) {
			t.Errorf("limit %d: error %v, want the injected one", limit, err)
		}
		if n != limit {
			t.Errorf("limit %d: reported %d bytes", limit, n)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "images: ") {
			t.Errorf("limit %d: error %q lacks context", limit, err)
		}
	}
	if _, err := Write(shortWriter{}, fx.files, testOpts); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short writer: %v, want io.ErrShortWrite", err)
	}

	// A real *os.File that cannot take the data.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Logf("no /dev/full, skipping that case: %v", err)
		return
	}
	defer full.Close()
	if _, err := Write(full, fx.files, testOpts); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing to /dev/full: %v, want ENOSPC", err)
	}
}

func TestWriteFile(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "seed.iso")
	old := syscall.Umask(0o077)
	err := WriteFile(path, fx.files[:5], testOpts)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o644 {
		t.Errorf("mode %v, want 0644 whatever the umask", st.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %v, want only seed.iso", names(entries))
	}
	// Overwriting works and leaves nothing else either.
	if err := WriteFile(path, fx.files, testOpts); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after overwrite: %v", names(entries))
	}
	// Issue 11.1: a seed with keys is written owner-only, also under umask 000.
	old = syscall.Umask(0)
	keyOpts := testOpts
	keyOpts.FileMode = 0o600
	err = WriteFile(path, fx.files[:5], keyOpts)
	syscall.Umask(old)
	if st, serr := os.Stat(path); err != nil || serr != nil || st.Mode() != 0o600 {
		t.Errorf("FileMode 0600 under umask 000: mode %v, err %v", st.Mode(), err)
	}
	// A bare file name writes into the working directory.
	t.Chdir(t.TempDir())
	if err := WriteFile("bare.iso", fx.files[:1], testOpts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("bare.iso"); err != nil {
		t.Error(err)
	}
}

func names(es []os.DirEntry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name())
	}
	return s
}

// TestWriteFileFailures checks that a failed WriteFile leaves the target as
// it was and nothing beside it.
func TestWriteFileFailures(t *testing.T) {
	checkWriteFailures(t, "seed.iso",
		func(target string, files []File) error { return WriteFile(target, files, testOpts) },
		func(files []File) (fileWriter, error) { return newPlan(files, testOpts) })
	t.Run("missing folder", func(t *testing.T) {
		err := WriteFile(filepath.Join(t.TempDir(), "no", "seed.iso"), failureFiles(writeSource(t, t.TempDir(), "s", []byte("s"))), testOpts)
		if err == nil {
			t.Fatal("no error")
		}
	})
}

// fileWriter is the second half of a write, after layout: the ISO and FAT
// plans both have it, so a test can change a source in between.
type fileWriter interface {
	writeFile(target string, mode fs.FileMode) error
}

// checkWriteFailures runs the failures every image format must survive with
// the old target intact and nothing left beside it: a source that is
// missing, grows, shrinks or vanishes between layout and copy, and a target
// that cannot be renamed over.
func checkWriteFailures(t *testing.T, name string, write func(string, []File) error, plan func([]File) (fileWriter, error)) {
	const oldContent = "previous image"
	setup := func(t *testing.T) (dir, target, src string) {
		dir = t.TempDir()
		target = filepath.Join(dir, name)
		if err := os.WriteFile(target, []byte(oldContent), 0o644); err != nil {
			t.Fatal(err)
		}
		src = filepath.Join(t.TempDir(), "payload")
		if err := os.WriteFile(src, pseudoRandom(3<<20, 9), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir, target, src
	}
	untouched := func(t *testing.T, dir, target string) {
		t.Helper()
		b, err := os.ReadFile(target)
		if err != nil || string(b) != oldContent {
			t.Errorf("target changed: %q %v", b, err)
		}
		if es, _ := os.ReadDir(dir); len(es) != 1 {
			t.Errorf("left behind: %v", names(es))
		}
	}
	t.Run("missing source", func(t *testing.T) {
		dir, target, src := setup(t)
		os.Remove(src)
		err := write(target, failureFiles(src))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `"payload/big.bin"`) {
			t.Fatalf("error %v, want a not-exist error naming the file", err)
		}
		untouched(t, dir, target)
	})
	for _, change := range []struct {
		name, errHas string
		do           func(path string) error
	}{
		{"source grew", "grew past", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := f.Write([]byte("more")); err != nil {
				return err
			}
			return f.Close()
		}},
		{"source shrank", "copied 1048576 bytes, planned 3145728", func(p string) error { return os.Truncate(p, 1<<20) }},
		{"source removed", "open source", os.Remove},
	} {
		t.Run(change.name, func(t *testing.T) {
			dir, target, src := setup(t)
			p, err := plan(failureFiles(src))
			if err != nil {
				t.Fatal(err)
			}
			if err := change.do(src); err != nil {
				t.Fatal(err)
			}
			err = p.writeFile(target, 0o644)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), `"payload/big.bin"`) || !strings.Contains(err.Error(), change.errHas) {
				t.Errorf("error %q does not name the file or lacks %q", err, change.errHas)
			}
			untouched(t, dir, target)
		})
	}
	t.Run("target is a directory", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, name)
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		err := write(target, failureFiles(writeSource(t, t.TempDir(), "s", []byte("s"))))
		if err == nil || !strings.Contains(err.Error(), target) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("error %v, want a refusal naming %s", err, target)
		}
		if es, _ := os.ReadDir(dir); len(es) != 1 {
			t.Errorf("left behind: %v", names(es))
		}
	})
	// Issue 11.7: a seed name that is a link, or a folder that is one, is
	// refused; the link's target is neither written nor chmodded.
	t.Run("target or folder is a link", func(t *testing.T) {
		root := t.TempDir()
		elsewhere := filepath.Join(root, "elsewhere")
		os.Mkdir(elsewhere, 0o755)
		victim := filepath.Join(elsewhere, "victim")
		os.WriteFile(victim, []byte(oldContent), 0o640)
		out := filepath.Join(root, "out")
		os.Mkdir(out, 0o755)
		os.Symlink(victim, filepath.Join(out, name))
		os.Symlink(elsewhere, filepath.Join(out, "k8s01"))
		src := writeSource(t, t.TempDir(), "s", []byte("s"))
		for _, target := range []string{filepath.Join(out, name), filepath.Join(out, "k8s01", name)} {
			if err := write(target, failureFiles(src)); !errors.Is(err, durable.ErrSymlink) {
				t.Errorf("%s: error %v, want a refusal to write through a link", target, err)
			}
		}
		b, _ := os.ReadFile(victim)
		st, _ := os.Stat(victim)
		if string(b) != oldContent || st.Mode().Perm() != 0o640 {
			t.Errorf("link target changed: %q %v", b, st.Mode())
		}
		if es, _ := os.ReadDir(elsewhere); len(es) != 1 {
			t.Errorf("written beside the link target: %v", names(es))
		}
	})
}

func failureFiles(src string) []File {
	return []File{
		{Path: "user-data", Mode: 0o444, Data: []byte("#cloud-config\n")},
		{Path: "payload/big.bin", Mode: 0o444, SourcePath: src},
		{Path: "z-after", Mode: 0o444, Data: []byte("after the payload")},
	}
}
