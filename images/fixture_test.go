package images

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// testModTime is deliberately unlike the default and the current time, so a
// timestamp from anywhere else shows up.
var testModTime = time.Date(2009, 2, 13, 23, 31, 30, 0, time.UTC)

var testOpts = Options{VolumeID: "cidata", ModTime: testModTime, Publisher: "etcdimg tests", Application: "etcdimg"}

// pseudoRandom is deterministic, incompressible-looking content
// (splitmix64), stable across Go versions unlike math/rand's streams.
func pseudoRandom(n int, seed uint64) []byte {
	b := make([]byte, n+8)
	x := seed
	for i := 0; i < n; i += 8 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(b[i:], z^(z>>31))
	}
	return b[:n]
}

// fixture is the representative file set of the read-back tests.
type fixture struct {
	files []File
	want  map[string][]byte // real path -> content
	dir   string            // holds the SourcePath files
}

func writeSource(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	payloadName = "etcd-v3.6.16-linux-amd64.tar.gz"
	longName1   = "a-configuration-file-with-a-really-long-descriptive-name-number-one-for-joliet.yaml"
	longName2   = "a-configuration-file-with-a-really-long-descriptive-name-number-two-for-joliet.yaml"
	deepPath    = "d1/d2/d3/d4/d5/d6/d7/last.bin" // 8 directory levels, root included
)

// newFixture builds the file set; source files go to dir.
func newFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	fx := &fixture{want: map[string][]byte{}, dir: dir}
	addData := func(path string, mode fs.FileMode, uid, gid uint32, data []byte) {
		fx.files = append(fx.files, File{Path: path, Mode: mode, UID: uid, GID: gid, Data: data})
		fx.want[path] = data
	}
	addSource := func(path string, mode fs.FileMode, data []byte) {
		src := writeSource(t, fx.dir, fmt.Sprintf("src-%d", len(fx.files)), data)
		fx.files = append(fx.files, File{Path: path, Mode: mode, SourcePath: src})
		fx.want[path] = data
	}

	addData("user-data", 0o444, 0, 0, []byte("#cloud-config\nhostname: etcd-0\n"))
	addData("meta-data", 0o444, 0, 0, []byte("instance-id: etcd-0\nlocal-hostname: etcd-0\n"))
	addData("network-config", 0o444, 0, 0, []byte("version: 2\nethernets: {}\n"))
	addSource(payloadName, 0o444, pseudoRandom(5<<20+123, 1))
	addSource("exact-2048.bin", 0o644, pseudoRandom(2048, 2))
	addData("exact-4096.bin", 0o644, 0, 0, pseudoRandom(4096, 3))
	addData("empty.txt", 0o444, 0, 0, []byte{})
	addSource("empty-source", 0o444, nil)
	addData("pki/server.key", 0o400, 0, 0, []byte("-----BEGIN PRIVATE KEY-----\nnot really\n"))
	addData("pki/ca.crt", 0o444, 1000, 1001, []byte("-----BEGIN CERTIFICATE-----\n"))
	addData("pki/setuid-tool", fs.ModeSetuid|0o755, 0, 0, []byte("#!/bin/sh\n"))
	for i := range 200 {
		addData(fmt.Sprintf("many/member-%03d.conf", i), 0o444, 0, 0, []byte(fmt.Sprintf("member %d\n", i)))
	}
	// 8.3 mangling and collisions.
	addData("collide/Readme.md", 0o444, 0, 0, []byte("Readme"))
	addData("collide/README.md", 0o444, 0, 0, []byte("README"))
	addData("collide/readme.md", 0o444, 0, 0, []byte("readme"))
	addData("collide/very-long-name-one.txt", 0o444, 0, 0, []byte("one"))
	addData("collide/very-long-name-two.txt", 0o444, 0, 0, []byte("two"))
	addData("collide/VERY_LON.TXT", 0o444, 0, 0, []byte("natural")) // keeps its name
	addData("collide/.hidden", 0o444, 0, 0, []byte("dot file"))
	addData("collide/multi.dot.name.tar.gz", 0o444, 0, 0, []byte("dots"))
	addData("collide/café au lait.txt", 0o444, 0, 0, []byte("utf-8"))
	addData("collide/what?.txt", 0o444, 0, 0, []byte("joliet forbids ?"))
	addData("collide/SUB", 0o444, 0, 0, []byte("file named like the dir")) // vs directory "sub"
	addData("collide/sub/inner.txt", 0o444, 0, 0, []byte("inner"))
	addData("collide/"+longName1, 0o444, 0, 0, []byte("long one"))
	addData("collide/"+longName2, 0o444, 0, 0, []byte("long two"))
	// The deepest directory comes last in path table order, so its file is
	// the image's last extent; a multiple of 2048 means no padding at the end.
	addData(deepPath, 0o444, 0, 0, pseudoRandom(3*2048, 4))
	return fx
}

