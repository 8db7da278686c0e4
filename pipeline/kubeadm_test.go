package pipeline_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/internal/testrelease"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pipeline"
)

// A kubeadm build: the API server's client certificate is in the PKI folder
// and on no seed (neither is the CA key), the seeds install kubeadm's
// layout, and the output folder has the ClusterConfiguration snippet that
// names the members.
func TestBuildKubeadm(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	o := opts(t, writeSpec(t, `{kubeadm: {enabled: true}, etcd: {runtime: 'static-pod'}}`), out)
	res, err := pipeline.Build(context.Background(), o)
	if err != nil || res.Report.IsFatal() {
		t.Fatalf("build: %v\n%s", err, res.Report)
	}
	certPEM, err := os.ReadFile(filepath.Join(o.PKIDir, "apiserver-etcd-client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || cert.Subject.CommonName != "kube-apiserver-etcd-client" {
		t.Fatalf("apiserver-etcd-client.crt: %v %v", cert, err)
	}
	apiKey, _ := os.ReadFile(filepath.Join(o.PKIDir, "apiserver-etcd-client.key"))
	caKey, _ := os.ReadFile(filepath.Join(o.PKIDir, "ca.key"))
	if fi, err := os.Stat(filepath.Join(o.PKIDir, "apiserver-etcd-client.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("apiserver-etcd-client.key: %v %v", fi, err)
	}
	for _, n := range []string{"etcd01", "etcd02", "etcd03"} {
		img, err := isoread.Read(filepath.Join(out, n+".iso"))
		if err != nil {
			t.Fatal(err)
		}
		for p, b := range img.Files {
			if bytes.Contains(b, bytes.TrimSpace(apiKey)) || bytes.Contains(b, bytes.TrimSpace(caKey)) || bytes.Contains(b, bytes.TrimSpace(certPEM)) {
				t.Errorf("%s: %s carries the API server's certificate or key, or the CA key", n, p)
			}
			if strings.Contains(p, "apiserver") {
				t.Errorf("%s: %s is on the seed", n, p)
			}
		}
		ud := string(img.Files["user-data"])
		for _, want := range []string{"PKI_DIR='/etc/kubernetes/pki/etcd'", "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
			"path: /etc/systemd/system/kubelet.service.d/20-etcd-service-manager.conf"} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s: user-data lacks %q", n, want)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(out, outdir.KubeadmFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, res.Kubeadm) || res.KubeadmFile != filepath.Join(out, outdir.KubeadmFile) {
		t.Errorf("result %s differs from the file", res.KubeadmFile)
	}
	for _, want := range []string{"- https://192.168.0.11:2379\n", "- https://192.168.0.13:2379\n", "keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", outdir.KubeadmFile, want, b)
		}
	}
}

// An arm64 build takes the linux-arm64 release, puts it on the seeds and
// records the arch for attach; an amd64 tarball under the arm64 name is
// refused at etcd.release.path before anything is written.
func TestBuildArm64(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	o := opts(t, writeSpec(t, `{etcd: {arch: 'arm64'}}`), out)
	rel, sha := testrelease.WriteArch(t, t.TempDir(), "3.6.16", "arm64", 0)
	o.Jsonnet.ExtStr["release"], o.Jsonnet.ExtStr["sha"] = rel, sha
	res, err := pipeline.Build(context.Background(), o)
	if err != nil || res.Report.IsFatal() {
		t.Fatalf("build: %v\n%s", err, res.Report)
	}
	img, err := isoread.Read(filepath.Join(out, "etcd02.iso"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.Files["etcdimg/etcd-v3.6.16-linux-arm64.tar.gz"]; !ok {
		t.Error("no linux-arm64 tarball on the seed")
	}
	c, err := outdir.Read(out)
	if err != nil || c.MachineArch() != "arm64" {
		t.Errorf("cluster.json arch %q, %v", c.Arch, err)
	}

	// amd64 binaries in a tarball named for arm64.
	root = t.TempDir()
	out = filepath.Join(root, "out")
	o = opts(t, writeSpec(t, `{etcd: {arch: 'arm64'}}`), out)
	fake, sum := testrelease.WriteMismatched(t, t.TempDir(), "3.6.16", "arm64", "amd64")
	o.Jsonnet.ExtStr["release"], o.Jsonnet.ExtStr["sha"] = fake, sum
	res, err = pipeline.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	want := "error: etcd.release.path: release " + fake + ": etcd.arch is arm64, but etcd-v3.6.16-linux-arm64/etcd is built for amd64 (ELF machine EM_X86_64), not arm64 (EM_AARCH64)"
	if errs := res.Report.Errors(); len(errs) != 1 || !strings.HasPrefix(errs[0].String(), want) {
		t.Errorf("want one error starting %q, got:\n%s", want, res.Report)
	}
	if es, _ := os.ReadDir(root); len(es) != 0 {
		t.Errorf("a refused release wrote %d entries", len(es))
	}
}
