//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/testrelease"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pipeline"
)

// TestLoadClusterInfo (issue 10.3) runs without VMs: the harness reads
// cluster.json through outdir.Read (so it refuses what outdir refuses, e.g.
// an unknown schemaVersion) and layers its MAC fallbacks on top: the spec's
// MAC, else a generated one with a warning.
func TestLoadClusterInfo(t *testing.T) {
	dir := t.TempDir()
	rel, sha := testrelease.Write(t, dir, "3.6.16", 0)
	spec := filepath.Join(dir, "c.jsonnet")
	os.WriteFile(spec, []byte(`{name: 'c', network: {cidr: '10.0.0.0/24'},
  etcd: {version: '3.6.16', release: {path: '`+rel+`', sha256: '`+sha+`'}},
  nodes: [{name: 'a', ip: '10.0.0.2', mac: '52:54:00:00:00:02'}, {name: 'b', ip: '10.0.0.3'}]}`), 0o644)
	out := filepath.Join(dir, "out")
	res, err := pipeline.Build(context.Background(), pipeline.Options{Spec: spec, OutDir: out, CacheDir: filepath.Join(dir, "cache"), Jsonnet: jsonnet.Options{}})
	if err != nil || res.Report.IsFatal() {
		t.Fatalf("build: %v %s", err, res.Report)
	}
	c, err := LoadClusterInfo(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "c" || !c.TLS || c.uid() != 1501 || len(c.Nodes) != 2 || c.Dir() != out {
		t.Fatalf("%+v", c)
	}
	if a := c.Nodes[0]; a.MAC != "52:54:00:00:00:02" || a.ISO != "a.iso" || a.Endpoint() != "https://10.0.0.2:2379" {
		t.Errorf("node a: %+v", a)
	}
	if b := c.Nodes[1]; b.MAC != "52:54:00:e2:00:02" || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "node b") {
		t.Errorf("node b: %+v, warnings %v", b, c.Warnings)
	}
	if p := c.path(c.Etcdctl.CACert); p != filepath.Join(dir, "c-pki", "ca.crt") {
		t.Errorf("cacert %s", p)
	}
	// outdir's refusals are the harness's.
	b, _ := os.ReadFile(filepath.Join(out, outdir.ClusterFile))
	os.WriteFile(filepath.Join(out, outdir.ClusterFile), []byte(strings.Replace(string(b), `"schemaVersion": 1`, `"schemaVersion": 99`, 1)), 0o644)
	if _, err := LoadClusterInfo(out); err == nil || !strings.Contains(err.Error(), "schemaVersion 99") {
		t.Errorf("schemaVersion 99: %v", err)
	}
}
