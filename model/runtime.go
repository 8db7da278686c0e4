package model

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/etcdimg/etcdimg/report"
	"github.com/etcdimg/etcdimg/spec"
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

// Resolving the runtime: each case applies its defaults and checks its
// options, so a runtime is one type above and one case below.

var (
	imageRE         = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:@-]*$`)
	containerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) // docker's and podman's rule
)

// containerEngines are where Debian's docker.io / docker-ce and podman
// packages install their CLIs; systemd wants absolute paths to be sure
// which binary runs.
var containerEngines = map[string]string{"docker": "/usr/bin/docker", "podman": "/usr/bin/podman"}

// ContainerEtcdPath is the etcd binary inside etcd's official images
// (gcr.io/etcd-development/etcd, quay.io/coreos/etcd) and the local one.
const ContainerEtcdPath = "/usr/local/bin/etcd"

func (v *validator) runtime(m *Etcd, e spec.Etcd, ports map[int]string) Runtime {
	name := or(e.Runtime, v.d.Etcd.Runtime)
	// Options of another runtime do nothing: most likely etcd.runtime was
	// forgotten, so say so rather than ignore them silently.
	for _, o := range []struct {
		path, runtime string
		set           bool
	}{
		{"etcd.container", RuntimeContainer, e.Container != (spec.Container{})},
		{"etcd.staticPod", RuntimeStaticPod, e.StaticPod != (spec.StaticPod{})},
	} {
		if o.set && name != o.runtime {
			v.warnf(o.path, "ignored: etcd.runtime is %q, not %q", name, o.runtime)
		}
	}
	switch name {
	case RuntimeSystemd:
		return &SystemdRuntime{}
	case RuntimeContainer:
		return v.container(m, e.Container)
	case RuntimeStaticPod:
		return v.staticPod(m, e, ports)
	default:
		v.errf("etcd.runtime", "%q is not one of systemd, static-pod, container", name)
		return nil
	}
}

func (v *validator) container(m *Etcd, sc spec.Container) *ContainerRuntime {
	d := v.d.Etcd.Container
	r := &ContainerRuntime{
		Engine:        or(sc.Engine, d.Engine),
		ContainerName: or(sc.Name, d.Name),
		EtcdPath:      ContainerEtcdPath,
	}
	if p, ok := containerEngines[r.Engine]; ok {
		r.EnginePath = p
	} else {
		v.errf("etcd.container.engine", "%q is not docker or podman", r.Engine)
	}
	if sc.Image == nil {
		r.Image, r.LocalImage = LocalImageName(m.Version), true
	} else {
		r.Image = *sc.Image
		v.image("etcd.container.image", r.Image)
	}
	if !containerNameRE.MatchString(r.ContainerName) || len(r.ContainerName) > 128 {
		v.errf("etcd.container.name", "%q is not a container name (letters, digits, '_', '.', '-')", r.ContainerName)
	}
	return r
}

func (v *validator) image(p, s string) {
	if !imageRE.MatchString(s) || len(s) > 255 {
		v.errf(p, "%q is not an image reference", s)
	}
}

func (v *validator) staticPod(m *Etcd, e spec.Etcd, ports map[int]string) *StaticPodRuntime {
	sp, d := e.StaticPod, v.d.Etcd.StaticPod
	r := &StaticPodRuntime{
		// kubeadm's tag scheme; that registry only has the patch releases
		// Kubernetes shipped, so other versions need an image in the spec.
		Image:        or(sp.Image, new("registry.k8s.io/etcd:"+m.Version+"-0")),
		ManifestPath: or(sp.ManifestPath, d.ManifestPath),
	}
	if sp.Image != nil {
		v.image("etcd.staticPod.image", r.Image)
	}
	v.absPath("etcd.staticPod.manifestPath", r.ManifestPath)
	for _, q := range []struct {
		path string
		p    *string
		def  *string
		dst  *Quantity
	}{
		{"etcd.staticPod.cpuRequest", sp.CPURequest, d.CPURequest, &r.CPURequest},
		{"etcd.staticPod.memoryRequest", sp.MemoryRequest, d.MemoryRequest, &r.MemoryRequest},
	} {
		parsed, err := ParseQuantity(or(q.p, q.def))
		if err != nil {
			v.errf(q.path, "%v", err)
		}
		*q.dst = parsed
	}
	r.Metrics = v.metrics(m, sp, ports)
	if v.kubeadm {
		v.warnf("etcd.runtime", "static-pod: etcdimg writes the manifest and kubelet's drop-in (kubeadm.enabled) but does not install kubelet or a container runtime; the node image must have them (kubelet at %s) and must be able to pull the image or have it preloaded", KubeletPath)
		return r
	}
	v.warnf("etcd.runtime", "static-pod: etcdimg writes the manifest but does not install kubelet or a container runtime; the node image must have them, with kubelet's staticPodPath set to the manifest's folder, and must be able to pull the image or have it preloaded")
	return r
}

// metrics picks where kubelet probes etcd. Like kubeadm, an operator's own
// --listen-metrics-urls wins and its first URL is probed; otherwise etcd
// gets a loopback listener on metricsPort.
func (v *validator) metrics(m *Etcd, sp spec.StaticPod, ports map[int]string) Metrics {
	for _, f := range m.ExtraFlags {
		if f.Name != "listen-metrics-urls" {
			continue
		}
		p := report.Join("etcd.extraFlags", f.Name)
		if sp.MetricsPort != nil {
			v.errf("etcd.staticPod.metricsPort", "%s already sets the metrics listener; set one of the two", p)
		}
		first, _, _ := strings.Cut(f.Value, ",")
		u, err := url.Parse(first)
		if err != nil || u.Port() == "" {
			v.errf(p, "the static pod's probes cannot use %q: want http://host:port", first)
			return Metrics{Own: true}
		}
		// An https metrics listener demands the client certificate that
		// kubelet's probes cannot present.
		if u.Scheme != "http" {
			v.errf(p, "the static pod's probes need an http:// first URL, got %q", first)
			return Metrics{Own: true}
		}
		port, err := strconv.Atoi(u.Port())
		if err != nil || port < 1 || port > 65535 {
			v.errf(p, "%q has no valid port", first)
			return Metrics{Own: true}
		}
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
			host = ""
		}
		return Metrics{Own: true, Host: host, Port: port}
	}
	port := or(sp.MetricsPort, v.d.Etcd.StaticPod.MetricsPort)
	if v.port("etcd.staticPod.metricsPort", port) {
		if other, dup := ports[port]; dup {
			v.errf("etcd.staticPod.metricsPort", "%d is already used by %s", port, other)
		}
	}
	return Metrics{Port: port}
}
