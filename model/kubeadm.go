package model

import (
	"path"
	"regexp"

	"github.com/etcdimg/etcdimg/spec"
)

// Kubeadm is the kubeadm external-etcd option, resolved; nil on a cluster
// without it.
type Kubeadm struct {
	CgroupDriver             string
	ContainerRuntimeEndpoint string
}

// KubeadmPKIDir is where kubeadm keeps etcd's certificates on a node
// (kubeadm's etcd/ folder below /etc/kubernetes/pki); with kubeadm.enabled
// it is tls.dir. pki.NodeFiles already names the files as kubeadm does
// (ca.crt, server, peer, healthcheck-client), so the layout is the folder.
const KubeadmPKIDir = "/etc/kubernetes/pki/etcd"

// The kubelet drop-in of kubeadm's "Set up a High Availability etcd cluster
// with kubeadm" guide, for the static-pod runtime: the unit override that
// runs kubelet standalone, and the KubeletConfiguration it reads. The guide
// keeps the configuration in the drop-in folder under a .conf name, where
// systemd parses it too and logs each YAML line as an assignment outside a
// section; etcdimg keeps the guide's unit override and puts the
// configuration beside kubeadm's own files instead.
const (
	KubeletDropInPath = "/etc/systemd/system/kubelet.service.d/20-etcd-service-manager.conf"
	KubeletConfigPath = "/etc/kubernetes/kubelet-etcd.yaml"
	// KubeletPath is where the pkgs.k8s.io Debian packages install kubelet.
	KubeletPath = "/usr/bin/kubelet"
)

var (
	cgroupDrivers = []string{"systemd", "cgroupfs"}
	criSocketRE   = regexp.MustCompile(`^unix://(/[A-Za-z0-9._+-]+)+$`)
)

// kubeadm resolves the kubeadm option; it runs after tls and the runtime,
// whose values it checks against.
func (v *validator) kubeadmOption(c *spec.Cluster, m *Cluster) *Kubeadm {
	k, d := c.Kubeadm, v.d.Kubeadm
	kubeletSet := k.Kubelet != (spec.Kubelet{})
	if !or(k.Enabled, d.Enabled) {
		if kubeletSet {
			v.warnf("kubeadm.kubelet", "ignored: kubeadm.enabled is false")
		}
		return nil
	}
	r := &Kubeadm{
		CgroupDriver:             or(k.Kubelet.CgroupDriver, d.Kubelet.CgroupDriver),
		ContainerRuntimeEndpoint: or(k.Kubelet.ContainerRuntimeEndpoint, d.Kubelet.ContainerRuntimeEndpoint),
	}
	if !m.TLS.Enabled {
		v.errf("kubeadm.enabled", "kubeadm's external etcd is TLS with client certificates: tls.enabled must not be false")
	}
	if c.TLS.Dir != nil && *c.TLS.Dir != KubeadmPKIDir {
		v.errf("tls.dir", "%q: kubeadm.enabled puts the certificates in kubeadm's %s; leave tls.dir out", *c.TLS.Dir, KubeadmPKIDir)
	}
	if !contains(cgroupDrivers, r.CgroupDriver) {
		v.errf("kubeadm.kubelet.cgroupDriver", "%q is not systemd or cgroupfs (it must match the container runtime's)", r.CgroupDriver)
	}
	if !criSocketRE.MatchString(r.ContainerRuntimeEndpoint) || path.Clean(r.ContainerRuntimeEndpoint[len("unix://"):]) != r.ContainerRuntimeEndpoint[len("unix://"):] {
		v.errf("kubeadm.kubelet.containerRuntimeEndpoint", "%q is not a CRI socket like \"unix:///var/run/containerd/containerd.sock\"", r.ContainerRuntimeEndpoint)
	}
	if _, static := m.Etcd.Runtime.(*StaticPodRuntime); !static && kubeletSet {
		v.warnf("kubeadm.kubelet", "ignored: kubelet runs etcd only with etcd.runtime \"static-pod\", not %q", m.Etcd.Runtime.Name())
	}
	return r
}

// KubeletStaticPodPath is the folder kubelet watches for the manifest.
func (rt *StaticPodRuntime) KubeletStaticPodPath() string { return path.Dir(rt.ManifestPath) }
