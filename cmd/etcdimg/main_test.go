package main

import (
	"context"

	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/etcdimg/etcdimg/internal/testrelease"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"etcdimg": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// fakerelease VERSION writes etcd-vVERSION-linux-amd64.tar.gz
			// and sets $SHA to its sha256.
			"fakerelease": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: fakerelease VERSION")
				}
				name, sum, err := testrelease.Create(ts.Getenv("WORK"), args[0], 0)
				ts.Check(err)
				ts.Setenv("SHA", sum)
				ts.Setenv("RELEASE", name)
			},
		},
	})
}

// TestExitCodes pins the contract scripts rely on: 0 ok, 1 spec error,
// 2 usage error.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonnet")
	os.WriteFile(good, []byte(`{name: 'c', network: {cidr: '10.0.0.0/24'}, etcd: {version: '3.6.16', release: {path: 'x.tar.gz', sha256: std.repeat('a', 64)}}, nodes: [{name: 'n1', ip: '10.0.0.2'}]}`), 0o644)
	bad := filepath.Join(dir, "bad.jsonnet")
	os.WriteFile(bad, []byte(`{name: 'c', nodes: []}`), 0o644)
	syntax := filepath.Join(dir, "syntax.jsonnet")
	os.WriteFile(syntax, []byte(`{name: }`), 0o644)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"validate"}, 2},
		{[]string{"validate", good, good}, 2},
		{[]string{"validate", "--no-such-flag", good}, 2},
		{[]string{"validate", "--ext-str", "UNSET_VARIABLE_FOR_TEST", good}, 2},
		{[]string{"build", good}, 2},
		{[]string{"validate", good}, 0},
		{[]string{"validate", bad}, 1},
		{[]string{"validate", syntax}, 1},
		{[]string{"validate", filepath.Join(dir, "missing.jsonnet")}, 1},
		{[]string{"version"}, 0},
		{[]string{"--help"}, 0},
		{[]string{"build", "--help"}, 0},
		{[]string{"help", "build"}, 0},
		{[]string{"help", "nope"}, 2},
		{[]string{"--version"}, 0},
		{[]string{"completion", "bash"}, 0},
		{[]string{"completion", "csh"}, 2},
		{[]string{"snapshot"}, 2},
		{[]string{"validate", "-o", "json", good}, 0},
		{[]string{"validate", "-o", "json", bad}, 1},
		{[]string{"validate", "-o", "json", syntax}, 1},
		{[]string{"validate", "-o", "xml", good}, 2},
		{[]string{"validate", "--ext-str-file", "x=" + filepath.Join(dir, "missing"), good}, 1},
		{[]string{"validate", "--ext-str-file", "x", good}, 2},
		{[]string{"build", good, "-o", filepath.Join(dir, "out"), "--tla-code-file", "x=" + dir}, 1},
	} {
		var out, errb strings.Builder
		if got := run(context.Background(), tc.args, &out, &errb); got != tc.code {
			t.Errorf("etcdimg %s: exit %d, want %d\n%s%s", strings.Join(tc.args, " "), got, tc.code, out.String(), errb.String())
		}
	}
}