// jolietPaths maps each real path to its Joliet path, as the plan assigned it.
func jolietPaths(t testing.TB, files []File) map[string]string {
	t.Helper()
	p, err := newPlan(files, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	walkPlan(p.root, "", "", func(n *node, real, jol string) {
		out[real] = jol
	}, func(n *node) string { return string(utf16Decode(n.joliet)) })
	return out
}

// isoPaths maps each real path to its plain ISO path, without ";1" and the
// dot of an empty extension, the way xorriso and go-diskfs show them.
func isoPaths(t testing.TB, files []File) map[string]string {
	t.Helper()
	p, err := newPlan(files, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	walkPlan(p.root, "", "", func(n *node, real, iso string) {
		out[real] = iso
	}, func(n *node) string { return n.iso.key() })
	return out
}

// walkPlan visits every node with its real path and its path in another
// naming (name gives a node's name there).
func walkPlan(d *node, real, alt string, fn func(n *node, real, alt string), name func(*node) string) {
	for _, c := range d.children {
		r, a := joinPath(real, c.name), joinPath(alt, name(c))
		fn(c, r, a)
		if c.isDir {
			walkPlan(c, r, a, fn, name)
		}
	}
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func utf16Decode(u []uint16) []rune {
	r := make([]rune, len(u))
	for i, c := range u {
		r[i] = rune(c)
	}
	return r
}

var (
	imageOnce sync.Once
	imageFx   *fixture
	imagePath string
	imageErr  error
	imageDir  string
)

// builtImage writes the fixture image once for all read-back tests.
func builtImage(t *testing.T) (*fixture, string) {
	t.Helper()
	imageOnce.Do(func() {
		// Stays an error if newFixture stops the first test half way.
		imageErr = errors.New("building the fixture image failed")
		dir, err := os.MkdirTemp("", "images-test-")
		if err != nil {
			imageErr = err
			return
		}
		imageDir = dir
		imageFx = newFixture(t, dir)
		imagePath = filepath.Join(dir, "seed.iso")
		imageErr = WriteFile(imagePath, imageFx.files, testOpts)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageFx, imagePath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// sortedKeys keeps test output and comparisons in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// compareTree checks that got (path -> content) holds exactly want.
func compareTree(t *testing.T, tool string, want map[string][]byte, got map[string][]byte) {
	t.Helper()
	for _, p := range sortedKeys(want) {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: %s missing", tool, p)
			continue
		}
		if !bytes.Equal(g, want[p]) {
			t.Errorf("%s: %s differs: %d bytes, want %d", tool, p, len(g), len(want[p]))
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected file %s", tool, p)
		}
	}
}

// readTree reads every regular file under root, keyed by slash path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// remap re-keys want by a path mapping (real -> Joliet or ISO).
func remap(want map[string][]byte, m map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for p, b := range want {
		out[m[p]] = b
	}
	return out
}
