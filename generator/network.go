package generator

import (
	"net/netip"

	"github.com/etcdimg/etcdimg/model"
)

// Network config version 1. Version 2 would be the obvious choice, but
// cloud-init (22.4 and 25.1 alike) turns a v2 route into `post-up route add
// default gw …` for ifupdown, which needs net-tools that a minimal Debian
// lacks (`route: not found`, no default route), and v2's `to: default`
// makes its eni and networkd renderers fail outright. A v1 subnet gateway is
// what every renderer sets natively: ifupdown's `gateway` (run with ip),
// networkd's Gateway=, netplan's default route. generator's tests run the
// host's cloud-init over these files to hold that.
type netConfig struct {
	Version int        `yaml:"version"`
	Config  []physical `yaml:"config"`
}

type physical struct {
	Type string `yaml:"type"`
	Name string `yaml:"name"`
	// A MAC pins the NIC whatever the kernel calls it; cloud-init then
	// renames it to Name.
	MACAddress string   `yaml:"mac_address,omitempty"`
	Subnets    []subnet `yaml:"subnets"`
}

type subnet struct {
	Type           string   `yaml:"type"` // static or static6
	Address        string   `yaml:"address"`
	Gateway        string   `yaml:"gateway,omitempty"`
	DNSNameservers []string `yaml:"dns_nameservers,omitempty"`
	DNSSearch      []string `yaml:"dns_search,omitempty"`
}

func networkConfig(c *model.Cluster, n model.Node) netConfig {
	s := subnet{Type: "static", Address: netip.PrefixFrom(n.IP, c.Network.Prefix.Bits()).String()}
	if n.IP.Is6() {
		s.Type = "static6"
	}
	if gw := c.Network.Gateway; gw.IsValid() {
		s.Gateway = gw.String()
	}
	for _, a := range c.Network.DNS {
		s.DNSNameservers = append(s.DNSNameservers, a.String())
	}
	s.DNSSearch = c.Network.SearchDomains
	return netConfig{Version: 1, Config: []physical{{Type: "physical", Name: n.Interface, MACAddress: n.MAC, Subnets: []subnet{s}}}}
}
