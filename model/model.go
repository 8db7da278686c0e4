// Package model is the resolved cluster: every default applied, every value
// parsed and checked, and the derived facts (URLs, FQDNs, the initial
// cluster, the runtime's options) that all renderers need computed in one
// place. A *Cluster exists only for a spec that passed Validate, so the
// generator renders it without checks of its own and cannot fail where
// `etcdimg validate` succeeded.
package model

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Cluster is a spec that passed validation. Renderers take it as given.
type Cluster struct {
	Name    string
	Token   string
	Domain  string
	Network Network
	Etcd    Etcd
	TLS     TLS
	Nodes   []Node
	Access  Access
	Extra   Extra
	// Kubeadm is set when the cluster is a kubeadm external etcd.
	Kubeadm *Kubeadm
	// Membership is the recorded state of a running cluster (which members
	// bootstrapped it, which joined later); nil on a first build.
	Membership *Membership
	// Restore is set by the pipeline for `build --restore-from`.
	Restore *Restore
}

type Network struct {
	Prefix        netip.Prefix
	Gateway       netip.Addr // invalid when unset
	DNS           []netip.Addr
	SearchDomains []string
	Interface     string
}

type Etcd struct {
	Version          string // "3.6.16"
	Arch             string // "amd64" or "arm64": the nodes' machine and the release's
	Minor            string // "3.6"
	Release          Release
	ClientPort       int
	PeerPort         int
	ExtraClientPorts []int
	ListenLocalhost  bool
	HeartbeatMs      int
	ElectionMs       int
	DataDir          string
	LimitNOFILE      int
	User             User
	ExtraFlags       []Flag // sorted by name
	// Runtime is one of *SystemdRuntime, *ContainerRuntime and
	// *StaticPodRuntime, with every option of that runtime resolved.
	Runtime Runtime
	// Maintenance: compaction, quota, snapshot and defrag timers (maintenance.go).
	Maintenance Maintenance
}

// Release is the tarball the seeds carry: a local path (relative to the
// spec file) or a URL, and its sha256 in lower case.
type Release struct {
	Path, URL, SHA256 string
}

// User is the unprivileged account etcd runs as; never root.
type User struct {
	Name, Group string
	UID, GID    int
}

// Flag is one extra etcd flag, passed as --Name=Value.
type Flag struct{ Name, Value string }

type TLS struct {
	Enabled      bool
	MinVersion   string // "TLS1.2", "TLS1.3"; empty when the etcd version has no such flag
	Dir          string // on the VM
	KeyAlgorithm string
	ValidityDays int
	CA           CA
}

// CA is a generated CA (Algorithm, ValidityDays) or the operator's own
// (Cert, Key: paths as written in the spec, relative to the spec file).
type CA struct {
	Algorithm    string
	Cert, Key    string
	ValidityDays int
}

type Node struct {
	Name      string
	FQDN      string // equals Name when the cluster has no domain
	IP        netip.Addr
	MAC       string // lower-case colon form, or empty
	Interface string
	ExtraSANs []string // IPs in canonical form, DNS names as written
}

// Loopback is the node's loopback address of its own address family, where
// local tools and probes reach etcd.
func (n Node) Loopback() netip.Addr {
	if n.IP.Is6() {
		return netip.IPv6Loopback()
	}
	return netip.MustParseAddr("127.0.0.1")
}

// Scheme is the URL scheme of every client and peer URL.
func (c *Cluster) Scheme() string {
	if c.TLS.Enabled {
		return "https"
	}
	return "http"
}

func hostPort(ip netip.Addr, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// PeerURL is where n's peers reach it.
func (c *Cluster) PeerURL(n Node) string {
	return c.Scheme() + "://" + hostPort(n.IP, c.Etcd.PeerPort)
}

// AdvertiseClientURLs are the client URLs n publishes: its IP on the client
// port and every extra client port (the blog's legacy :4001).
func (c *Cluster) AdvertiseClientURLs(n Node) []string {
	urls := []string{c.Scheme() + "://" + hostPort(n.IP, c.Etcd.ClientPort)}
	for _, p := range c.Etcd.ExtraClientPorts {
		urls = append(urls, c.Scheme()+"://"+hostPort(n.IP, p))
	}
	return urls
}

// ListenClientURLs adds loopback to the advertised URLs when asked, so local
// tools work without knowing the node's address.
func (c *Cluster) ListenClientURLs(n Node) []string {
	urls := c.AdvertiseClientURLs(n)
	if c.Etcd.ListenLocalhost {
		urls = append(urls, c.Scheme()+"://"+hostPort(n.Loopback(), c.Etcd.ClientPort))
	}
	return urls
}

// InitialCluster is etcd's --initial-cluster, identical on every bootstrap
// node: the recorded bootstrap set once there is one, else every node.
func (c *Cluster) InitialCluster() string {
	if ic, ok := c.bootstrapInitialCluster(); ok {
		return ic
	}
	parts := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		parts[i] = n.Name + "=" + c.PeerURL(n)
	}
	return strings.Join(parts, ",")
}

// Node returns the node named name.
func (c *Cluster) Node(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// InstanceID is the identity part of the node's cloud-init instance-id:
// cluster and node names, and a "-rN" suffix for a replacement. The
// generator appends a digest of what the node applies, so the full id
// changes exactly when a rebuilt seed has something new for the node.
func (c *Cluster) InstanceID(n Node) string {
	return "etcdimg-" + c.Name + "-" + n.Name + c.instanceIDSuffix(n)
}
