package generator

import (
	"bytes"
	"fmt"
	"path"
	"text/template"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/pki"
)

// kubeletConfiguration is the KubeletConfiguration of kubeadm's "Set up a
// High Availability etcd cluster with kubeadm" guide: a kubelet that
// belongs to no cluster and only runs the static pods in one folder. It
// listens on loopback only, so AlwaysAllow with anonymous and webhook
// authentication off lets nothing from the network in. The tests decode it
// strictly into the field names of kubelet.config.k8s.io/v1beta1.
type kubeletConfiguration struct {
	APIVersion               string       `yaml:"apiVersion"`
	Kind                     string       `yaml:"kind"`
	Authentication           kubeletAuthn `yaml:"authentication"`
	Authorization            kubeletAuthz `yaml:"authorization"`
	CgroupDriver             string       `yaml:"cgroupDriver"`
	Address                  string       `yaml:"address"`
	ContainerRuntimeEndpoint string       `yaml:"containerRuntimeEndpoint"`
	StaticPodPath            string       `yaml:"staticPodPath"`
}

type kubeletAuthn struct {
	Anonymous kubeletAuthnEnabled `yaml:"anonymous"`
	Webhook   kubeletAuthnEnabled `yaml:"webhook"`
}

type kubeletAuthnEnabled struct {
	Enabled bool `yaml:"enabled"`
}

type kubeletAuthz struct {
	Mode string `yaml:"mode"`
}

// kubeletDropInTemplate replaces the kubelet.service command of the
// kubelet package (and of kubeadm's 10-kubeadm.conf) with a standalone
// kubelet reading the file above: the guide's 20-etcd-service-manager.conf,
// whose name sorts after kubeadm's drop-in so its ExecStart wins.
var kubeletDropInTemplate = template.Must(template.New("kubelet").Funcs(template.FuncMap{
	"arg":  systemdArg,
	"spec": systemdSpecifierEscape,
}).Parse(`# Written by etcdimg for member {{spec .Node}} of cluster {{spec .Cluster}}: kubelet runs the etcd static pod
# and nothing else, as in kubeadm's "Set up a High Availability etcd cluster with kubeadm".
[Service]
ExecStart=
ExecStart={{arg .Kubelet}} --config={{arg .Config}}
Restart=always
`))

// KubeletFiles are the kubelet drop-in and its configuration for node n, or
// nil when the cluster is not kubeadm's or etcd is not a static pod.
func KubeletFiles(c *model.Cluster, n model.Node) ([]writeFile, error) {
	rt, ok := c.Etcd.Runtime.(*model.StaticPodRuntime)
	if c.Kubeadm == nil || !ok {
		return nil, nil
	}
	conf := kubeletConfiguration{
		APIVersion: "kubelet.config.k8s.io/v1beta1",
		Kind:       "KubeletConfiguration",
		Authentication: kubeletAuthn{
			Anonymous: kubeletAuthnEnabled{Enabled: false},
			Webhook:   kubeletAuthnEnabled{Enabled: false},
		},
		Authorization:            kubeletAuthz{Mode: "AlwaysAllow"},
		CgroupDriver:             c.Kubeadm.CgroupDriver,
		Address:                  "127.0.0.1",
		ContainerRuntimeEndpoint: c.Kubeadm.ContainerRuntimeEndpoint,
		StaticPodPath:            rt.KubeletStaticPodPath(),
	}
	body, err := marshal(conf)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Written by etcdimg for member %s of cluster %s: kubelet's configuration on an etcd node (kubeadm external etcd).\n", n.Name, c.Name)
	var unit bytes.Buffer
	if err := kubeletDropInTemplate.Execute(&unit, map[string]string{
		"Node": n.Name, "Cluster": c.Name, "Kubelet": model.KubeletPath, "Config": model.KubeletConfigPath,
	}); err != nil {
		return nil, err
	}
	return []writeFile{
		{Path: model.KubeletConfigPath, Owner: "root:root", Permissions: "0644", Content: head + string(body)},
		{Path: model.KubeletDropInPath, Owner: "root:root", Permissions: "0644", Content: unit.String()},
	}, nil
}

// Where kubeadm keeps the external etcd's client files on a control-plane
// node (kubeadm's own defaults: the etcd CA beside its local-etcd one, the
// client pair in /etc/kubernetes/pki).
const (
	KubeadmCAFile   = "/etc/kubernetes/pki/etcd/ca.crt"
	KubeadmCertFile = "/etc/kubernetes/pki/apiserver-etcd-client.crt"
	KubeadmKeyFile  = "/etc/kubernetes/pki/apiserver-etcd-client.key"
)

// KubeadmCopies lists, for a control-plane node, which file of the host PKI
// folder goes where: the CA certificate (never its key) and kube-apiserver's
// client pair.
func KubeadmCopies() [][2]string {
	return [][2]string{
		{"ca.crt", KubeadmCAFile},
		{pki.ProfileAPIServerEtcdClient + ".crt", KubeadmCertFile},
		{pki.ProfileAPIServerEtcdClient + ".key", KubeadmKeyFile},
	}
}

type kubeadmClusterConfiguration struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Etcd       kubeadmEtcd `yaml:"etcd"`
}

type kubeadmEtcd struct {
	External kubeadmExternalEtcd `yaml:"external"`
}

type kubeadmExternalEtcd struct {
	Endpoints []string `yaml:"endpoints"`
	CAFile    string   `yaml:"caFile"`
	CertFile  string   `yaml:"certFile"`
	KeyFile   string   `yaml:"keyFile"`
}

// KubeadmConfig is the ClusterConfiguration with the cluster as kubeadm's
// external etcd: every member's client URL on its node address, and the
// files of KubeadmCopies. kubeadm merges it with the rest of the operator's
// configuration (kubeadm init --config). v1beta4 is kubeadm 1.31's and
// later's; etcd.external is the same in v1beta3.
func KubeadmConfig(c *model.Cluster) ([]byte, error) {
	var eps []string
	for _, n := range c.Nodes {
		eps = append(eps, c.AdvertiseClientURLs(n)[0])
	}
	body, err := marshal(kubeadmClusterConfiguration{
		APIVersion: "kubeadm.k8s.io/v1beta4",
		Kind:       "ClusterConfiguration",
		Etcd: kubeadmEtcd{External: kubeadmExternalEtcd{
			Endpoints: eps, CAFile: KubeadmCAFile, CertFile: KubeadmCertFile, KeyFile: KubeadmKeyFile,
		}},
	})
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Written by etcdimg: cluster %s as kubeadm's external etcd. On each control-plane node, copy from the PKI folder:\n", c.Name)
	for _, cp := range KubeadmCopies() {
		head += fmt.Sprintf("#   %s -> %s\n", cp[0], cp[1])
	}
	head += "# (" + path.Base(KubeadmKeyFile) + " mode 0600; the CA key stays in the PKI folder)\n"
	return append([]byte(head), body...), nil
}
