package pki

import (
	"crypto/x509"
	"net"
	"path"
	"slices"
	"strings"
)

// caName is the only CA today. Specs still name their CA, as in kubeadm's
// certlist, so that a split client/peer CA stays a data change.
const caName = "ca"

// AdminCommonName is the subject CN of the operator's client certificate;
// with etcd auth enabled it is the user name etcd sees.
const AdminCommonName = "etcdimg-admin"

// Profile names, also the base names of the files in Dir/nodes/<name>/.
const (
	ProfileServer            = "server"
	ProfilePeer              = "peer"
	ProfileHealthcheckClient = "healthcheck-client"
	ProfileAdmin             = "admin"
)

// certConfig is what a profile decides about one certificate. Everything here
// is compared with an existing certificate to decide whether it can be reused.
type certConfig struct {
	CommonName   string
	Organization []string
	ExtKeyUsage  []x509.ExtKeyUsage
	DNSNames     []string
	IPs          []net.IP
}

// certSpec is one entry of the certificate list.
type certSpec struct {
	Name     string // profile name
	BaseName string // slash-separated path below Dir, without .crt/.key
	CAName   string
	Node     string // empty for the admin certificate
	Config   certConfig
}

func (s certSpec) certFile() string { return s.BaseName + ".crt" }
func (s certSpec) keyFile() string  { return s.BaseName + ".key" }

// certList is the full, ordered list of leaf certificates for cfg: the admin
// certificate, then server, peer and healthcheck-client for each node in spec
// order. The order fixes the sequence in which Rand is consumed.
func certList(cfg *Config) []certSpec {
	specs := []certSpec{{
		Name:     ProfileAdmin,
		BaseName: "admin",
		CAName:   caName,
		Config:   adminProfile(cfg.Cluster),
	}}
	for _, n := range cfg.Nodes {
		for _, p := range []struct {
			name string
			fn   func(cluster string, n Node) certConfig
		}{
			{ProfileServer, serverProfile},
			{ProfilePeer, peerProfile},
			{ProfileHealthcheckClient, healthcheckClientProfile},
		} {
			specs = append(specs, certSpec{
				Name:     p.name,
				BaseName: path.Join("nodes", n.Name, p.name),
				CAName:   caName,
				Node:     n.Name,
				Config:   p.fn(cfg.Cluster, n),
			})
		}
	}
	return specs
}

// serverProfile serves etcd's client port. clientAuth is included because
// etcd's gateway and grpc-proxy reuse the server pair as a client; localhost
// and the loopback addresses let etcdctl on the node itself connect.
func serverProfile(cluster string, n Node) certConfig {
	dns := []string{n.Name}
	if n.FQDN != "" {
		dns = append(dns, n.FQDN)
	}
	dns = append(dns, "localhost")
	ips := append(slices.Clone(n.IPs), net.IPv4(127, 0, 0, 1), net.IPv6loopback)
	for _, s := range n.ExtraSANs {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	return certConfig{
		CommonName:   n.Name,
		Organization: []string{cluster},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dedupDNS(dns),
		IPs:          dedupIPs(ips),
	}
}

// peerProfile is used in both directions between members. With
// --peer-client-cert-auth etcd checks the connecting peer's source address
// against this certificate's IP SANs (or DNS SANs resolving to it), so the
// node IPs must be present; loopback is deliberately not.
func peerProfile(cluster string, n Node) certConfig {
	dns := []string{n.Name}
	if n.FQDN != "" {
		dns = append(dns, n.FQDN)
	}
	return certConfig{
		CommonName:   n.Name,
		Organization: []string{cluster},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dedupDNS(dns),
		IPs:          dedupIPs(slices.Clone(n.IPs)),
	}
}

// healthcheckClientProfile is for the node's own liveness probe against its
// local etcd (kubeadm's etcd/healthcheck-client).
func healthcheckClientProfile(cluster string, n Node) certConfig {
	return certConfig{
		CommonName:   n.Name + "-healthcheck-client",
		Organization: []string{cluster},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func adminProfile(cluster string) certConfig {
	return certConfig{
		CommonName:   AdminCommonName,
		Organization: []string{cluster},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// leafKeyUsage: keyEncipherment only means something for RSA key transport;
// ECDSA keys must not assert it.
func leafKeyUsage(keyAlg string) x509.KeyUsage {
	if strings.HasPrefix(keyAlg, "rsa-") {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}

// dedupDNS lower-cases (DNS is case-insensitive, and a spec that only changes
// case must not cause a re-issue) and drops repeats, keeping the first.
func dedupDNS(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		n = strings.ToLower(n)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func dedupIPs(ips []net.IP) []net.IP {
	seen := map[string]bool{}
	var out []net.IP
	for _, ip := range ips {
		k := ip.String()
		if !seen[k] {
			seen[k] = true
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			out = append(out, ip)
		}
	}
	return out
}
