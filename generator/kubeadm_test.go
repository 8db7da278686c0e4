package generator_test

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/golden"
	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

// writeFiles reads the write_files of a node's user-data, by path.
func writeFiles(t *testing.T, c *model.Cluster, n model.Node) map[string]string {
	t.Helper()
	nf, err := generator.RenderNode(c, n, generator.ReleaseFor(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ud struct {
		WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
	}
	if err := yamlv3.Unmarshal(nf.UserData, &ud); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range ud.WriteFiles {
		out[f.Path] = f.Content
	}
	return out
}

// guideKubeletConf is the KubeletConfiguration of kubeadm's "Set up a High
// Availability etcd cluster with kubeadm" (kubernetes.io, kubeadm 1.31 and
// later), as the guide prints it.
const guideKubeletConf = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: systemd
address: 127.0.0.1
containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock
staticPodPath: /etc/kubernetes/manifests
`

// The kubelet configuration is the guide's document, with the values the
// spec sets and staticPodPath the manifest's folder; the drop-in replaces ExecStart with
// kubelet reading it, and systemd accepts it as a drop-in of a kubelet unit.
func TestKubeletFiles(t *testing.T) {
	for _, tc := range []struct {
		name            string
		sp              spec.StaticPod
		kubelet         spec.Kubelet
		podPath, driver string
		cri             string
	}{
		{"defaults", spec.StaticPod{}, spec.Kubelet{}, "/etc/kubernetes/manifests", "systemd", "unix:///var/run/containerd/containerd.sock"},
		{"cri-o, cgroupfs, own folder", spec.StaticPod{ManifestPath: new("/etc/kubelet.d/etcd.yaml")},
			spec.Kubelet{CgroupDriver: new("cgroupfs"), ContainerRuntimeEndpoint: new("unix:///var/run/crio/crio.sock")},
			"/etc/kubelet.d", "cgroupfs", "unix:///var/run/crio/crio.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadPatched(t, "kubeadm", func(c *spec.Cluster) { c.Etcd.StaticPod, c.Kubeadm.Kubelet = tc.sp, tc.kubelet })
			for _, n := range c.Nodes {
				files := writeFiles(t, c, n)
				var got, want map[string]any
				if err := yaml.UnmarshalStrict([]byte(files[model.KubeletConfigPath]), &got); err != nil {
					t.Fatalf("kubelet configuration: %v\n%s", err, files[model.KubeletConfigPath])
				}
				guide := strings.NewReplacer("/etc/kubernetes/manifests", tc.podPath, "cgroupDriver: systemd", "cgroupDriver: "+tc.driver,
					"unix:///var/run/containerd/containerd.sock", tc.cri).Replace(guideKubeletConf)
				if err := yaml.UnmarshalStrict([]byte(guide), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("kubelet configuration %v, want the guide's %v", got, want)
				}
				if path.Dir(c.Etcd.Runtime.(*model.StaticPodRuntime).ManifestPath) != got["staticPodPath"] {
					t.Error("kubelet does not watch the manifest's folder")
				}
				dropIn := files[model.KubeletDropInPath]
				var execs []string
				for _, l := range strings.Split(dropIn, "\n") {
					if strings.HasPrefix(l, "ExecStart=") {
						execs = append(execs, l)
					}
				}
				if want := []string{"ExecStart=", "ExecStart=/usr/bin/kubelet --config=" + model.KubeletConfigPath}; !slices.Equal(execs, want) {
					t.Errorf("ExecStart lines %q, want %q", execs, want)
				}
				// systemd reads every *.conf of a drop-in folder as a unit
				// file: kubelet's YAML must not be one of them.
				if strings.HasPrefix(model.KubeletConfigPath, path.Dir(model.KubeletDropInPath)+"/") {
					t.Errorf("%s is in the drop-in folder", model.KubeletConfigPath)
				}
				verifyDropIn(t, dropIn)
			}
		})
	}
}

// verifyDropIn has systemd-analyze load a kubelet.service (kubelet
// package's shape) with the drop-in beside it.
func verifyDropIn(t *testing.T, dropIn string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	dir := t.TempDir()
	unit := "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/bin/true\nRestart=always\n[Install]\nWantedBy=multi-user.target\n"
	os.MkdirAll(filepath.Join(dir, "kubelet.service.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "kubelet.service"), []byte(unit), 0o644)
	// /usr/bin/kubelet is not on the test host: the same line with a
	// binary that is.
	os.WriteFile(filepath.Join(dir, "kubelet.service.d", "20-etcd-service-manager.conf"),
		[]byte(strings.ReplaceAll(dropIn, model.KubeletPath, "/bin/true")), 0o644)
	cmd := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, "kubelet.service"))
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":", "SYSTEMD_LOG_COLOR=0")
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// kubeadm's layout under every runtime: etcd's flags, the manifest's mount
// and etcdctl.env name /etc/kubernetes/pki/etcd; only the static pod gets
// kubelet's files.
func TestKubeadmLayout(t *testing.T) {
	for _, rt := range []string{"systemd", "container", "static-pod"} {
		c := loadPatched(t, "kubeadm", func(c *spec.Cluster) { c.Etcd.Runtime = new(rt) })
		n := c.Nodes[1]
		files := writeFiles(t, c, n)
		all := strings.Join(slices.Collect(func(yield func(string) bool) {
			for _, v := range files {
				if !yield(v) {
					return
				}
			}
		}), "\n")
		for _, f := range []string{"ca.crt", "server.crt", "server.key", "peer.crt", "peer.key", "healthcheck-client.crt", "healthcheck-client.key"} {
			if !strings.Contains(all, "/etc/kubernetes/pki/etcd/"+f) {
				t.Errorf("%s: nothing names /etc/kubernetes/pki/etcd/%s", rt, f)
			}
		}
		if strings.Contains(all, "/etc/etcd/pki") || strings.Contains(all, "apiserver-etcd-client") || strings.Contains(all, "ca.key") {
			t.Errorf("%s: the old folder, the API server's certificate or a CA key is named on a node", rt)
		}
		env := files["/etc/etcd/etcdctl.env"]
		for _, l := range []string{"ETCDCTL_CACERT=/etc/kubernetes/pki/etcd/ca.crt", "ETCDCTL_CERT=/etc/kubernetes/pki/etcd/healthcheck-client.crt", "ETCDCTL_KEY=/etc/kubernetes/pki/etcd/healthcheck-client.key"} {
			if !strings.Contains(env, l+"\n") {
				t.Errorf("%s: etcdctl.env lacks %s", rt, l)
			}
		}
		_, hasDropIn := files[model.KubeletDropInPath]
		_, hasConf := files[model.KubeletConfigPath]
		if want := rt == "static-pod"; hasDropIn != want || hasConf != want {
			t.Errorf("%s: kubelet drop-in %v, configuration %v", rt, hasDropIn, hasConf)
		}
	}
	// Without kubeadm, the static pod's kubelet is the image's business.
	c := loadPatched(t, "kubeadm", func(c *spec.Cluster) { c.Kubeadm.Enabled = new(false) })
	if files := writeFiles(t, c, c.Nodes[0]); files[model.KubeletDropInPath] != "" || files[model.KubeletConfigPath] != "" {
		t.Error("kubelet files without kubeadm.enabled")
	}
}

// The ClusterConfiguration snippet: a golden, and read back, kubeadm's
// etcd.external with every member's client URL on its address (no
// loopback, no extra port) and the control-plane paths of KubeadmCopies.
func TestKubeadmConfig(t *testing.T) {
	c := loadPatched(t, "kubeadm", func(c *spec.Cluster) { c.Etcd.ExtraClientPorts = []int{4001} })
	b, err := generator.KubeadmConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("..", "testdata", "golden", "kubeadm", "kubeadm-etcd.yaml"), b)
	var cc struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Etcd       struct {
			External struct {
				Endpoints                 []string
				CAFile, CertFile, KeyFile string
			} `json:"external"`
		} `json:"etcd"`
	}
	if err := yaml.UnmarshalStrict(b, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.APIVersion != "kubeadm.k8s.io/v1beta4" || cc.Kind != "ClusterConfiguration" {
		t.Errorf("%s/%s", cc.APIVersion, cc.Kind)
	}
	want := []string{"https://192.168.0.31:2379", "https://192.168.0.32:2379", "https://192.168.0.33:2379"}
	if x := cc.Etcd.External; !slices.Equal(x.Endpoints, want) || x.CAFile != "/etc/kubernetes/pki/etcd/ca.crt" ||
		x.CertFile != "/etc/kubernetes/pki/apiserver-etcd-client.crt" || x.KeyFile != "/etc/kubernetes/pki/apiserver-etcd-client.key" {
		t.Errorf("etcd.external %+v", x)
	}
	for _, cp := range generator.KubeadmCopies() {
		if strings.Contains(cp[0], "ca.key") || !strings.Contains(string(b), cp[0]+" -> "+cp[1]) {
			t.Errorf("copy %v: not in the header, or a CA key", cp)
		}
	}
}
