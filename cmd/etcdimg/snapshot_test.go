package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/clustertest"
)

// TestSnapshotSaveCommand saves a snapshot of a real TLS cluster holding
// 5000 keys through `etcdimg snapshot save`, checks the summary, the file
// and `snapshot verify`; then a damaged copy must be refused, and a save
// from a dead member must fail and leave the old file alone.
func TestSnapshotSaveCommand(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	cl.Put("data/", 5000, 1024)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")

	start := time.Now()
	code, out, errs := runCmd(t, "snapshot", "save", cl.Dir, "-o", file)
	took := time.Since(start)
	t.Logf("etcdimg snapshot save (%v):\n%s", took, out)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, re := range []string{
		`(?m)^saved ` + regexp.QuoteMeta(file) + `$`,
		`(?m)^  from      etcd01 \(https://127\.0\.0\.11:\d+\)$`,
		`(?m)^  revision  \d+$`,
		`(?m)^  keys      5000$`,
		`(?m)^  size      \d\.\d MiB \(\d+ bytes\)$`,
		`(?m)^  sha256    [0-9a-f]{64}$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("summary does not match %s", re)
		}
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("folder holds %d entries", len(ents))
	}
	code, out, errs = runCmd(t, "snapshot", "verify", file)
	if code != 0 || !strings.Contains(out, "keys      5000") {
		t.Errorf("verify: exit %d\n%s%s", code, out, errs)
	}

	// A flipped bit in a copy is refused.
	b, _ := os.ReadFile(file)
	b[len(b)/3] ^= 0x40
	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, b, 0o600)
	code, _, errs = runCmd(t, "snapshot", "verify", bad)
	if code != 1 || !strings.Contains(errs, "snapshot integrity check failed: sha256 of the database is") {
		t.Errorf("verify of a damaged file: exit %d\n%s", code, errs)
	}

	// A dead member: exit 1 with the reason, and the file already there
	// is left as it was.
	cl.Kill("etcd03")
	before, _ := os.ReadFile(file)
	code, out, errs = runCmd(t, "snapshot", "save", cl.Dir, "-o", file, "--node", "etcd03")
	if code != 1 || !strings.Contains(errs, "connection refused") || !strings.Contains(errs, "nothing was written to "+file) || out != "" {
		t.Errorf("save from a dead member: exit %d\n%s%s", code, out, errs)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("a failed save changed the existing file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("folder holds %d entries after a failed save", len(ents))
	}
}

func TestSnapshotUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"snapshot"}, 2, "etcdimg snapshot save DIR -o FILE"},
		{[]string{"snapshot", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"snapshot", "save", dir}, 2, "no output file; pass -o FILE"},
		{[]string{"snapshot", "save", dir, "-o", "x", "--node", "a", "--endpoint", "b"}, 2, "pass one"},
		{[]string{"snapshot", "save", dir, "-o", "x"}, 1, "no such file"},
		{[]string{"snapshot", "verify"}, 2, "want exactly one argument"},
		{[]string{"snapshot", "verify", filepath.Join(dir, "none.db")}, 1, "no such file"},
	} {
		code, _, errs := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("etcdimg %v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.msg, errs)
		}
	}
}

func TestByteProgress(t *testing.T) {
	var b strings.Builder
	p := &byteProgress{w: &b, start: time.Now().Add(-time.Second)}
	p.update(3 << 20)
	p.update(4 << 20) // within redrawEvery: not drawn
	p.drawn = time.Time{}
	p.update(10 << 20)
	p.clear()
	got := b.String()
	if !strings.HasPrefix(got, "\rreceiving snapshot: 3.0 MiB (3.0 MiB/s)") || strings.Contains(got, "4.0 MiB") ||
		!strings.Contains(got, "\rreceiving snapshot: 10 MiB (") || !strings.HasSuffix(got, "\r") {
		t.Errorf("progress output %q", got)
	}
}
