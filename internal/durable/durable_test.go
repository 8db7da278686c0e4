package durable

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listing returns every name under dir (recursively, links not followed),
// with mode and content, so a test can say "nothing changed here".
func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			v += " " + string(b)
		}
		out[rel] = v
		return nil
	})
	return out
}

func withUmask(t *testing.T, m int) {
	old := syscall.Umask(m)
	t.Cleanup(func() { syscall.Umask(old) })
}

// TestCreateCommitMode: the streaming form writes exactly the mode asked
// for, whatever the umask, and nothing but the final file remains.
func TestCreateCommitMode(t *testing.T) {
	withUmask(t, 0)
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o600, 0o644, 0o755} {
		p := filepath.Join(dir, "seed.iso")
		w, err := Create(p, mode)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err == nil && mode == 0o600 {
			t.Fatal("final name exists before Commit")
		}
		if st, _ := w.File().Stat(); st.Mode().Perm() != 0o600 {
			t.Errorf("temporary file is %v while written, want 0600 (it may hold keys)", st.Mode().Perm())
		}
		if _, err := w.Write([]byte("data " + mode.String())); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("mode %v (%v), want %v", st.Mode().Perm(), err, mode)
		}
		if b, _ := os.ReadFile(p); string(b) != "data "+mode.String() {
			t.Fatalf("content %q", b)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort after Commit: %v", err)
		}
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 {
		t.Fatalf("folder holds %v", names)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*")); len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// TestCreateAbort: an aborted write leaves the old file and no temporary.
func TestCreateAbort(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	before := listing(t, dir)
	w, err := Create(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("new"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if after := listing(t, dir); !equal(before, after) {
		t.Fatalf("after Abort:\n%v\nwant\n%v", after, before)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRefuseSymlinks (issue 11.7): a folder etcdimg writes into that is a
// link (out/k8s01 -> /elsewhere), or a destination that is one, is refused
// with its path by every form of write; the link's target is not touched
// and not chmodded.
func TestRefuseSymlinks(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	elsewhere := filepath.Join(root, "elsewhere")
	os.MkdirAll(out, 0o755)
	os.MkdirAll(elsewhere, 0o755)
	victim := filepath.Join(elsewhere, "victim")
	os.WriteFile(victim, []byte("precious"), 0o640)
	if err := os.Symlink(elsewhere, filepath.Join(out, "k8s01")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(out, "user-data")); err != nil {
		t.Fatal(err)
	}
	before := listing(t, elsewhere)
	inLinkedDir := filepath.Join(out, "k8s01", "user-data")
	linkedDest := filepath.Join(out, "user-data")
	for _, tc := range []struct {
		name string
		path string
		err  func() error
	}{
		{"WriteFile into a linked folder", filepath.Join(out, "k8s01"), func() error { return WriteFile(inLinkedDir, []byte("x"), 0o600) }},
		{"WriteFile onto a link", linkedDest, func() error { return WriteFile(linkedDest, []byte("x"), 0o600) }},
		{"WriteBatch, one of two bad", filepath.Join(out, "k8s01"), func() error {
			return WriteBatch([]File{{filepath.Join(out, "ok"), []byte("x"), 0o644}, {inLinkedDir, []byte("x"), 0o644}})
		}},
		{"Create into a linked folder", filepath.Join(out, "k8s01"), func() error { _, err := Create(inLinkedDir, 0o600); return err }},
		{"Create onto a link", linkedDest, func() error { _, err := Create(linkedDest, 0o600); return err }},
		{"RemoveStale of a linked folder", filepath.Join(out, "k8s01"), func() error { _, err := RemoveStale(filepath.Join(out, "k8s01")); return err }},
		{"Lock of a linked folder", filepath.Join(out, "k8s01"), func() error { _, err := Lock(filepath.Join(out, "k8s01"), 0, nil); return err }},
		{"Mkdir of a link", filepath.Join(out, "k8s01"), func() error { return Mkdir(filepath.Join(out, "k8s01"), 0o700) }},
	} {
		err := tc.err()
		var pe *os.PathError
		if !errors.Is(err, ErrSymlink) || !errors.As(err, &pe) || pe.Path != tc.path {
			t.Errorf("%s: err = %v, want ErrSymlink naming %s", tc.name, err, tc.path)
		}
	}
	if after := listing(t, elsewhere); !equal(before, after) {
		t.Fatalf("the link target changed:\n%v\nwant\n%v", after, before)
	}
	if _, err := os.Stat(filepath.Join(out, "ok")); err == nil {
		t.Error("WriteBatch wrote its good file although another destination was refused")
	}
}

// TestRemoveStale (issue 11.8): leftovers of a killed run are removed, a
// temporary file another run is still writing and anything not ours stay.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".k8s01.iso" + TempInfix + "abc", "k8s01.iso.tmp-iso123", "k8s02.img.tmp-iso-vfat9", ".user-data.tmp-42"}
	foreign := []string{"k8s01.iso", "notes.tmp", "tmp-iso", "backup.tmp-"}
	for _, n := range append(slices.Clone(stale), foreign...) {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	// A folder and a link with a temporary name are not regular files.
	os.Mkdir(filepath.Join(dir, ".d"+TempInfix+"1"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(dir, ".l"+TempInfix+"1"))
	live, err := Create(filepath.Join(dir, "live.iso"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	removed, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(removed)
	want := slices.Clone(stale)
	sort.Strings(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, n := range append(foreign, ".d"+TempInfix+"1", ".l"+TempInfix+"1") {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed", n)
		}
	}
	live.Write([]byte("still here"))
	if err := live.Commit(); err != nil {
		t.Fatalf("the live write was disturbed: %v", err)
	}
	if removed, _ := RemoveStale(filepath.Join(dir, "missing")); len(removed) != 0 {
		t.Error("missing folder")
	}
}

// TestLockWaits: a second Lock waits, says so once, and times out naming
// the folder; once released it is free.
func TestLockWaits(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	told := 0
	start := time.Now()
	_, err = Lock(dir, 300*time.Millisecond, func() { told++ })
	if err == nil || told != 1 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("second lock: err %v, told %d after %s", err, told, time.Since(start))
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error does not name the folder: %v", err)
	}
	go func() { time.Sleep(200 * time.Millisecond); unlock() }()
	u2, err := Lock(dir, 5*time.Second, nil)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	u2()
}

// TestWriteBatchUnchanged: an unchanged file is not rewritten (its inode
// stays), a changed one is replaced with the new mode.
func TestWriteBatchUnchanged(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := WriteBatch([]File{{a, []byte("1"), 0o644}, {b, []byte("2"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	ia, _ := os.Stat(a)
	if err := WriteBatch([]File{{a, []byte("1"), 0o644}, {b, []byte("3"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	ja, _ := os.Stat(a)
	if !os.SameFile(ia, ja) {
		t.Error("unchanged file was rewritten")
	}
	if st, _ := os.Stat(b); st.Mode().Perm() != 0o600 {
		t.Errorf("b mode %v", st.Mode())
	}
}
