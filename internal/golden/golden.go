// Package golden compares test output with files under testdata and
// rewrites them with `go test ./... -update`.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata with the current output")

// Check compares got with the golden file at path. With -update it writes
// the file instead, only when the content changed, so an update touches
// exactly the files whose output moved.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if *update {
		if err == nil && bytes.Equal(want, got) {
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", path)
		return
	}
	if err != nil {
		t.Fatalf("golden file %s: %v (run `go test ./... -update` to create it)", path, err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the output (run `go test ./... -update` if the change is intended):\n%s", path, diff(want, got))
	}
}

// diff shows the first differing line with context; enough to see what moved.
func diff(want, got []byte) string {
	wl := bytes.Split(want, []byte("\n"))
	gl := bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}
