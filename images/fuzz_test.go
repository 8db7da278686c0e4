package images

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
)

// Fuzzing the writers (issue 11.11): the fuzzer's bytes choose a file set
// (names, nesting, sizes: 0, multiples of 2048 and their neighbours, data in
// memory or streamed from a host file); each writer writes it durably and
// go-diskfs, a reader written by other people, must see exactly those files
// with exactly those bytes. The same bytes also feed the planner raw names
// it must refuse or accept without panicking.
//
// Run one: go test ./images -run '^$' -fuzz '^FuzzISOWriter$' -fuzztime 2m
// Seeds and crashers are in testdata/fuzz/<Fuzz name>/.

// fuzzReader hands out the fuzzer's bytes; past the end it gives zeros, so
// every input decodes to some file set.
type fuzzReader struct {
	b []byte
	i int
}

func (r *fuzzReader) byte() byte {
	if r.i >= len(r.b) {
		r.i++
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *fuzzReader) n(max int) int { return int(r.byte()) % max }

func (r *fuzzReader) done() bool { return r.i >= len(r.b) }

// Names use an alphabet both formats and go-diskfs keep verbatim: lower case
// (FAT refuses names differing only in case), digits, '-', '_' and inner
// dots (FAT refuses a trailing dot; go-diskfs drops a leading one).
const fuzzAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_."

func (r *fuzzReader) name() string {
	n := 1 + r.n(40)
	var b strings.Builder
	for i := range n {
		c := fuzzAlphabet[r.n(len(fuzzAlphabet))]
		if c == '.' && (i == 0 || i == n-1) {
			c = 'x'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (r *fuzzReader) size() int {
	switch r.n(5) {
	case 0:
		return 0
	case 1:
		return 2048 * (1 + r.n(4))
	case 2:
		return 2048*(1+r.n(3)) + 1
	case 3:
		return 2048*(1+r.n(3)) - 1
	}
	return r.n(256)*int(1+r.n(16)) + 1
}

// fuzzFileSet decodes a valid file set and what a reader must see; sources
// are written into srcDir.
func fuzzFileSet(t *testing.T, data []byte, srcDir string) ([]File, map[string][]byte) {
	r := &fuzzReader{b: data}
	var files []File
	want := map[string][]byte{}
	dirs := []string{""} // folders made so far; files go into one of them
	taken := map[string]bool{}
	for i := 0; i < 24 && (i == 0 || !r.done()); i++ {
		parent := dirs[r.n(len(dirs))]
		name := r.name()
		p := path.Join(parent, name)
		if taken[p] || strings.Count(p, "/") >= MaxDepth-1 {
			continue
		}
		taken[p] = true
		if r.n(4) == 0 && strings.Count(p, "/") < MaxDepth-2 {
			// A folder: it exists in the image only through what it holds,
			// so it gets a file at once.
			dirs = append(dirs, p)
			fp := path.Join(p, "f")
			taken[fp] = true
			files = append(files, File{Path: fp, Mode: 0o444, Data: []byte(fp)})
			want[fp] = []byte(fp)
			continue
		}
		content := pseudoRandom(r.size(), uint64(i)+uint64(r.byte())<<8)
		f := File{Path: p, Mode: fs.FileMode(0o400 | r.n(0o400)), UID: uint32(r.n(3) * 1000), GID: uint32(r.n(3) * 1000)}
		if r.n(3) == 0 {
			f.SourcePath = writeSource(t, srcDir, fmt.Sprintf("src%d", i), content)
		} else {
			f.Data = content
		}
		files = append(files, f)
		want[p] = content
	}
	// A file and a folder of one name: the folder wins, the file goes.
	for _, d := range dirs {
		files = slices.DeleteFunc(files, func(f File) bool { return f.Path == d })
		delete(want, d)
	}
	return files, want
}

// readDiskfs reads every regular file of an image with go-diskfs.
func readDiskfs(t *testing.T, img string, fat bool) map[string][]byte {
	t.Helper()
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fsys, err := d.GetFilesystem(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimRight(fsys.Label(), " "); got != "cidata" {
		t.Errorf("label %q", got)
	}
	got := map[string][]byte{}
	err = fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if fat {
			got[p], err = readFATFile(fsys, p, de)
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

func fuzzWriter(f *testing.F, write func(string, []File, Options) error, fat bool) {
	for _, seed := range [][]byte{
		nil,
		[]byte("a"),
		[]byte("\x03user-data\x00\x00\x01meta-data\x01\x01"),
		bytes.Repeat([]byte{0, 7, 1, 3}, 40),
		bytes.Repeat([]byte{255, 0, 128, 64, 3}, 60),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		files, want := fuzzFileSet(t, data, dir)
		img := filepath.Join(dir, "seed")
		opts := Options{VolumeID: "cidata", ModTime: testModTime, FileMode: 0o600}
		if err := write(img, files, opts); err != nil {
			t.Fatalf("valid file set refused: %v\n%v", err, files)
		}
		got := readDiskfs(t, img, fat)
		compareTree(t, "go-diskfs", want, got)
		// Raw names from the same bytes: refused or accepted, never a panic,
		// and a refusal names the file.
		raw := File{Path: string(data), Mode: 0o444, Data: []byte{}}
		if _, err := Size([]File{raw}, testOpts); err != nil && !strings.Contains(err.Error(), "images:") {
			t.Errorf("unexpected error shape: %v", err)
		}
		if _, err := VFATSize([]File{raw}, Options{VolumeID: "cidata", ModTime: testModTime}); err != nil && !strings.Contains(err.Error(), "images:") {
			t.Errorf("unexpected error shape: %v", err)
		}
	})
}

// readFATFile reads a FAT file through go-diskfs in one read of the size its
// directory entry gives, then checks that nothing follows. Two quirks of
// go-diskfs v1.9.4 make fs.ReadFile unusable here:
//   - an empty file cannot be opened (first cluster 0, as every FAT
//     implementation stores it): its size is all there is;
//   - a Read that starts inside a cluster returns the rest of the cluster,
//     ignoring the file's end (fat12 File.Read, the "read any partials"
//     branch), so fs.ReadFile's second read of a 2047-byte file returned
//     2624 bytes. Found by FuzzVFATWriter; fsck.fat, mtools and 7z read the
//     same image correctly;
//   - see the path below.
func readFATFile(fsys interface {
	Open(string) (fs.File, error)
}, p string, de fs.DirEntry) ([]byte, error) {
	info, err := de.Info()
	if err != nil {
		return nil, err
	}
	if info.Size() == 0 {
		return []byte{}, nil
	}
	// Absolute: go-diskfs resolves the relative "ahbd/ahbd" (a file named
	// like its folder) to the folder and reads 0 bytes (found by
	// FuzzVFATWriter, testdata go-diskfs-file-named-like-its-folder).
	f, err := fsys.Open("/" + p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, info.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	if n, err := f.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return nil, fmt.Errorf("%s: data past the size in its directory entry (%d, %v)", p, n, err)
	}
	return b, nil
}

// The fuzz targets write the planned image into a plain file: the durable
// rename dance (fsync per image) is covered by TestWriteFile and
// checkWriteFailures, and fsyncs would make each run a disk flush.
func FuzzISOWriter(f *testing.F) {
	fuzzWriter(f, func(path string, files []File, opts Options) error {
		return writePlain(path, opts, func(out *os.File) error {
			_, err := Write(out, files, opts)
			return err
		})
	}, false)
}

func FuzzVFATWriter(f *testing.F) {
	fuzzWriter(f, func(path string, files []File, opts Options) error {
		p, err := newVFATPlan(files, opts, false)
		if err != nil {
			return err
		}
		return writePlain(path, opts, p.writeTo)
	}, true)
}

func writePlain(path string, opts Options, write func(*os.File) error) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, opts.FileMode)
	if err != nil {
		return err
	}
	if err := write(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
