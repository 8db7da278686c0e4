package generator

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/etcdimg/etcdimg/model"
)

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

// StaticPodManifest renders n's etcd as a kubelet static pod, the way
// kubeadm writes etcd.yaml, with exactly the systemd runtime's flags and
// TLS files, plus the loopback metrics listener the probes need.
//
// applied, when set, becomes the pod's etcdimg.io/applied annotation: a
// digest of the release and the node's certificates. kubelet restarts a
// static pod only when its manifest changes, and a seed that brings new
// certificates or binaries must restart etcd.
func StaticPodManifest(c *model.Cluster, rt *model.StaticPodRuntime, n model.Node, applied string) ([]byte, error) {
	args := EtcdArgs(c, n)
	command := append([]string{"etcd"}, args...)
	if f := rt.Metrics.Flag(n); f != "" {
		command = append(command, f)
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
			HTTPGet:             podHTTPGet{Host: rt.Metrics.ProbeHost(n), Path: p, Port: rt.Metrics.Port, Scheme: "HTTP"},
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
		Image:           rt.Image,
		ImagePullPolicy: "IfNotPresent",
		Command:         command,
		Resources:       podResources{Requests: podResourceList{CPU: rt.CPURequest.Text, Memory: rt.MemoryRequest.Text}},
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
	if applied != "" {
		pod.Metadata.Annotations["etcdimg.io/applied"] = applied
	}
	body, err := marshal(pod)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Written by etcdimg for member %s of cluster %s (kubelet static pod). Rebuild the seed rather than editing it.\n", n.Name, c.Name)
	return append([]byte(head), body...), nil
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
