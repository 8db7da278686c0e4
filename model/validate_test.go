package model_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

func base() *spec.Cluster {
	return &spec.Cluster{
		Name:    "c",
		Network: spec.Network{CIDR: "10.0.0.0/24", Gateway: "10.0.0.1", Interface: new("ens3")},
		Etcd:    spec.Etcd{Version: "3.6.16", Release: spec.Release{Path: "x.tar.gz", SHA256: strings.Repeat("a", 64)}},
		Nodes:   []spec.Node{{Name: "n1", IP: "10.0.0.11"}, {Name: "n2", IP: "10.0.0.12"}, {Name: "n3", IP: "10.0.0.13"}},
	}
}

func TestValidateRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*spec.Cluster)
		want   string // one entry, "severity: path: message" prefix
	}{
		{"network address", func(c *spec.Cluster) { c.Nodes[0].IP = "10.0.0.0" }, "error: nodes[0].ip: 10.0.0.0 is the network address of 10.0.0.0/24"},
		{"broadcast", func(c *spec.Cluster) { c.Nodes[0].IP = "10.0.0.255" }, "error: nodes[0].ip: 10.0.0.255 is the broadcast address of 10.0.0.0/24"},
		{"loopback", func(c *spec.Cluster) {
			c.Network.CIDR = "127.0.0.0/8"
			c.Network.Gateway = ""
			c.Nodes = c.Nodes[:1]
			c.Nodes[0].IP = "127.0.0.5"
		}, "error: nodes[0].ip: 127.0.0.5 cannot be a node address"},
		{"ipv6 in ipv4 net", func(c *spec.Cluster) { c.Nodes[1].IP = "fd00::1" }, "error: nodes[1].ip: fd00::1 is outside the node network 10.0.0.0/24"},
		{"gateway is a node", func(c *spec.Cluster) { c.Network.Gateway = "10.0.0.12" }, "error: network.gateway: 10.0.0.12 is also the address of nodes[1]"},
		{"multicast mac", func(c *spec.Cluster) { c.Nodes[0].MAC = "01:00:5e:00:00:01" }, `error: nodes[0].mac: "01:00:5e:00:00:01" is a multicast address`},
		{"bad mac", func(c *spec.Cluster) { c.Nodes[0].MAC = "52:54:00" }, `error: nodes[0].mac: "52:54:00" is not a MAC address`},
		{"system data dir", func(c *spec.Cluster) { c.Etcd.DataDir = new("/etc") }, `error: etcd.dataDir: "/etc" is a system folder`},
		{"unclean data dir", func(c *spec.Cluster) { c.Etcd.DataDir = new("/var/lib/etcd/") }, `error: etcd.dataDir: "/var/lib/etcd/" is not a clean path; write "/var/lib/etcd"`},
		{"shell chars in data dir", func(c *spec.Cluster) { c.Etcd.DataDir = new("/var/lib/$(reboot)") }, `error: etcd.dataDir: "/var/lib/$(reboot)" has characters`},
		{"token", func(c *spec.Cluster) { c.Token = new("a b") }, `error: token: "a b" is not a valid cluster token`},
		{"user name", func(c *spec.Cluster) { c.Etcd.User.Name = new("Etcd") }, `error: etcd.user.name: "Etcd" is not a valid user name`},
		{"uid", func(c *spec.Cluster) { c.Etcd.User.UID = new(70000) }, `error: etcd.user.uid: 70000 is out of range 1-60000`},
		{"even members", func(c *spec.Cluster) { c.Nodes = c.Nodes[:2] }, `warning: nodes: 2 members survive 0 failed, as 1 do`},
		{"plain http", func(c *spec.Cluster) { f := false; c.TLS.Enabled = &f }, `warning: tls.enabled: false: client and peer traffic is unencrypted`},
		{"tls version", func(c *spec.Cluster) { c.TLS.MinVersion = new("TLS1.1") }, `error: tls.minVersion: "TLS1.1" is not one of TLS1.2, TLS1.3`},
		{"ca half", func(c *spec.Cluster) { c.TLS.CA.Cert = "ca.crt" }, `error: tls.ca: set both cert and key`},
		{"leaf alg", func(c *spec.Cluster) { c.TLS.KeyAlgorithm = new("dsa") }, `error: tls.keyAlgorithm: "dsa" is not one of ecdsa-p256, rsa-2048, rsa-3072, rsa-4096`},
		{"flag with dashes", func(c *spec.Cluster) { c.Etcd.ExtraFlags = map[string]spec.Scalar{"--log-level": {Text: "info"}} }, `error: etcd.extraFlags.--log-level: write the flag name without dashes: "log-level"`},
		{"flag value", func(c *spec.Cluster) { c.Etcd.ExtraFlags = map[string]spec.Scalar{"snapshot-count": {Text: "many"}} }, `error: etcd.extraFlags.snapshot-count: `},
		{"deprecated flag", func(c *spec.Cluster) {
			c.Etcd.ExtraFlags = map[string]spec.Scalar{"experimental-snapshot-catchup-entries": {Text: "5000"}}
		}, `warning: etcd.extraFlags.experimental-snapshot-catchup-entries: --experimental-snapshot-catchup-entries is deprecated in etcd 3.6`},
		{"flag gone in 3.6", func(c *spec.Cluster) { c.Etcd.ExtraFlags = map[string]spec.Scalar{"enable-v2": {Text: "true"}} }, `error: etcd.extraFlags.enable-v2: etcd 3.6 has no flag --enable-v2`},
		{"auto tls", func(c *spec.Cluster) { c.Etcd.ExtraFlags = map[string]spec.Scalar{"auto-tls": {Text: "true"}} }, `error: etcd.extraFlags.auto-tls: --auto-tls makes etcd use self-signed`},
		{"election max", func(c *spec.Cluster) { c.Etcd.ElectionTimeoutMs = new(60000) }, `error: etcd.electionTimeoutMs: 60000 is above etcd's maximum of 50000`},
		{"interface", func(c *spec.Cluster) { c.Nodes[0].Interface = new("eth0; reboot") }, `error: nodes[0].interface: "eth0; reboot" is not a Linux interface name`},
		{"no mac, default interface", func(c *spec.Cluster) { c.Network.Interface = nil }, `warning: nodes: n1, n2, n3: no mac, so network-config configures the NIC named "eth0"`},
		{"domain", func(c *spec.Cluster) { c.Domain = "Example.COM" }, `error: domain: "Example.COM" is not a DNS name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			_, r := model.Validate(c)
			found := false
			for _, e := range r.Entries {
				if strings.HasPrefix(e.String(), tc.want) {
					found = true
				}
			}
			if !found || len(r.Entries) != 1 {
				t.Errorf("want exactly one entry starting %q, got:\n%s", tc.want, r)
			}
		})
	}
}

func TestModelURLs(t *testing.T) {
	c := base()
	c.Etcd.ExtraClientPorts = []int{4001}
	m, r := model.Validate(c)
	if r.IsFatal() {
		t.Fatal(r)
	}
	n := m.Nodes[0]
	if got := m.InitialCluster(); got != "n1=https://10.0.0.11:2380,n2=https://10.0.0.12:2380,n3=https://10.0.0.13:2380" {
		t.Errorf("initial cluster %s", got)
	}
	if got := strings.Join(m.ListenClientURLs(n), ","); got != "https://10.0.0.11:2379,https://10.0.0.11:4001,https://127.0.0.1:2379" {
		t.Errorf("listen client URLs %s", got)
	}
	if m.InstanceID(n) != "etcdimg-c-n1" {
		t.Errorf("instance id %s", m.InstanceID(n))
	}
}

// TestSpecCausedErrorsAtValidate: everything the generator or the PKI would
// refuse later is an error here, with the path of the field. Each case
// wants exactly these errors (warnings aside).
func TestSpecCausedErrorsAtValidate(t *testing.T) {
	staticPod := func(c *spec.Cluster) { c.Etcd.Runtime = new("static-pod") }
	container := func(c *spec.Cluster) { c.Etcd.Runtime = new("container") }
	for _, tc := range []struct {
		name   string
		mutate func(*spec.Cluster)
		want   []string
	}{
		{"cpu request with a unit word", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.CPURequest = new("100 millicores") },
			[]string{`error: etcd.staticPod.cpuRequest: "100 millicores" is not a Kubernetes quantity`}},
		{"memory with a blank", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.MemoryRequest = new("100 Mi") },
			[]string{`error: etcd.staticPod.memoryRequest: "100 Mi" is not a Kubernetes quantity`}},
		{"negative cpu", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.CPURequest = new("-1") },
			[]string{`error: etcd.staticPod.cpuRequest: "-1" is not a Kubernetes quantity`}},
		{"huge exponent", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.CPURequest = new("1e99") },
			[]string{`error: etcd.staticPod.cpuRequest: "1e99": the exponent is out of range`}},
		{"metrics on the client port", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.MetricsPort = new(2379) },
			[]string{`error: etcd.staticPod.metricsPort: 2379 is already used by etcd.clientPort`}},
		{"metrics port 0", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.MetricsPort = new(0) },
			[]string{`error: etcd.staticPod.metricsPort: 0 is not a port (1-65535)`}},
		{"privileged metrics port", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.MetricsPort = new(238) },
			[]string{`error: etcd.staticPod.metricsPort: 238 is a privileged port`}},
		{"https metrics", func(c *spec.Cluster) {
			staticPod(c)
			c.Etcd.ExtraFlags = map[string]spec.Scalar{"listen-metrics-urls": {Text: "https://127.0.0.1:2381"}}
		}, []string{`error: etcd.extraFlags.listen-metrics-urls: the static pod's probes need an http:// first URL, got "https://127.0.0.1:2381"`}},
		{"metrics set twice", func(c *spec.Cluster) {
			staticPod(c)
			c.Etcd.StaticPod.MetricsPort = new(2381)
			c.Etcd.ExtraFlags = map[string]spec.Scalar{"listen-metrics-urls": {Text: "http://127.0.0.1:2382"}}
		}, []string{`error: etcd.staticPod.metricsPort: etcd.extraFlags.listen-metrics-urls already sets the metrics listener`}},
		{"image as an option", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.Image = new("--privileged") },
			[]string{`error: etcd.staticPod.image: "--privileged" is not an image reference`}},
		{"relative manifest path", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.ManifestPath = new("manifests/etcd.yaml") },
			[]string{`error: etcd.staticPod.manifestPath: "manifests/etcd.yaml" is not an absolute path`}},
		{"empty manifest path", func(c *spec.Cluster) { staticPod(c); c.Etcd.StaticPod.ManifestPath = new("") },
			[]string{`error: etcd.staticPod.manifestPath: required: an absolute path`}},
		{"unknown engine", func(c *spec.Cluster) { container(c); c.Etcd.Container.Engine = new("rkt") },
			[]string{`error: etcd.container.engine: "rkt" is not docker or podman`}},
		{"container name as option", func(c *spec.Cluster) { container(c); c.Etcd.Container.Name = new("-d") },
			[]string{`error: etcd.container.name: "-d" is not a container name`}},
		{"container image with a blank", func(c *spec.Cluster) { container(c); c.Etcd.Container.Image = new("etcd latest") },
			[]string{`error: etcd.container.image: "etcd latest" is not an image reference`}},
		{"empty container image", func(c *spec.Cluster) { container(c); c.Etcd.Container.Image = new("") },
			[]string{`error: etcd.container.image: "" is not an image reference`}},
		{"colon in data dir", func(c *spec.Cluster) { container(c); c.Etcd.DataDir = new("/srv/etcd:data") },
			[]string{`error: etcd.dataDir: "/srv/etcd:data" has characters etcdimg does not put in paths`}},
		{"IPv6 SAN with a zone", func(c *spec.Cluster) { c.Nodes[0].ExtraSANs = []string{"fe80::1%eth0"} },
			[]string{`error: nodes[0].extraSANs[0]: "fe80::1%eth0" has a zone (%eth0); a certificate holds the address alone: write "fe80::1"`}},
		{"wildcard SAN too long", func(c *spec.Cluster) {
			c.Nodes[0].ExtraSANs = []string{"*." + strings.Repeat("a.", 125) + "ab"}
		}, []string{`error: nodes[0].extraSANs[0]: `}},
		{"SAN with a blank", func(c *spec.Cluster) { c.Nodes[1].ExtraSANs = []string{"etcd.example.com", "a b"} },
			[]string{`error: nodes[1].extraSANs[1]: "a b" is not a DNS name`}},
		{"root user", func(c *spec.Cluster) { c.Etcd.User.Name, c.Etcd.User.Group = new("root"), new("root") },
			[]string{`error: etcd.user.group: "root" is the superuser's group; etcd never runs as root`,
				`error: etcd.user.name: "root" is the superuser; etcd never runs as root`}},
		{"uid and gid 0", func(c *spec.Cluster) { c.Etcd.User.UID, c.Etcd.User.GID = new(0), new(0) },
			[]string{`error: etcd.user.gid: 0 is out of range 1-60000: 0 is root; etcd never runs as root`,
				`error: etcd.user.uid: 0 is out of range 1-60000: 0 is root; etcd never runs as root`}},
		{"ports 0", func(c *spec.Cluster) { c.Etcd.ClientPort, c.Etcd.PeerPort = new(0), new(0) },
			[]string{`error: etcd.clientPort: 0 is not a port (1-65535)`, `error: etcd.peerPort: 0 is not a port (1-65535)`}},
		{"heartbeat 0", func(c *spec.Cluster) { c.Etcd.HeartbeatIntervalMs = new(0) },
			[]string{`error: etcd.heartbeatIntervalMs: 0 must be a positive number of milliseconds`}},
		{"election 0", func(c *spec.Cluster) { c.Etcd.ElectionTimeoutMs = new(0) },
			[]string{`error: etcd.electionTimeoutMs: 0 is less than 5 × heartbeatIntervalMs (100)`}},
		{"limitNOFILE 0", func(c *spec.Cluster) { c.Etcd.LimitNOFILE = new(0) },
			[]string{`error: etcd.limitNOFILE: 0 is out of range 1024-1048576`}},
		{"validity 0", func(c *spec.Cluster) { c.TLS.ValidityDays, c.TLS.CA.ValidityDays = new(0), new(0) },
			[]string{`error: tls.ca.validityDays: 0 is out of range 1-36500 days`, `error: tls.validityDays: 0 is out of range 1-36500 days`}},
		{"validity beyond a Duration", func(c *spec.Cluster) { c.TLS.ValidityDays = new(200000) },
			[]string{`error: tls.validityDays: 200000 is out of range 1-36500 days`}},
		{"empty strings are values", func(c *spec.Cluster) { c.Etcd.DataDir, c.Token, c.Etcd.Runtime = new(""), new(""), new("") },
			[]string{`error: etcd.dataDir: required: an absolute path`, `error: etcd.runtime: "" is not one of systemd, static-pod, container`,
				`error: token: "" is not a valid cluster token`}},
		{"flag name with a newline", func(c *spec.Cluster) { c.Etcd.ExtraFlags = map[string]spec.Scalar{"a\nerror: b": {Text: "1"}} },
			[]string{`error: etcd.extraFlags["a\nerror: b"]: "a\nerror: b" is not an etcd flag name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			m, r := model.Validate(c)
			var got []string
			for _, e := range r.Errors() {
				got = append(got, e.String())
				if strings.Contains(e.String(), "\n") {
					t.Errorf("entry spans lines: %q", e.String())
				}
			}
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.HasPrefix(got[i], tc.want[i])
			}
			if !ok || m != nil {
				t.Errorf("want errors\n%s\ngot\n%s", strings.Join(tc.want, "\n"), r)
			}
		})
	}
}

// TestDefaultsOnlyWhenAbsent: the resolved model takes every absent field
// from spec.Defaults and leaves the spec itself unchanged.
func TestDefaultsOnlyWhenAbsent(t *testing.T) {
	c := base()
	c.Etcd.Runtime = new("static-pod")
	before := fmt.Sprintf("%#v", *c)
	m, r := model.Validate(c)
	if r.IsFatal() {
		t.Fatal(r)
	}
	if after := fmt.Sprintf("%#v", *c); after != before {
		t.Error("Validate changed the spec")
	}
	d := spec.Defaults()
	if m.Token != "c" || m.Etcd.ClientPort != *d.Etcd.ClientPort || m.Etcd.User.UID != *d.Etcd.User.UID ||
		m.TLS.CA.ValidityDays != *d.TLS.CA.ValidityDays || m.Nodes[0].Interface != "ens3" || !m.Etcd.ListenLocalhost {
		t.Errorf("defaults not applied: %+v", m)
	}
	sp, ok := m.Etcd.Runtime.(*model.StaticPodRuntime)
	if !ok {
		t.Fatalf("runtime %T", m.Etcd.Runtime)
	}
	if sp.Image != "registry.k8s.io/etcd:3.6.16-0" || sp.ManifestPath != *d.Etcd.StaticPod.ManifestPath ||
		sp.Metrics != (model.Metrics{Port: 2381}) || sp.CPURequest != (model.Quantity{Text: "100m", Milli: 100}) ||
		sp.MemoryRequest.Milli != 100<<20*1000 {
		t.Errorf("static pod %+v", sp)
	}
	c = base()
	c.Etcd.Runtime = new("container")
	m, _ = model.Validate(c)
	if ct := m.Etcd.Runtime.(*model.ContainerRuntime); *ct != (model.ContainerRuntime{Engine: "docker", EnginePath: "/usr/bin/docker",
		Image: "localhost/etcdimg/etcd:v3.6.16", LocalImage: true, ContainerName: "etcd", EtcdPath: "/usr/local/bin/etcd"}) {
		t.Errorf("container %+v", ct)
	}
}

func TestOtherRuntimesOptionsWarn(t *testing.T) {
	c := base()
	c.Etcd.StaticPod.CPURequest = new("1")
	_, r := model.Validate(c)
	if r.IsFatal() || len(r.Entries) != 1 || r.Entries[0].String() != `warning: etcd.staticPod: ignored: etcd.runtime is "systemd", not "static-pod"` {
		t.Errorf("report:\n%s", r)
	}
}
