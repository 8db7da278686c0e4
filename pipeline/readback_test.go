package pipeline_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/pipeline"
)

// TestSeedsReadBackWithRealTools builds seeds and reads every one back with
// the tools an operator or hypervisor would use: xorriso (Rock Ridge),
// isoinfo (Rock Ridge and Joliet), 7z and blkid, each file byte-equal to
// what go-diskfs reads and to the inputs.
func TestSeedsReadBackWithRealTools(t *testing.T) {
	root := t.TempDir()
	o := opts(t, writeSpec(t, `{}`), filepath.Join(root, "out"))
	res, err := pipeline.Build(context.Background(), o)
	if err != nil || res.Report.IsFatal() {
		t.Fatalf("build: %v %s", err, res.Report)
	}
	tools := 0
	for _, n := range res.Nodes {
		want, err := isoread.Read(n.ISO)
		if err != nil {
			t.Fatal(err)
		}
		if want.Label != "cidata" || len(want.Files) != 12 {
			t.Fatalf("%s: label %q, %d files", n.Name, want.Label, len(want.Files))
		}
		disk, _ := os.ReadFile(filepath.Join(n.Dir, "user-data"))
		if !bytes.Equal(disk, want.Files["user-data"]) {
			t.Errorf("%s: user-data on the ISO is not the one written beside it", n.Name)
		}
		extractors := map[string]func(dir string) error{
			"xorriso": func(dir string) error {
				return run(t, "xorriso", "-osirrox", "on", "-indev", n.ISO, "-extract", "/", dir)
			},
			"7z": func(dir string) error { return run(t, "7z", "x", "-o"+dir, n.ISO) },
		}
		for tool, extract := range extractors {
			if _, err := exec.LookPath(tool); err != nil {
				t.Logf("%s not installed", tool)
				continue
			}
			tools++
			dir := t.TempDir()
			if err := extract(dir); err != nil {
				t.Fatalf("%s: %v", tool, err)
			}
			for p, b := range want.Files {
				got, err := os.ReadFile(filepath.Join(dir, p))
				if err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s: %s reads %s differently: %v", n.Name, tool, p, err)
				}
			}
		}
		if _, err := exec.LookPath("isoinfo"); err == nil {
			tools++
			for p, b := range want.Files {
				for _, tree := range []string{"-R", "-J"} {
					got, err := exec.Command("isoinfo", tree, "-i", n.ISO, "-x", "/"+p).Output()
					if err != nil || !bytes.Equal(got, b) {
						t.Errorf("%s: isoinfo %s reads %s differently: %v", n.Name, tree, p, err)
					}
				}
			}
		}
		if _, err := exec.LookPath("blkid"); err == nil {
			tools++
			out, _ := exec.Command("blkid", "-p", "-o", "value", "-s", "LABEL", n.ISO).Output()
			if strings.TrimSpace(string(out)) != "cidata" {
				t.Errorf("%s: blkid label %q", n.Name, out)
			}
		}
	}
	if tools == 0 {
		t.Skip("none of xorriso, 7z, isoinfo, blkid installed (make deps)")
	}
}

func run(t *testing.T, name string, args ...string) error {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out)
	}
	return err
}
