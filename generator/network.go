package generator

import (
	"net/netip"

	"github.com/etcdimg/etcdimg/model"
)

// Network config version 2 (netplan-like), which cloud-init renders for
// ifupdown, networkd and netplan alike.
type netConfig struct {
	Version   int                 `yaml:"version"`
	Ethernets map[string]ethernet `yaml:"ethernets"`
}

type ethernet struct {
	Match       *netMatch    `yaml:"match,omitempty"`
	SetName     string       `yaml:"set-name,omitempty"`
	DHCP4       bool         `yaml:"dhcp4"`
	DHCP6       bool         `yaml:"dhcp6"`
	Addresses   []string     `yaml:"addresses"`
	Routes      []route      `yaml:"routes,omitempty"`
	Nameservers *nameservers `yaml:"nameservers,omitempty"`
}

type netMatch struct {
	MACAddress string `yaml:"macaddress"`
}

type route struct {
	To  string `yaml:"to"`
	Via string `yaml:"via"`
}

type nameservers struct {
	Addresses []string `yaml:"addresses,omitempty"`
	Search    []string `yaml:"search,omitempty"`
}

func networkConfig(c *model.Cluster, n model.Node) netConfig {
	e := ethernet{
		Addresses: []string{netip.PrefixFrom(n.IP, c.Network.Prefix.Bits()).String()},
	}
	if n.MAC != "" {
		// A MAC pins the NIC whatever the kernel calls it; set-name then
		// gives it the name the spec uses.
		e.Match = &netMatch{MACAddress: n.MAC}
		e.SetName = n.Interface
	}
	if gw := c.Network.Gateway; gw.IsValid() {
		to := "0.0.0.0/0"
		if gw.Is6() {
			to = "::/0"
		}
		e.Routes = []route{{To: to, Via: gw.String()}}
	}
	if len(c.Network.DNS) > 0 || len(c.Network.SearchDomains) > 0 {
		ns := &nameservers{Search: c.Network.SearchDomains}
		for _, a := range c.Network.DNS {
			ns.Addresses = append(ns.Addresses, a.String())
		}
		e.Nameservers = ns
	}
	return netConfig{Version: 2, Ethernets: map[string]ethernet{n.Interface: e}}
}
