package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	goLine := "  go        go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, tc := range []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     string
	}{
		{
			"go install …@v0.3.1: the module version, no VCS stamp",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/etcdimg/etcdimg", Version: "v0.3.1"}},
			"",
			"etcdimg v0.3.1\n  module    github.com/etcdimg/etcdimg v0.3.1\n" + goLine,
		},
		{
			"go build in a modified checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/etcdimg/etcdimg", Version: "v0.0.0-20261201171509-6a9b8cf922b1+dirty"},
				Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "6a9b8cf922b12b104a159564fa7092938779705d"}, {Key: "vcs.time", Value: "2026-12-01T17:15:09Z"}, {Key: "vcs.modified", Value: "true"}}},
			"",
			"etcdimg v0.0.0-20261201171509-6a9b8cf922b1+dirty\n  module    github.com/etcdimg/etcdimg v0.0.0-20261201171509-6a9b8cf922b1+dirty\n" +
				"  revision  6a9b8cf922b12b104a159564fa7092938779705d (modified)\n  committed 2026-12-01T17:15:09Z\n" + goLine,
		},
		{
			"make build: -ldflags -X main.version wins the first line",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/etcdimg/etcdimg", Version: "(devel)"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			"6a9b8cf-dirty",
			"etcdimg 6a9b8cf-dirty\n  module    github.com/etcdimg/etcdimg (devel)\n  revision  abc\n" + goLine,
		},
		{
			"no build info",
			nil, "",
			"etcdimg (devel)\n  go        " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
		},
	} {
		if got := versionText(tc.bi, tc.override); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// TestVersionFromGoBuild builds etcdimg with a plain `go build` in a clone
// of this repository, as a user would, and checks that `version` reports
// the commit, the modified flag and the module's pseudo-version from the
// build info; then, after a local change and with the Makefile's -ldflags
// override, that the override names the build and the revision is marked
// modified.
func TestVersionFromGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcdimg twice")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	// A clone: Go stamps VCS information only where .git is a folder, which
	// a git worktree's is not; the clone is also unmodified by definition.
	clone := filepath.Join(t.TempDir(), "etcdimg")
	if out, err := exec.Command(git, "clone", "-q", "--depth=1", "file://"+strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	head, err := exec.Command(git, "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	rev := strings.TrimSpace(string(head))
	bin := filepath.Join(t.TempDir(), "etcdimg")
	build := func(extra ...string) string {
		t.Helper()
		// -buildvcs=true: a GOFLAGS=-buildvcs=false in the environment
		// (go env) must not turn off what is under test.
		cmd := exec.Command("go", append(append([]string{"build", "-buildvcs=true"}, extra...), "-o", bin, "./cmd/etcdimg")...)
		cmd.Dir = clone
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("etcdimg version: %v\n%s", err, out)
		}
		return string(out)
	}
	out := build()
	pseudo := `v0\.0\.0-\d{14}-` + rev[:12]
	for _, re := range []string{
		`^etcdimg ` + pseudo + "\n",
		`(?m)^  module    github\.com/etcdimg/etcdimg ` + pseudo + "$",
		`(?m)^  revision  ` + rev + "$",
		`(?m)^  committed \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`,
		`(?m)^  go        go1\.\d+`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("clean build: no match for %s in\n%s", re, out)
		}
	}
	if strings.Contains(out, "modified") || strings.Contains(out, "+dirty") {
		t.Errorf("a clean clone is reported modified:\n%s", out)
	}
	// A local change, and the Makefile's override: it names the build, the
	// build info says the rest.
	if err := os.WriteFile(filepath.Join(clone, "LOCAL-CHANGE"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = build("-ldflags", "-X main.version=v9.9.9-test")
	for _, re := range []string{
		"^etcdimg v9\\.9\\.9-test\n",
		`(?m)^  module    github\.com/etcdimg/etcdimg ` + pseudo + `\+dirty$`,
		`(?m)^  revision  ` + rev + ` \(modified\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("modified build with -ldflags: no match for %s in\n%s", re, out)
		}
	}
}
