// Package model is the validated cluster: every value parsed, defaulted and
// checked, with the derived facts (URLs, FQDNs, the initial cluster) that all
// renderers need computed in one place.
package model

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/etcdimg/etcdimg/spec"
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
}

type Network struct {
	Prefix        netip.Prefix
	Gateway       netip.Addr // invalid when unset
	DNS           []netip.Addr
	SearchDomains []string
}

type Etcd struct {
	Version          string // "3.6.16"
	Minor            string // "3.6"
	Release          spec.Release
	ClientPort       int
	PeerPort         int
	ExtraClientPorts []int
	ListenLocalhost  bool
	HeartbeatMs      int
	ElectionMs       int
	DataDir          string
	LimitNOFILE      int
	User             spec.User
	ExtraFlags       []Flag // sorted by name
	Runtime          string // RuntimeSystemd, RuntimeStaticPod or RuntimeContainer
	Container        spec.Container
	StaticPod        spec.StaticPod
}

// Runtimes: how etcd runs on a node.
const (
	RuntimeSystemd   = "systemd"
	RuntimeStaticPod = "static-pod"
	RuntimeContainer = "container"
)

// LocalImage is the image the container runtime builds on first boot from
// the release on the ISO when the spec names none.
func (c *Cluster) LocalImage() string { return "localhost/etcdimg/etcd:v" + c.Etcd.Version }

// Flag is one extra etcd flag, passed as --Name=Value.
type Flag struct{ Name, Value string }

type TLS struct {
	Enabled      bool
	MinVersion   string // "TLS1.2", "TLS1.3"; empty when the etcd version has no such flag
	Dir          string // on the VM
	KeyAlgorithm string
	ValidityDays int
	CA           spec.CA
}

type Node struct {
	Name      string
	FQDN      string // equals Name when the cluster has no domain
	IP        netip.Addr
	MAC       string // lower-case colon form, or empty
	Interface string
	ExtraSANs []string
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
		lo := netip.MustParseAddr("127.0.0.1")
		if n.IP.Is6() {
			lo = netip.IPv6Loopback()
		}
		urls = append(urls, c.Scheme()+"://"+hostPort(lo, c.Etcd.ClientPort))
	}
	return urls
}

// InitialCluster is etcd's --initial-cluster, identical on every node.
func (c *Cluster) InitialCluster() string {
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

// InstanceID is the node's cloud-init instance-id. It depends only on the
// cluster and node names: a new id would make cloud-init redo first boot
// on an existing VM, so it must survive every other change to the spec.
func (c *Cluster) InstanceID(n Node) string {
	return "etcdimg-" + c.Name + "-" + n.Name
}
