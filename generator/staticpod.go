package generator

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/etcdimg/etcdimg/model"
)

// StaticPodOptions tunes the Kubernetes static pod runtime (the blog's
// Option 2). Zero values take kubeadm's defaults.
type StaticPodOptions struct {
	// Image defaults to registry.k8s.io/etcd:<version>-0, the tag scheme
	// kubeadm uses; that registry only has the patch releases Kubernetes
	// shipped, so other versions need an image given here.
	Image string
	// ManifestPath is where the manifest goes on the node; kubelet's
	// staticPodPath is /etc/kubernetes/manifests on kubeadm nodes.
	ManifestPath string
	// MetricsPort is the loopback port of --listen-metrics-urls, which
	// kubelet probes over plain HTTP: the client port needs a client
	// certificate that kubelet does not have.
	MetricsPort int
	// CPURequest and MemoryRequest (kubeadm's 100m and 100Mi) keep
	// kubelet from evicting etcd first under node pressure.
	CPURequest, MemoryRequest string
}

const (
	DefaultManifestPath = "/etc/kubernetes/manifests/etcd.yaml"
	DefaultMetricsPort  = 2381
)

// withDefaults fills in kubeadm's values.
func (o StaticPodOptions) withDefaults(c *model.Cluster) StaticPodOptions {
	if o.Image == "" {
		o.Image = "registry.k8s.io/etcd:" + c.Etcd.Version + "-0"
	}
	if o.ManifestPath == "" {
		o.ManifestPath = DefaultManifestPath
	}
	if o.MetricsPort == 0 {
		o.MetricsPort = DefaultMetricsPort
	}
	if o.CPURequest == "" {
		o.CPURequest = "100m"
	}
	if o.MemoryRequest == "" {
		o.MemoryRequest = "100Mi"
	}
	return o
}

// Path is where the manifest belongs on the node.
func (o StaticPodOptions) Path() string {
	if o.ManifestPath == "" {
		return DefaultManifestPath
	}
	return o.ManifestPath
}

// The pod types mirror the subset of k8s.io/api/core/v1 we write. The
// generator does not depend on k8s.io/api (a large module for a dozen
// fields); the tests decode the output strictly into the real types, so a
// misspelt field fails there. Field order is the order in the file.
type staticPod struct {
	APIVersion string        `yaml:"apiVersion"`
	Kind       string        `yaml:"kind"`
	Metadata   podObjectMeta `yaml:"metadata"`
	Spec       staticPodSpec `yaml:"spec"`
}

type podObjectMeta struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
	// Maps are written with sorted keys, so output stays deterministic.
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type staticPodSpec struct {
	HostNetwork       bool   `yaml:"hostNetwork"`
	PriorityClassName string `yaml:"priorityClassName"`
	// Static pods bypass the Priority admission plugin, so kubeadm spells
	// out system-node-critical's value for kubelet's eviction ordering.
	Priority        int32               `yaml:"priority"`
	SecurityContext podSecurityContext  `yaml:"securityContext"`
	Containers      []podContainer      `yaml:"containers"`
	Volumes         []podHostPathVolume `yaml:"volumes"`
}

type podSecurityContext struct {
	RunAsUser      int               `yaml:"runAsUser"`
	RunAsGroup     int               `yaml:"runAsGroup"`
	RunAsNonRoot   bool              `yaml:"runAsNonRoot"`
	SeccompProfile podSeccompProfile `yaml:"seccompProfile"`
}

type podSeccompProfile struct {
	Type string `yaml:"type"`
}

type podContainer struct {
	Name            string               `yaml:"name"`
	Image           string               `yaml:"image"`
	ImagePullPolicy string               `yaml:"imagePullPolicy"`
	Command         []string             `yaml:"command"`
	Resources       podResources         `yaml:"resources"`
	SecurityContext podContainerSecurity `yaml:"securityContext"`
	LivenessProbe   *podProbe            `yaml:"livenessProbe"`
	ReadinessProbe  *podProbe            `yaml:"readinessProbe,omitempty"`
	StartupProbe    *podProbe            `yaml:"startupProbe"`
	VolumeMounts    []podVolumeMount     `yaml:"volumeMounts"`
}

type podResources struct {
	Requests podResourceList `yaml:"requests"`
}

type podResourceList struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

