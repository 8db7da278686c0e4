package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/testrelease"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/pipeline"
	"github.com/etcdimg/etcdimg/release"
)

// manyNodesSpec is a cluster of n nodes written out one node per line, as a
// hand-maintained spec for a large fleet would be, so that evaluation pays
// for every node object rather than for one comprehension.
func manyNodesSpec(n int) string {
	var b strings.Builder
	b.WriteString(`local etcdimg = import 'etcdimg.libsonnet';
etcdimg.cluster({
  name: 'fleet',
  domain: 'fleet.internal',
  network: { cidr: '10.20.0.0/16', gateway: '10.20.0.1', dns: ['10.20.0.1'] },
  etcd: {
    version: '3.6.16',
    release: etcdimg.release('3.6.16', std.extVar('sha'), path=std.extVar('release')),
    heartbeatIntervalMs: 250,
    electionTimeoutMs: 2500,
    extraClientPorts: [4001],
    quotaBackendBytes: 8589934592,
    extraFlags: { 'snapshot-count': 10000 },
  },
  nodes: [
`)
	for i := range n {
		fmt.Fprintf(&b, "    etcdimg.node('node%03d', '10.20.%d.%d', mac='52:54:00:14:%02x:%02x'),\n", i+1, 1+i/200, 10+i%200, (i+1)>>8, (i+1)&0xff)
	}
	b.WriteString("  ],\n})\n")
	return b.String()
}

func writeManyNodesSpec(tb testing.TB, n int) (string, jsonnet.Options) {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "fleet.jsonnet")
	if err := os.WriteFile(p, []byte(manyNodesSpec(n)), 0o644); err != nil {
		tb.Fatal(err)
	}
	// Load and render never open the release, so any well-formed pin does.
	return p, jsonnet.Options{ExtStr: map[string]string{"release": "etcd.tar.gz", "sha": strings.Repeat("ab", 32)}}
}

