package pipeline_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/internal/testrelease"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/pipeline"
)

func fakeRelease(t *testing.T, version string) (string, string) {
	return testrelease.Write(t, t.TempDir(), version, 0)
}

// baseSpec is a valid three-node spec; tests patch it with std.mergePatch.
const baseSpec = `
local etcdimg = import 'etcdimg.libsonnet';
local base = {
  name: 'test',
  domain: 'example.internal',
  network: { cidr: '192.168.0.0/24', gateway: '192.168.0.1' },
  etcd: { version: '3.6.16', release: { path: std.extVar('release'), sha256: std.extVar('sha') } },
  nodes: etcdimg.nodes('etcd', ['192.168.0.11', '192.168.0.12', '192.168.0.13']),
};
std.mergePatch(base, %s)
`

func writeSpec(t *testing.T, patch string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cluster.jsonnet")
	if err := os.WriteFile(p, []byte(strings.Replace(baseSpec, "%s", patch, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func opts(t *testing.T, spec, out string) pipeline.Options {
	rel, sha := fakeRelease(t, "3.6.16")
	return pipeline.Options{
		Spec:    spec,
		Jsonnet: jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": sha}},
		OutDir:  out,
		PKIDir:  filepath.Join(filepath.Dir(out), "pki"),
		// Layout stamps of releases stay inside the test.
		CacheDir: filepath.Join(filepath.Dir(out), "cache"),
		Epoch:    time.Unix(1700000000, 0),
	}
}

// TestBadSpecs: each mistake is reported with its path and exact message,
// and nothing at all is written.
func TestBadSpecs(t *testing.T) {
	cases := []struct {
		name  string
		patch string
		want  []string
	}{
		{"bad ip", `{nodes: [{name: 'a', ip: '192.168.0.300'}]}`,
			[]string{`error: nodes[0].ip: "192.168.0.300" is not an IPv4 or IPv6 address`}},
		{"ip outside network", `{nodes: [{name: 'a', ip: '10.0.0.1'}]}`,
			[]string{`error: nodes[0].ip: 10.0.0.1 is outside the node network 192.168.0.0/24`}},
		{"duplicates", `{nodes: [{name: 'a', ip: '192.168.0.5', mac: '52:54:00:00:00:01'}, {name: 'a', ip: '192.168.0.5', mac: '52:54:00:00:00:01'}, {name: 'c', ip: '192.168.0.7'}]}`,
			[]string{
				`error: nodes[1].ip: 192.168.0.5 is already the address of nodes[0]`,
				`error: nodes[1].mac: 52:54:00:00:00:01 is already the MAC of nodes[0]`,
				`error: nodes[1].name: "a" is already the name of nodes[0]`,
			}},
		{"not a dns label", `{nodes: [{name: 'Node_1', ip: '192.168.0.5'}]}`,
			[]string{`error: nodes[0].name: "Node_1" is not a DNS label: use 1-63 lower-case letters, digits and '-', not starting or ending with '-'`}},
		{"election too short", `{etcd: {heartbeatIntervalMs: 1000, electionTimeoutMs: 3000}}`,
			[]string{`error: etcd.electionTimeoutMs: 3000 is less than 5 × heartbeatIntervalMs (1000); etcd needs at least 5000`}},
		{"ports", `{etcd: {clientPort: 80, peerPort: 70000, extraClientPorts: [4001, 4001]}}`,
			[]string{
				`error: etcd.clientPort: 80 is a privileged port; etcd runs as an unprivileged user, use 1024-65535`,
				`error: etcd.extraClientPorts[1]: 4001 is already used by etcd.extraClientPorts[0]`,
				`error: etcd.peerPort: 70000 is not a port (1-65535)`,
			}},
		{"port clash", `{etcd: {clientPort: 2380}}`,
			[]string{`error: etcd.peerPort: 2380 is also the client port; peers and clients need different ports`}},
		{"data dir", `{etcd: {dataDir: 'var/lib/etcd'}}`,
			[]string{`error: etcd.dataDir: "var/lib/etcd" is not an absolute path`}},
		{"sha256", `{etcd: {release: {sha256: 'abc'}}}`,
			[]string{`error: etcd.release.sha256: "abc" is not a sha256: want 64 hex digits`}},
		{"sha256 missing", `{etcd: {release: {sha256: null}}}`,
			[]string{"error: etcd.release.sha256: required: pin the tarball's sha256 (`sha256sum` prints it; `make etcd-release` too)"}},
		{"unknown field", `{etcd: {heartbeatIntervalMS: 100}}`,
			[]string{`error: etcd.heartbeatIntervalMS: unknown field; did you mean "heartbeatIntervalMs"?`}},
		{"wrong type", `{etcd: {clientPort: '2379'}}`,
			[]string{`error: etcd.clientPort: expected an integer, got string "2379"`}},
		{"version", `{etcd: {version: '3.4.30'}}`,
			[]string{`error: etcd.version: etcd 3.4 is not supported: use 3.5, 3.6, 3.7`}},
		{"unknown flag", `{etcd: {extraFlags: {'snapshot-cont': 100}}}`,
			[]string{`error: etcd.extraFlags.snapshot-cont: etcd 3.6 has no flag --snapshot-cont; did you mean "snapshot-count"?`}},
		{"managed flag", `{etcd: {extraFlags: {'data-dir': '/x'}}}`,
			[]string{`error: etcd.extraFlags.data-dir: --data-dir is set by etcdimg; use etcd.dataDir instead`}},
		{"gateway", `{network: {gateway: '10.1.1.1'}}`,
			[]string{`error: network.gateway: 10.1.1.1 is outside the node network 192.168.0.0/24`}},
		{"cidr host bits", `{network: {cidr: '192.168.0.1/24'}}`,
			[]string{`error: network.cidr: "192.168.0.1/24" has host bits set; write "192.168.0.0/24"`}},
		{"release missing", `{etcd: {release: {path: '/nonexistent/etcd-v3.6.16-linux-amd64.tar.gz'}}}`,
			[]string{`error: etcd.release.path: `}},
		{"release sha mismatch", `{etcd: {release: {sha256: '` + strings.Repeat("0", 64) + `'}}}`,
			[]string{`error: etcd.release.path: `}},
		// Both used to pass validate and fail inside build, after writing.
		{"static pod quantity", `{etcd: {runtime: 'static-pod', staticPod: {cpuRequest: '100 millicores'}}}`,
			[]string{`error: etcd.staticPod.cpuRequest: "100 millicores" is not a Kubernetes quantity such as 100m, 0.5, 100Mi or 1Gi`}},
		{"SAN with a zone", `{nodes: [{name: 'a', ip: '192.168.0.5', extraSANs: ['fe80::1%eth0']}]}`,
			[]string{`error: nodes[0].extraSANs[0]: "fe80::1%eth0" has a zone (%eth0); a certificate holds the address alone: write "fe80::1"`}},
		{"root", `{etcd: {user: {name: 'root', group: 'root'}}}`,
			[]string{`error: etcd.user.group: "root" is the superuser's group; etcd never runs as root: use a group of its own such as "etcd"`,
				`error: etcd.user.name: "root" is the superuser; etcd never runs as root: use an account of its own such as "etcd"`}},
		{"explicit zero", `{etcd: {clientPort: 0, user: {uid: 0}}, tls: {validityDays: 0}}`,
			[]string{`error: etcd.clientPort: 0 is not a port (1-65535)`,
				`error: etcd.user.uid: 0 is out of range 1-60000: 0 is root; etcd never runs as root`,
				`error: tls.validityDays: 0 is out of range 1-36500 days`}},
		{"newline injection", `{etcd: {extraFlags: {'log-level': 'info\nExecStartPre=/bin/evil'}}}`,
			[]string{`error: etcd.extraFlags.log-level: the value must be one line`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			out := filepath.Join(root, "out")
			o := opts(t, writeSpec(t, tc.patch), out)
			res, err := pipeline.Build(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Report.IsFatal() {
				t.Fatalf("want errors, got report:\n%s", res.Report)
			}
			var got []string
			for _, e := range res.Report.Errors() {
				got = append(got, e.String())
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(g string) bool { return g == w || strings.HasSuffix(w, ": ") && strings.HasPrefix(g, w) }) {
					t.Errorf("missing %q in\n%s", w, strings.Join(got, "\n"))
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("want %d errors, got %d:\n%s", len(tc.want), len(got), strings.Join(got, "\n"))
			}
			entries, _ := os.ReadDir(root)
			for _, e := range entries {
				t.Errorf("a bad spec wrote %s", e.Name())
			}
		})
	}
}

func TestBuildWritesSeeds(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	o := opts(t, writeSpec(t, `{}`), out)
	res, err := pipeline.Build(context.Background(), o)
	if err != nil || res.Report.IsFatal() {
		t.Fatalf("build: %v\n%s", err, res.Report)
	}
	tarball, _ := os.ReadFile(o.Jsonnet.ExtStr["release"])
	caKey, _ := os.ReadFile(filepath.Join(o.PKIDir, "ca.key"))
	adminKey, _ := os.ReadFile(filepath.Join(o.PKIDir, "admin.key"))
	for _, n := range []string{"etcd01", "etcd02", "etcd03"} {
		img, err := isoread.Read(filepath.Join(out, n+".iso"))
		if err != nil {
			t.Fatal(err)
		}
		if img.Label != "cidata" {
			t.Errorf("%s: label %q", n, img.Label)
		}
		for _, f := range []string{"user-data", "meta-data", "network-config"} {
			disk, _ := os.ReadFile(filepath.Join(out, n, f))
			if !bytes.Equal(img.Files[f], disk) || len(disk) == 0 {
				t.Errorf("%s: %s on the ISO differs from %s/%s", n, f, n, f)
			}
		}
		if !bytes.Equal(img.Files["etcdimg/etcd-v3.6.16-linux-amd64.tar.gz"], tarball) {
			t.Errorf("%s: tarball on the ISO differs from the release", n)
		}
		// Every private key on the ISO must be this node's own.
		var keys int
		for p, b := range img.Files {
			for rest := b; ; {
				var blk *pem.Block
				blk, rest = pem.Decode(rest)
				if blk == nil {
					break
				}
				if !strings.Contains(blk.Type, "PRIVATE KEY") {
					continue
				}
				keys++
				own, _ := os.ReadFile(filepath.Join(o.PKIDir, "nodes", n, strings.TrimPrefix(p, "etcdimg/pki/")))
				if !bytes.Equal(own, b) {
					t.Errorf("%s: %s holds a key that is not the node's own", n, p)
				}
				if bytes.Contains(b, bytes.TrimSpace(caKey)) || bytes.Contains(b, bytes.TrimSpace(adminKey)) {
					t.Errorf("%s: %s holds the CA or admin key", n, p)
				}
			}
		}
		if keys != 3 {
			t.Errorf("%s: %d private keys on the ISO, want 3 (server, peer, healthcheck-client)", n, keys)
		}
	}
	for _, f := range []string{"cluster.json", "etcdctl.env", pipeline.MarkerFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestBuildIsReproducible: same spec, PKI, tarball and epoch → the same bytes.
func TestBuildIsReproducible(t *testing.T) {
	root := t.TempDir()
	spec := writeSpec(t, `{}`)
	o1 := opts(t, spec, filepath.Join(root, "a"))
	o1.PKIDir = filepath.Join(root, "pki")
	o2 := o1
	o2.OutDir = filepath.Join(root, "b")
	for _, o := range []pipeline.Options{o1, o2} {
		if res, err := pipeline.Build(context.Background(), o); err != nil || res.Report.IsFatal() {
			t.Fatalf("build: %v %v", err, res.Report)
		}
	}
	for _, n := range []string{"etcd01.iso", "etcd02.iso", "etcd03.iso", "etcd01/user-data", "cluster.json"} {
		a, _ := os.ReadFile(filepath.Join(o1.OutDir, n))
		b, _ := os.ReadFile(filepath.Join(o2.OutDir, n))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same inputs", n)
		}
	}
}

func TestRefusesForeignFolder(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "thesis.tex"), []byte("precious"), 0o644)
	o := opts(t, writeSpec(t, `{}`), out)
	res, err := pipeline.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Report.IsFatal() || !strings.Contains(res.Report.String(), "pass --force") {
		t.Fatalf("want a refusal, got:\n%s", res.Report)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("refused build still wrote into %s", out)
	}
	if _, err := os.Stat(o.PKIDir); err == nil {
		t.Errorf("refused build created the PKI")
	}
	o.Force = true
	if res, err := pipeline.Build(context.Background(), o); err != nil || res.Report.IsFatal() {
		t.Fatalf("--force build: %v %s", err, res.Report)
	}
	// A second build into its own folder needs no --force.
	o.Force = false
	if res, err := pipeline.Build(context.Background(), o); err != nil || res.Report.IsFatal() {
		t.Fatalf("rebuild: %v %s", err, res.Report)
	}
}
