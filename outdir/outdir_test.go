package outdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/durable"
)

// TestCheckDirTempOnly (issue 11.8): a folder holding only etcdimg's
// temporary files (a build killed before its marker was written) is
// etcdimg's; one temporary-looking name of another pattern, or any other
// file, still makes it foreign.
func TestCheckDirTempOnly(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".k8s01.iso"+durable.TempInfix+"abc"), nil, 0o600)
	if err := CheckDir(dir, false); err != nil {
		t.Fatalf("temporary files only: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "k8s01.iso.tmp-iso1"), nil, 0o600)
	if err := CheckDir(dir, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("foreign file: %v", err)
	}
	if err := CheckDir(dir, true); err != nil {
		t.Fatal(err)
	}
}