type podContainerSecurity struct {
	AllowPrivilegeEscalation bool            `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   bool            `yaml:"readOnlyRootFilesystem"`
	Capabilities             podCapabilities `yaml:"capabilities"`
}

type podCapabilities struct {
	Drop []string `yaml:"drop"`
}

type podProbe struct {
	HTTPGet             podHTTPGet `yaml:"httpGet"`
	InitialDelaySeconds int        `yaml:"initialDelaySeconds"`
	PeriodSeconds       int        `yaml:"periodSeconds"`
	TimeoutSeconds      int        `yaml:"timeoutSeconds"`
	FailureThreshold    int        `yaml:"failureThreshold"`
}

type podHTTPGet struct {
	Host   string `yaml:"host"`
	Path   string `yaml:"path"`
	Port   int    `yaml:"port"`
	Scheme string `yaml:"scheme"`
}

type podVolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

type podHostPathVolume struct {
	Name     string          `yaml:"name"`
	HostPath podHostPathSpec `yaml:"hostPath"`
}

type podHostPathSpec struct {
	Path string `yaml:"path"`
	Type string `yaml:"type"`
}

// quantityRE is Kubernetes' resource quantity syntax (decimal with an SI or
// binary suffix, or an exponent), checked here because kubelet would only
// report a bad value in its log, never start the pod, and say nothing else.
var quantityRE = regexp.MustCompile(`^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$`)

// StaticPodManifest renders n's etcd as a kubelet static pod, the way
// kubeadm writes etcd.yaml, with exactly the systemd runtime's flags and
// TLS files, plus the loopback metrics listener the probes need.
func StaticPodManifest(c *model.Cluster, n model.Node, o StaticPodOptions) ([]byte, error) {
	o = o.withDefaults(c)
	if err := checkImage(o.Image); err != nil {
		return nil, err
	}
	if !path.IsAbs(o.ManifestPath) || path.Clean(o.ManifestPath) != o.ManifestPath {
		return nil, fmt.Errorf("static pod manifest path %q is not a clean absolute path", o.ManifestPath)
	}
	for _, q := range []struct{ what, v string }{{"CPU request", o.CPURequest}, {"memory request", o.MemoryRequest}} {
		if !quantityRE.MatchString(q.v) {
			return nil, fmt.Errorf("static pod %s %q is not a Kubernetes quantity (e.g. 100m, 100Mi)", q.what, q.v)
		}
	}
	args := EtcdArgs(c, n)
	command := append([]string{"etcd"}, args...)
	metrics, err := metricsListener(c, n, o.MetricsPort)
	if err != nil {
		return nil, err
	}
	if metrics.flag != "" {
		command = append(command, metrics.flag)
	}

	// Mounted at the same paths as on the host, so EtcdArgs' paths hold in
	// the pod unchanged.
	mounts := []podVolumeMount{{Name: "etcd-data", MountPath: c.Etcd.DataDir}}
	if c.TLS.Enabled {
		mounts = append(mounts, podVolumeMount{Name: "etcd-certs", MountPath: c.TLS.Dir, ReadOnly: true})
	}
	var volumes []podHostPathVolume
	for _, m := range mounts {
		volumes = append(volumes, podHostPathVolume{Name: m.Name, HostPath: podHostPathSpec{Path: m.MountPath, Type: "DirectoryOrCreate"}})
	}

	probe := func(p string, initialDelay, period, failures int) *podProbe {
		return &podProbe{
			HTTPGet:             podHTTPGet{Host: metrics.host, Path: p, Port: metrics.port, Scheme: "HTTP"},
			InitialDelaySeconds: initialDelay, PeriodSeconds: period, TimeoutSeconds: 15, FailureThreshold: failures,
		}
	}
	// kubeadm's timings. The startup probe uses the liveness endpoint, not
	// kubeadm's /readyz: kubeadm starts one member and has quorum at once,
	// while our members bootstrap together and /readyz fails until enough
	// VMs are up; 24 failures would restart a healthy member that is only
	// waiting for its peers (the systemd unit has TimeoutStartSec=0 for the
	// same reason).
	c0 := podContainer{
		Name:            "etcd",
		Image:           o.Image,
		ImagePullPolicy: "IfNotPresent",
		Command:         command,
		Resources:       podResources{Requests: podResourceList{CPU: o.CPURequest, Memory: o.MemoryRequest}},
		// What the systemd unit's sandboxing gives etcd: no capabilities,
		// no privilege gain, nothing writable but the data dir.
		SecurityContext: podContainerSecurity{ReadOnlyRootFilesystem: true, Capabilities: podCapabilities{Drop: []string{"ALL"}}},
		VolumeMounts:    mounts,
	}
	if hasLivez(c.Etcd.Version) {
		c0.LivenessProbe = probe("/livez", 10, 10, 8)
		c0.ReadinessProbe = probe("/readyz", 0, 1, 3)
		c0.StartupProbe = probe("/livez", 10, 10, 24)
	} else {
		// Before 3.5.11 there is only /health; serializable=true answers
		// from the local member without a leader, NOSPACE lets an operator
		// fix quota one member at a time (kubeadm's liveness choice).
		h := "/health?exclude=NOSPACE&serializable=true"
		c0.LivenessProbe = probe(h, 10, 10, 8)
		c0.StartupProbe = probe(h, 10, 10, 24)
	}

	pod := staticPod{
		APIVersion: "v1",
		Kind:       "Pod",
		Metadata: podObjectMeta{
			Name:      "etcd",
			Namespace: "kube-system",
			Labels:    map[string]string{"component": "etcd", "tier": "control-plane"},
			// kubeadm reads one URL from this annotation to find stacked
			// etcd members; it must not be a list.
			Annotations: map[string]string{"kubeadm.kubernetes.io/etcd.advertise-client-urls": c.AdvertiseClientURLs(n)[0]},
		},
		Spec: staticPodSpec{
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			Priority:          2000001000,
			// etcd runs as the spec's etcd user, as under systemd (kubeadm's
			// rootless etcd does the same). kubelet does not chown hostPath
			// volumes, so the first-boot script must leave the data dir and
			// the PKI owned by that uid/gid before kubelet starts the pod;
			// a data dir kubelet itself creates would be root's and etcd
			// would crash-loop until it is chowned.
			SecurityContext: podSecurityContext{
				RunAsUser: c.Etcd.User.UID, RunAsGroup: c.Etcd.User.GID, RunAsNonRoot: true,
				SeccompProfile: podSeccompProfile{Type: "RuntimeDefault"},
			},
			Containers: []podContainer{c0},
			Volumes:    volumes,
		},
	}
	body, err := marshal(pod)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Written by etcdimg for member %s of cluster %s (kubelet static pod). Rebuild the seed rather than editing it.\n", n.Name, c.Name)
	return append([]byte(head), body...), nil
}

type metricsEndpoint struct {
	flag string // "" when the spec's extra flags already set it
	host string
	port int
}

// metricsListener picks where kubelet probes etcd. Like kubeadm, an
// operator's own --listen-metrics-urls wins and its first URL is probed;
// otherwise etcd gets a loopback listener of the node's address family.
func metricsListener(c *model.Cluster, n model.Node, port int) (metricsEndpoint, error) {
	for _, f := range c.Etcd.ExtraFlags {
		if f.Name != "listen-metrics-urls" {
			continue
		}
		first, _, _ := strings.Cut(f.Value, ",")
		u, err := url.Parse(first)
		if err != nil || u.Port() == "" {
			return metricsEndpoint{}, fmt.Errorf("etcd.extraFlags.listen-metrics-urls: cannot probe %q: want http://host:port", first)
		}
		// An https metrics listener demands the client certificate that
		// kubelet's probes cannot present.
		if u.Scheme != "http" {
			return metricsEndpoint{}, fmt.Errorf("etcd.extraFlags.listen-metrics-urls: the static pod's probes need an http:// first URL, got %q", first)
		}
		p, _ := strconv.Atoi(u.Port())
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = loopback(n)
		}
		return metricsEndpoint{host: host, port: p}, nil
	}
	if port < 1024 || port > 65535 {
		return metricsEndpoint{}, fmt.Errorf("static pod metrics port %d is out of range 1024-65535 (etcd runs unprivileged)", port)
	}
	used := append([]int{c.Etcd.ClientPort, c.Etcd.PeerPort}, c.Etcd.ExtraClientPorts...)
	for _, p := range used {
		if p == port {
			return metricsEndpoint{}, fmt.Errorf("static pod metrics port %d is also an etcd client or peer port", port)
		}
	}
	lo := loopback(n)
	return metricsEndpoint{
		flag: "--listen-metrics-urls=http://" + net.JoinHostPort(lo, strconv.Itoa(port)),
		host: lo,
		port: port,
	}, nil
}

// loopback matches model.ListenClientURLs: an IPv6 node uses ::1.
func loopback(n model.Node) string {
	if n.IP.Is6() {
		return "::1"
	}
	return "127.0.0.1"
}

// hasLivez reports whether etcd serves /livez and /readyz: since 3.5.11.
func hasLivez(version string) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 3 || parts[0] != "3" {
		return true
	}
	minor, _ := strconv.Atoi(parts[1])
	digits := parts[2]
	if i := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		digits = digits[:i] // "11-rc.1"
	}
	patch, _ := strconv.Atoi(digits)
	return minor > 5 || minor == 5 && patch >= 11
}

// checkImage refuses what an engine or kubelet would misread: an empty
// reference, one starting with '-' (an option to docker), or blanks.
func checkImage(image string) error {
	if image == "" || strings.HasPrefix(image, "-") ||
		strings.IndexFunc(image, func(r rune) bool { return !imageRune(r) }) >= 0 {
		return fmt.Errorf("container image %q is not an image reference", image)
	}
	return nil
}

func imageRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/:@", r)
}
