package images

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// The tests in this file read the fixture image back with the tools that
// will meet it in practice. A missing tool skips its test (say so, never
// pass silently); install them with: apt-get install -y xorriso genisoimage p7zip-full

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install -y xorriso genisoimage p7zip-full)", name)
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// lsMode renders st_mode like ls -l.
func lsMode(m uint32) string {
	b := []byte("----------")
	if m&0o170000 == 0o040000 {
		b[0] = 'd'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(bit uint32, pos int, set, unset byte) {
		if m&bit != 0 {
			if b[pos] == '-' {
				b[pos] = unset
			} else {
				b[pos] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

type lsEntry struct {
	mode     string
	uid, gid uint32
	size     int64
}

// wantListing is every file and directory of the fixture as ls shows it.
func wantListing(fx *fixture) map[string]lsEntry {
	out := map[string]lsEntry{}
	for _, f := range fx.files {
		out[f.Path] = lsEntry{lsMode(posixMode(&node{file: &f})), f.UID, f.GID, int64(len(fx.want[f.Path]))}
		for d := filepath.ToSlash(filepath.Dir(f.Path)); d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
			out[d] = lsEntry{mode: "dr-xr-xr-x", size: -1}
		}
	}
	return out
}

func compareListing(t *testing.T, tool string, want, got map[string]lsEntry) {
	t.Helper()
	for _, p := range sortedKeys(want) {
		g, ok := got[p]
		w := want[p]
		switch {
		case !ok:
			t.Errorf("%s: %s not listed", tool, p)
		case g.mode != w.mode || g.uid != w.uid || g.gid != w.gid || (w.size >= 0 && g.size != w.size):
			t.Errorf("%s: %s is %s %d:%d size %d, want %s %d:%d size %d", tool, p, g.mode, g.uid, g.gid, g.size, w.mode, w.uid, w.gid, w.size)
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected %s", tool, p)
		}
	}
}

var xorrisoLine = regexp.MustCompile(`^([-a-zA-Z]{10})\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+.*'/(.*)'$`)

func TestXorriso(t *testing.T) {
	needTool(t, "xorriso")
	fx, img := builtImage(t)

	t.Run("lsdl", func(t *testing.T) {
		out := run(t, "xorriso", "-indev", img, "-find", "/", "-exec", "lsdl")
		got := map[string]lsEntry{}
		for _, line := range strings.Split(string(out), "\n") {
			m := xorrisoLine.FindStringSubmatch(line)
			if m == nil || m[5] == "" { // "" is the root
				continue
			}
			uid, _ := strconv.ParseUint(m[2], 10, 32)
			gid, _ := strconv.ParseUint(m[3], 10, 32)
			size, _ := strconv.ParseInt(m[4], 10, 64)
			if m[1][0] == 'd' {
				size = -1
			}
			got[m[5]] = lsEntry{m[1], uint32(uid), uint32(gid), size}
		}
		compareListing(t, "xorriso lsdl", wantListing(fx), got)
	})

	extract := func(t *testing.T, readFS string) map[string][]byte {
		dir := t.TempDir()
		out := filepath.Join(dir, "x")
		run(t, "xorriso", "-read_fs", readFS, "-osirrox", "on", "-indev", img, "-extract", "/", out)
		got := readTree(t, out)
		// Extracted directories are read-only (0555, as recorded); let
		// TempDir's cleanup remove them.
		filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		return got
	}
	t.Run("extract rock ridge", func(t *testing.T) {
		compareTree(t, "xorriso extract", fx.want, extract(t, "any"))
	})
	t.Run("extract joliet", func(t *testing.T) {
		compareTree(t, "xorriso joliet extract", remap(fx.want, jolietPaths(t, fx.files)), extract(t, "norock"))
	})
	t.Run("extract ecma119", func(t *testing.T) {
		compareTree(t, "xorriso ecma119 extract", remap(fx.want, isoPaths(t, fx.files)), extract(t, "ecma119"))
	})
}

// isoinfoLine matches a listing line; the name follows "]  " and ends
// with one space.
var isoinfoLine = regexp.MustCompile(`^([-a-zA-Z]{10})\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+\w{3}\s+\d+\s+\d{4}\s+\[\s*\d+\s+\d+\]  (.*) $`)

// isoinfoListing parses isoinfo -l output into path -> entry. isoinfo
// prints uid and gid in octal.
func isoinfoListing(t *testing.T, out []byte) map[string]lsEntry {
	t.Helper()
	got := map[string]lsEntry{}
	dir := ""
	for _, line := range strings.Split(string(out), "\n") {
		if d, ok := strings.CutPrefix(line, "Directory listing of /"); ok {
			dir = strings.TrimSuffix(d, "/")
			continue
		}
		m := isoinfoLine.FindStringSubmatch(line)
		if m == nil || m[5] == "." || m[5] == ".." {
			continue
		}
		uid, err1 := strconv.ParseUint(m[2], 8, 32)
		gid, err2 := strconv.ParseUint(m[3], 8, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("isoinfo owner not octal in %q", line)
		}
		size, _ := strconv.ParseInt(m[4], 10, 64)
		if m[1][0] == 'd' {
			size = -1
		}
		got[joinPath(dir, m[5])] = lsEntry{m[1], uint32(uid), uint32(gid), size}
	}
	return got
}

func TestIsoinfo(t *testing.T) {
	needTool(t, "isoinfo")
	fx, img := builtImage(t)
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("descriptor", func(t *testing.T) {
		out := string(run(t, "isoinfo", "-d", "-i", img))
		for _, want := range []string{
			"Volume id: cidata\n",
			"Publisher id: etcdimg tests\n",
			"Application id: etcdimg\n",
			"Logical block size is: 2048\n",
			fmt.Sprintf("Volume size is: %d\n", st.Size()/2048),
			"Joliet with UCS level 3 found",
			"Rock Ridge signatures version 1 found",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("isoinfo -d lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("rock ridge listing", func(t *testing.T) {
		got := isoinfoListing(t, run(t, "isoinfo", "-R", "-l", "-i", img))
		// isoinfo draws only rwx, never s or t; the setuid bit itself is
		// checked by the xorriso, go-diskfs and structure tests.
		want := wantListing(fx)
		for p, e := range want {
			e.mode = strings.NewReplacer("s", "x", "S", "-", "t", "x", "T", "-").Replace(e.mode)
			want[p] = e
		}
		compareListing(t, "isoinfo -R -l", want, got)
	})
	jmap := jolietPaths(t, fx.files)
	t.Run("joliet listing", func(t *testing.T) {
		got := isoinfoListing(t, fromLatin1(run(t, "isoinfo", "-J", "-j", "iso8859-1", "-l", "-i", img)))
		for p, b := range remap(fx.want, jmap) {
			if e, ok := got[p]; !ok || e.size != int64(len(b)) {
				t.Errorf("isoinfo -J -l: %s listed %v (%+v), want size %d", p, ok, e, len(b))
			}
		}
		if n := countFiles(got); n != len(fx.want) {
			t.Errorf("isoinfo -J -l lists %d files, want %d", n, len(fx.want))
		}
	})
	t.Run("plain listing", func(t *testing.T) {
		got := isoinfoListing(t, run(t, "isoinfo", "-l", "-i", img))
		for real, iso := range isoPaths(t, fx.files) {
			if _, isFile := fx.want[real]; !isFile {
				continue
			}
			id := iso + ";1"
			if !strings.Contains(filepath.Base(iso), ".") {
				id = iso + ".;1"
			}
			if _, ok := got[id]; !ok {
				t.Errorf("isoinfo -l: %s (%s) missing", id, real)
			}
		}
	})
	t.Run("extract rock ridge", func(t *testing.T) {
		for _, p := range sortedKeys(fx.want) {
			if got := run(t, "isoinfo", "-R", "-x", "/"+p, "-i", img); !bytes.Equal(got, fx.want[p]) {
				t.Errorf("isoinfo -R -x /%s: %d bytes, want %d", p, len(got), len(fx.want[p]))
			}
		}
	})
	t.Run("extract joliet", func(t *testing.T) {
		for _, p := range sortedKeys(fx.want) {
			if got := run(t, "isoinfo", "-J", "-j", "iso8859-1", "-x", toLatin1("/"+jmap[p]), "-i", img); !bytes.Equal(got, fx.want[p]) {
				t.Errorf("isoinfo -J -x /%s: %d bytes, want %d", jmap[p], len(got), len(fx.want[p]))
			}
		}
	})
}

// isoinfo has no UTF-8 output for Joliet names; the fixture's names all fit
// ISO 8859-1, so convert at the boundary.
func toLatin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

func fromLatin1(b []byte) []byte {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return []byte(string(r))
}

func countFiles(m map[string]lsEntry) int {
	n := 0
	for _, e := range m {
		if e.mode[0] != 'd' {
			n++
		}
	}
	return n
}

// 7-Zip reads the Joliet tree when there is one, as Windows does.
func TestSevenZip(t *testing.T) {
	needTool(t, "7z")
	fx, img := builtImage(t)
	want := remap(fx.want, jolietPaths(t, fx.files))

	out := string(run(t, "7z", "l", "-slt", img))
	listed := map[string]int64{}
	var path string
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "Path = "); ok {
			path = p
		}
		if s, ok := strings.CutPrefix(line, "Size = "); ok && path != "" {
			listed[path], _ = strconv.ParseInt(s, 10, 64)
		}
		if line == "Folder = +" {
			delete(listed, path)
			path = ""
		}
	}
	delete(listed, img)
	for p, b := range want {
		if n, ok := listed[p]; !ok || n != int64(len(b)) {
			t.Errorf("7z l: %s listed %v with %d bytes, want %d", p, ok, n, len(b))
		}
	}
	if len(listed) != len(want) {
		t.Errorf("7z l lists %d files, want %d", len(listed), len(want))
	}

	dir := filepath.Join(t.TempDir(), "x")
	run(t, "7z", "x", "-y", "-o"+dir, img)
	compareTree(t, "7z x", want, readTree(t, dir))
}

func TestGoDiskfs(t *testing.T) {
	fx, img := builtImage(t)
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fsys, err := d.GetFilesystem(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := fsys.Label(); strings.TrimRight(got, " ") != "cidata" {
		t.Errorf("label %q, want cidata", got)
	}

	// go-diskfs strips a leading dot from file names, Rock Ridge or not.
	want := map[string][]byte{}
	specs := map[string]File{}
	for p, b := range fx.want {
		dir, name := filepath.Split(p)
		want[dir+strings.TrimPrefix(name, ".")] = b
	}
	for _, f := range fx.files {
		dir, name := filepath.Split(f.Path)
		specs[dir+strings.TrimPrefix(name, ".")] = f
	}

	got := map[string][]byte{}
	err = fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		if p == "." {
			return nil // go-diskfs describes the root without Rock Ridge
		}
		st, _ := info.Sys().(*iso9660.StatT)
		if st == nil || !st.RockRidge {
			t.Errorf("%s: no Rock Ridge attributes", p)
			return nil
		}
		if de.IsDir() {
			if info.Mode() != fs.ModeDir|0o555 {
				t.Errorf("%s: mode %v, want dr-xr-xr-x", p, info.Mode())
			}
			return nil
		}
		b, err := fsys.ReadFile(p)
		if err != nil {
			return err
		}
		got[p] = b
		if s, ok := specs[p]; ok {
			if info.Mode() != s.Mode || st.UID != s.UID || st.GID != s.GID {
				t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", p, info.Mode(), st.UID, st.GID, s.Mode, s.UID, s.GID)
			}
		}
		if !info.ModTime().Equal(testModTime) {
			t.Errorf("%s: time %v, want %v", p, info.ModTime(), testModTime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	compareTree(t, "go-diskfs", want, got)
}

// readWithDiskfs reads an image through go-diskfs's iso9660 package directly.
func readWithDiskfs(t *testing.T, img string) map[string][]byte {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := iso9660.Read(file.New(f, true), st.Size(), 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	err = fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		got[p], err = fsys.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBlkid(t *testing.T) {
	needTool(t, "blkid")
	_, img := builtImage(t)
	if got := strings.TrimSpace(string(run(t, "blkid", "-o", "value", "-s", "LABEL", img))); got != "cidata" {
		t.Errorf("blkid LABEL %q, want cidata", got)
	}
	if got := strings.TrimSpace(string(run(t, "blkid", "-o", "value", "-s", "TYPE", img))); got != "iso9660" {
		t.Errorf("blkid TYPE %q, want iso9660", got)
	}
}

// TestEdgeImages reads back images at the edges: no files at all, and a
// Joliet tree that is only sub-folders ending in a sector-aligned file (the
// cases where go-diskfs's own writer goes wrong).
func TestEdgeImages(t *testing.T) {
	needTool(t, "xorriso")
	needTool(t, "isoinfo")
	needTool(t, "7z")
	dir := t.TempDir()
	cases := map[string][]File{
		"empty": nil,
		"aligned": {
			{Path: "sub/dir/a.bin", Mode: 0o444, SourcePath: writeSource(t, dir, "a", pseudoRandom(2048, 5))},
			{Path: "sub/dir/b.bin", Mode: 0o444, Data: pseudoRandom(4096, 6)},
			{Path: "sub/other/Long Name With Spaces.txt", Mode: 0o400, Data: pseudoRandom(8192, 7)},
		},
	}
	for _, name := range sortedKeys(cases) {
		files := cases[name]
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), name+".iso")
			if err := WriteFile(img, files, Options{VolumeID: "cidata", ModTime: testModTime}); err != nil {
				t.Fatal(err)
			}
			want := map[string][]byte{}
			for _, f := range files {
				want[f.Path] = f.Data
				if f.SourcePath != "" {
					want[f.Path], _ = os.ReadFile(f.SourcePath)
				}
			}
			if out := string(run(t, "isoinfo", "-d", "-i", img)); !strings.Contains(out, "Volume id: cidata") {
				t.Errorf("isoinfo -d:\n%s", out)
			}
			for p, b := range want {
				if got := run(t, "isoinfo", "-J", "-x", "/"+p, "-i", img); !bytes.Equal(got, b) {
					t.Errorf("isoinfo -J -x /%s: %d bytes, want %d", p, len(got), len(b))
				}
			}
			for _, readFS := range []string{"any", "norock"} {
				out := filepath.Join(t.TempDir(), "x")
				run(t, "xorriso", "-read_fs", readFS, "-osirrox", "on", "-indev", img, "-extract", "/", out)
				got := map[string][]byte{}
				if _, err := os.Stat(out); err == nil {
					got = readTree(t, out)
				}
				compareTree(t, "xorriso -read_fs "+readFS, want, got)
				filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.IsDir() {
						os.Chmod(p, 0o755)
					}
					return nil
				})
			}
			out := filepath.Join(t.TempDir(), "7z")
			run(t, "7z", "x", "-y", "-o"+out, img)
			got := map[string][]byte{}
			if _, err := os.Stat(out); err == nil {
				got = readTree(t, out)
			}
			compareTree(t, "7z x", want, got)
			compareTree(t, "go-diskfs", want, readWithDiskfs(t, img))
		})
	}
}
