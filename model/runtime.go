package model

import (
	"net"
	"strconv"
)

// Runtime is how etcd runs on a node. The set is closed: *SystemdRuntime,
// *ContainerRuntime and *StaticPodRuntime, each carrying its options fully
// defaulted and checked. Renderers switch on the type, so a new runtime is
// a new type here and a new case where a compiler-checked switch lists them.
type Runtime interface {
	// Name is the spec's word for the runtime (etcd.runtime), also what
	// cluster.json records.
	Name() string
	runtime()
}

// Runtime names, as in etcd.runtime.
const (
	RuntimeSystemd   = "systemd"
	RuntimeStaticPod = "static-pod"
	RuntimeContainer = "container"
)

// SystemdRuntime runs the release's etcd binary from a sandboxed unit (the
// blog's Option 1).
type SystemdRuntime struct{}

// ContainerRuntime runs etcd in a docker or podman container supervised by
// a systemd unit (the blog's Option 3).
type ContainerRuntime struct {
	Engine     string // "docker" or "podman"
	EnginePath string // the engine's CLI on the node
	Image      string // the spec's image, or LocalImageName
	// LocalImage: the spec named no image, so first boot imports the
	// release's static etcd binary as Image and no registry is needed.
	LocalImage    bool
	ContainerName string // the container's name, --name
	// EtcdPath is the etcd binary inside the image: where etcd's official
	// images and the local one keep it.
	EtcdPath string
}

// StaticPodRuntime writes a kubelet static pod manifest (the blog's
// Option 2), the way kubeadm writes etcd.yaml.
type StaticPodRuntime struct {
	Image        string
	ManifestPath string // where kubelet reads it
	// Metrics is where kubelet probes etcd.
	Metrics                   Metrics
	CPURequest, MemoryRequest Quantity
}

// Metrics is the plain-HTTP listener kubelet's probes use: the client port
// needs a client certificate kubelet does not have.
type Metrics struct {
	// Own: the operator's etcd.extraFlags.listen-metrics-urls is the
	// listener (its first URL is probed), so etcdimg adds no flag.
	Own bool
	// Host is the probed host; empty means the node's loopback.
	Host string
	Port int
}

func (*SystemdRuntime) Name() string   { return RuntimeSystemd }
func (*ContainerRuntime) Name() string { return RuntimeContainer }
func (*StaticPodRuntime) Name() string { return RuntimeStaticPod }
func (*SystemdRuntime) runtime()       {}
func (*ContainerRuntime) runtime()     {}
func (*StaticPodRuntime) runtime()     {}

// LocalImageName is the image first boot makes from the release on the
// ISO when the container runtime names none.
func LocalImageName(version string) string { return "localhost/etcdimg/etcd:v" + version }

// ProbeHost is the host kubelet probes on node n.
func (m Metrics) ProbeHost(n Node) string {
	if m.Host == "" {
		return n.Loopback().String()
	}
	return m.Host
}

// Flag is the --listen-metrics-urls etcdimg adds on node n, or "" when the
// operator's own flag is the listener.
func (m Metrics) Flag(n Node) string {
	if m.Own {
		return ""
	}
	return "--listen-metrics-urls=http://" + net.JoinHostPort(n.Loopback().String(), strconv.Itoa(m.Port))
}
