package model_test

import (
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

func kubeadmOn(c *spec.Cluster) { c.Kubeadm.Enabled = new(true) }

// Each mistake of the kubeadm and arch options is one finding at its path.
func TestKubeadmAndArchRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*spec.Cluster)
		want   []string // every entry, "severity: path: message" prefixes
	}{
		{"plain http", func(c *spec.Cluster) { kubeadmOn(c); c.TLS.Enabled = new(false) }, []string{
			"error: kubeadm.enabled: kubeadm's external etcd is TLS with client certificates: tls.enabled must not be false",
			"warning: tls.enabled: false"}},
		{"other tls.dir", func(c *spec.Cluster) { kubeadmOn(c); c.TLS.Dir = new("/etc/etcd/pki") }, []string{
			`error: tls.dir: "/etc/etcd/pki": kubeadm.enabled puts the certificates in kubeadm's /etc/kubernetes/pki/etcd; leave tls.dir out`}},
		{"cgroup driver", func(c *spec.Cluster) { kubeadmOn(c); c.Kubeadm.Kubelet.CgroupDriver = new("cgroups") }, []string{
			`warning: kubeadm.kubelet: ignored: kubelet runs etcd only with etcd.runtime "static-pod", not "systemd"`,
			`error: kubeadm.kubelet.cgroupDriver: "cgroups" is not systemd or cgroupfs`}},
		{"cri socket", func(c *spec.Cluster) {
			kubeadmOn(c)
			c.Etcd.Runtime = new("static-pod")
			c.Kubeadm.Kubelet.ContainerRuntimeEndpoint = new("/run/containerd/containerd.sock")
		}, []string{
			"warning: etcd.runtime: static-pod: etcdimg writes the manifest and kubelet's drop-in (kubeadm.enabled)",
			`error: kubeadm.kubelet.containerRuntimeEndpoint: "/run/containerd/containerd.sock" is not a CRI socket like "unix:///var/run/containerd/containerd.sock"`}},
		{"unclean cri socket", func(c *spec.Cluster) {
			kubeadmOn(c)
			c.Etcd.Runtime = new("static-pod")
			c.Kubeadm.Kubelet.ContainerRuntimeEndpoint = new("unix:///run/../etc/x.sock")
		}, []string{
			"warning: etcd.runtime: static-pod",
			`error: kubeadm.kubelet.containerRuntimeEndpoint: "unix:///run/../etc/x.sock" is not a CRI socket`}},
		{"kubelet without kubeadm", func(c *spec.Cluster) { c.Kubeadm.Kubelet.CgroupDriver = new("cgroupfs") }, []string{
			"warning: kubeadm.kubelet: ignored: kubeadm.enabled is false"}},
		{"arch", func(c *spec.Cluster) { c.Etcd.Arch = new("x86_64") }, []string{
			`error: etcd.arch: "x86_64" is not one of amd64, arm64`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			m, r := model.Validate(c)
			if len(r.Entries) != len(tc.want) {
				t.Fatalf("want %d entries, got:\n%s", len(tc.want), r)
			}
			for i, e := range r.Entries {
				if !strings.HasPrefix(e.String(), tc.want[i]) {
					t.Errorf("entry %d is %q, want it to start %q", i, e.String(), tc.want[i])
				}
			}
			if r.IsFatal() != (m == nil) {
				t.Errorf("model %v with a fatal report %v", m != nil, r.IsFatal())
			}
		})
	}
}

// kubeadm.enabled moves the certificates to kubeadm's folder (an explicit
// tls.dir equal to it is fine), takes the guide's kubelet values, and owns
// the kubelet files only when kubelet runs etcd.
func TestKubeadmResolved(t *testing.T) {
	c := base()
	m, r := model.Validate(c)
	if r.IsFatal() || m.Kubeadm != nil || m.TLS.Dir != "/etc/etcd/pki" || m.Etcd.Arch != "amd64" {
		t.Fatalf("default: kubeadm %v, tls.dir %q, arch %q\n%s", m.Kubeadm, m.TLS.Dir, m.Etcd.Arch, r)
	}
	for _, dir := range []*string{nil, new(model.KubeadmPKIDir)} {
		c := base()
		kubeadmOn(c)
		c.TLS.Dir = dir
		c.Etcd.Arch = new("arm64")
		m, r := model.Validate(c)
		if r.IsFatal() {
			t.Fatal(r)
		}
		if m.TLS.Dir != "/etc/kubernetes/pki/etcd" || m.Etcd.Arch != "arm64" {
			t.Errorf("tls.dir %q, arch %q", m.TLS.Dir, m.Etcd.Arch)
		}
		if *m.Kubeadm != (model.Kubeadm{CgroupDriver: "systemd", ContainerRuntimeEndpoint: "unix:///var/run/containerd/containerd.sock"}) {
			t.Errorf("kubeadm %+v", *m.Kubeadm)
		}
		if m.OwnedPath(model.KubeletDropInPath) != "" {
			t.Error("the kubelet drop-in is owned under the systemd runtime")
		}
		if m.OwnedPath("/etc/kubernetes/pki/etcd/extra.pem") == "" {
			t.Error("kubeadm's etcd PKI folder is not owned")
		}
	}
	c = base()
	kubeadmOn(c)
	c.Etcd.Runtime = new("static-pod")
	m, r = model.Validate(c)
	if r.IsFatal() {
		t.Fatal(r)
	}
	for _, p := range []string{model.KubeletDropInPath, model.KubeletConfigPath} {
		if m.OwnedPath(p) == "" {
			t.Errorf("%s is not owned under static-pod + kubeadm", p)
		}
	}
}