// BenchmarkSpec measures what `etcdimg render` does before writing: Jsonnet
// evaluation alone, then evaluation + decoding + validation (pipeline.Load),
// then that plus rendering every node's cloud-init files, which is the
// number the "100 nodes well under a second" target is about. Dividing the
// first by the last gives Jsonnet's share.
func BenchmarkSpec(b *testing.B) {
	for _, n := range []int{3, 100} {
		path, jo := writeManyNodesSpec(b, n)
		b.Run(fmt.Sprintf("nodes=%d/jsonnet", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := jsonnet.EvaluateFile(path, jo); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/load", n), func(b *testing.B) {
			for b.Loop() {
				mustLoad(b, path, jo, n)
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/load+render", n), func(b *testing.B) {
			for b.Loop() {
				l := mustLoad(b, path, jo, n)
				files, err := generator.Render(l.Cluster)
				if err != nil || len(files) != n {
					b.Fatalf("render: %d files, %v", len(files), err)
				}
			}
		})
	}
}

func mustLoad(tb testing.TB, path string, jo jsonnet.Options, n int) *pipeline.Loaded {
	l, err := pipeline.Load(path, jo)
	if err != nil {
		tb.Fatal(err)
	}
	if l.Report.IsFatal() || len(l.Cluster.Nodes) != n {
		tb.Fatalf("spec does not load as %d nodes:\n%s", n, l.Report)
	}
	return l
}

// benchReleases are the tarballs BenchmarkBuild and BenchmarkReleaseOpen
// use: the real release from `make etcd-release` (ETCDIMG_RELEASE, set by the
// Makefile) when there is one, whose layout check has ~60 MiB of binaries to
// inflate, and a synthetic 60 MiB one whose padding is stored, so inflating
// it is nearly free: the pair separates the cost of the bytes from the cost
// of the archive.
func benchReleases(b *testing.B) []struct{ name, path, sha string } {
	var out []struct{ name, path, sha string }
	if p := os.Getenv("ETCDIMG_RELEASE"); p != "" {
		if data, err := os.ReadFile(p); err == nil {
			sum := sha256.Sum256(data)
			out = append(out, struct{ name, path, sha string }{"real-" + fmt.Sprint(len(data)>>20) + "MiB", p, hex.EncodeToString(sum[:])})
		}
	}
	p, sha := testrelease.Write(b, b.TempDir(), "3.6.16", 60)
	return append(out, struct{ name, path, sha string }{"stored-60MiB", p, sha})
}

// BenchmarkReleaseOpen is the fixed cost every build pays before its first
// byte of output: the tarball's sha256, then the layout check, which reads
// the whole archive.
func BenchmarkReleaseOpen(b *testing.B) {
	for _, r := range benchReleases(b) {
		b.Run("release="+r.name, func(b *testing.B) {
			st, err := os.Stat(r.path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Size())
			for b.Loop() {
				if _, err := release.Open(r.path, "3.6.16", "amd64", r.sha); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuild is `etcdimg build` end to end on a 5-node spec, PKI
// already made (as on every rebuild): the in-process twin of
// scripts/bench.sh's etcdimg run, for -cpuprofile and -memprofile.
func BenchmarkBuild(b *testing.B) {
	for _, r := range benchReleases(b) {
		b.Run("nodes=5/release="+r.name, func(b *testing.B) {
			dir := b.TempDir()
			spec := filepath.Join(dir, "cluster.jsonnet")
			if err := os.WriteFile(spec, []byte(strings.Replace(baseSpec, "%s",
				`{nodes: etcdimg.nodes('etcd', ['192.168.0.11', '192.168.0.12', '192.168.0.13', '192.168.0.14', '192.168.0.15'])}`, 1)), 0o644); err != nil {
				b.Fatal(err)
			}
			st, err := os.Stat(r.path)
			if err != nil {
				b.Fatal(err)
			}
			o := pipeline.Options{
				Spec:    spec,
				Jsonnet: jsonnet.Options{ExtStr: map[string]string{"release": r.path, "sha": r.sha}},
				OutDir:  filepath.Join(dir, "out"),
				PKIDir:  filepath.Join(dir, "pki"),
				Epoch:   time.Unix(1700000000, 0),
			}
			mustBuild(b, o) // makes the PKI outside the measurement
			b.SetBytes(5 * st.Size())
			for b.Loop() {
				mustBuild(b, o)
			}
		})
	}
}

func mustBuild(tb testing.TB, o pipeline.Options) *pipeline.Result {
	tb.Helper()
	res, err := pipeline.Build(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	if res.Report.IsFatal() {
		tb.Fatalf("build:\n%s", res.Report)
	}
	return res
}

// TestParallelBuildIsByteIdentical: node builds run concurrently, so any
// shared state between them (a reused buffer, a map walked in random order,
// results stored by completion order) would show up as a difference from a
// one-at-a-time build of the same inputs.
func TestParallelBuildIsByteIdentical(t *testing.T) {
	root := t.TempDir()
	// A release of a few MiB keeps several ISO writes in flight at once.
	rel, sha := testrelease.Write(t, root, "3.6.16", 3)
	spec := writeSpec(t, `{nodes: etcdimg.nodes('etcd', ['192.168.0.11', '192.168.0.12', '192.168.0.13', '192.168.0.14', '192.168.0.15', '192.168.0.16', '192.168.0.17', '192.168.0.18', '192.168.0.19'])}`)
	base := pipeline.Options{
		Spec:    spec,
		Jsonnet: jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": sha}},
		PKIDir:  filepath.Join(root, "pki"),
		Epoch:   time.Unix(1700000000, 0),
	}
	trees := map[int]map[string][]byte{}
	for _, par := range []int{1, 4} {
		o := base
		o.Parallel = par
		o.OutDir = filepath.Join(root, fmt.Sprintf("parallel-%d", par))
		var done []string
		o.OnNode = func(r pipeline.NodeResult) { done = append(done, r.Name) }
		res := mustBuild(t, o)
		if len(res.Nodes) != 9 || len(done) != 9 {
			t.Fatalf("parallel %d: %d results, %d callbacks, want 9 each", par, len(res.Nodes), len(done))
		}
		// Results come back in spec order whatever order nodes finished in.
		for i, r := range res.Nodes {
			if want := fmt.Sprintf("etcd%02d", i+1); r.Name != want {
				t.Errorf("parallel %d: result %d is %s, want %s", par, i, r.Name, want)
			}
		}
		trees[par] = readTree(t, o.OutDir)
	}
	seq, par := trees[1], trees[4]
	if len(seq) != len(par) {
		t.Errorf("sequential build wrote %d files, parallel %d", len(seq), len(par))
	}
	isos := 0
	for name, want := range seq {
		got, ok := par[name]
		switch {
		case !ok:
			t.Errorf("%s: missing from the parallel build", name)
		case !bytes.Equal(got, want):
			t.Errorf("%s: differs between Parallel 1 and Parallel 4", name)
		}
		if strings.HasSuffix(name, ".iso") {
			isos++
		}
	}
	for name := range par {
		if _, ok := seq[name]; !ok {
			t.Errorf("%s: only in the parallel build", name)
		}
	}
	if isos != 9 {
		t.Errorf("compared %d ISOs, want 9", isos)
	}
}

// readTree returns every regular file under dir by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
