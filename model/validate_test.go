package model_test

import (
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
