package pki

import (
	"crypto/x509"
	"io/fs"
	"net"
	"path"
	"slices"
	"strings"
)

// caName is the only CA today. Specs still name their CA, as in kubeadm's
// certlist, so that a split client/peer CA stays a data change.
const caName = "ca"

// The subject of kubeadm's apiserver-etcd-client certificate, as kubeadm's
// certlist issues it (kubeadmconstants.APIServerEtcdClientCertCommonName,
// MastersGroup), so an etcd with auth on sees the user kubeadm's does.
const (
	APIServerEtcdClientCommonName   = "kube-apiserver-etcd-client"
	APIServerEtcdClientOrganization = "system:masters"
)

// AdminCommonName is the subject CN of the operator's client certificate;
// with etcd auth enabled it is the user name etcd sees.
const AdminCommonName = "etcdimg-admin"

// Profile names, also the base names of the files in Dir/nodes/<name>/
// and of the files a node carries. ProfileCA names the CA certificate in
// NodeFiles.
const (
	ProfileServer            = "server"
	ProfilePeer              = "peer"
	ProfileHealthcheckClient = "healthcheck-client"
	ProfileAdmin             = "admin"
	// ProfileAPIServerEtcdClient is kubeadm's apiserver-etcd-client, the
	// certificate kube-apiserver presents to an external etcd (see
	// Config.APIServerEtcdClient).
	ProfileAPIServerEtcdClient = "apiserver-etcd-client"
	ProfileCA                  = "ca"
)

// nodeProfile is one certificate every node carries, and everything the
// rest of etcdimg needs to know about it: how it is issued (config), which
// etcd flags name its files, which etcdctl variables. A new certificate is
// one entry here; issuance, the seed, the first-boot install, the etcd
// command line and etcdctl.env all follow from it.
type nodeProfile struct {
	name                string
	config              func(cluster string, n Node) certConfig
	certFlags, keyFlags []EtcdFlag
	certEnv, keyEnv     string
}

// nodeProfiles in the order files are issued, carried and installed.
var nodeProfiles = []nodeProfile{
	{name: ProfileServer, config: serverProfile,
		certFlags: []EtcdFlag{{ListenerClient, "cert-file"}}, keyFlags: []EtcdFlag{{ListenerClient, "key-file"}}},
	{name: ProfilePeer, config: peerProfile,
		certFlags: []EtcdFlag{{ListenerPeer, "peer-cert-file"}}, keyFlags: []EtcdFlag{{ListenerPeer, "peer-key-file"}}},
	// For root on the node: etcdctl against the local member.
	{name: ProfileHealthcheckClient, config: healthcheckClientProfile, certEnv: "ETCDCTL_CERT", keyEnv: "ETCDCTL_KEY"},
}

// etcd's two TLS listeners; each flag of a node file belongs to one.
const (
	ListenerClient = "client"
	ListenerPeer   = "peer"
)

// EtcdFlag is an etcd flag that takes the path of a node file on the VM.
type EtcdFlag struct {
	Listener string // ListenerClient or ListenerPeer
	Name     string // without dashes: "cert-file"
}

// Owners of node files on the VM.
const (
	OwnerEtcd = "etcd" // the spec's etcd user and group
)

// NodeFile is one file of the PKI that a node carries: on its seed as
// etcdimg/pki/<Name> (SeedMode), installed on first boot as
// <tls.dir>/<Name> (Mode, Owner).
type NodeFile struct {
	Profile  string // a node profile, or ProfileCA
	Key      bool   // the private key; otherwise the certificate
	Name     string
	SeedMode fs.FileMode
	Mode     fs.FileMode
	Owner    string
	Flags    []EtcdFlag // the etcd flags that name it
	Env      string     // the etcdctl.env variable that names it, if any
}

// Modes: certificates are public, keys readable by their owner only (the
// seed is read-only media, so no write bits there).
const (
	seedCertMode, seedKeyMode fs.FileMode = 0o444, 0o400
	vmCertMode, vmKeyMode     fs.FileMode = 0o644, 0o600
)

// NodeFiles lists, in order, every file each node carries: the CA
// certificate (never its key), then each node profile's certificate and
// key.
func NodeFiles() []NodeFile {
	files := []NodeFile{{
		Profile: ProfileCA, Name: "ca.crt", SeedMode: seedCertMode, Mode: vmCertMode, Owner: OwnerEtcd,
		Flags: []EtcdFlag{{ListenerClient, "trusted-ca-file"}, {ListenerPeer, "peer-trusted-ca-file"}},
		Env:   "ETCDCTL_CACERT",
	}}
	for _, p := range nodeProfiles {
		files = append(files,
			NodeFile{Profile: p.name, Name: p.name + ".crt", SeedMode: seedCertMode, Mode: vmCertMode, Owner: OwnerEtcd,
				Flags: p.certFlags, Env: p.certEnv},
			NodeFile{Profile: p.name, Key: true, Name: p.name + ".key", SeedMode: seedKeyMode, Mode: vmKeyMode, Owner: OwnerEtcd,
				Flags: p.keyFlags, Env: p.keyEnv})
	}
	return files
}

// FileData is the content of node file f of node, from a PKI that Ensure
// returned; nil when the PKI has no such node.
func (p *PKI) FileData(node string, f NodeFile) []byte {
	if f.Profile == ProfileCA {
		return p.CACertPEM
	}
	ck, ok := p.Nodes[node][f.Profile]
	if !ok {
		return nil
	}
	if f.Key {
		return ck.KeyPEM
	}
	return ck.CertPEM
}

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
	Node     string // empty for the host-only certificates (admin, apiserver-etcd-client)
	Config   certConfig
}

func (s certSpec) certFile() string { return s.BaseName + ".crt" }
func (s certSpec) keyFile() string  { return s.BaseName + ".key" }

// certList is the full, ordered list of leaf certificates for cfg: the admin
// certificate, then each of nodeProfiles for each node in spec order. The order fixes the sequence in which Rand is consumed.
func certList(cfg *Config) []certSpec {
	specs := []certSpec{{
		Name:     ProfileAdmin,
		BaseName: "admin",
		CAName:   caName,
		Config:   adminProfile(cfg.Cluster),
	}}
	for _, n := range cfg.Nodes {
		for _, p := range nodeProfiles {
			specs = append(specs, certSpec{
				Name:     p.name,
				BaseName: path.Join("nodes", n.Name, p.name),
				CAName:   caName,
				Node:     n.Name,
				Config:   p.config(cfg.Cluster, n),
			})
		}
	}
	// Host-only like admin, but last: turning kubeadm on adds one entry
	// without reordering the rest.
	if cfg.APIServerEtcdClient {
		specs = append(specs, certSpec{
			Name:     ProfileAPIServerEtcdClient,
			BaseName: ProfileAPIServerEtcdClient,
			CAName:   caName,
			Config:   apiServerEtcdClientProfile(),
		})
	}
	return specs
}

// apiServerEtcdClientProfile is kubeadm's: a client certificate only, no
// SANs (kube-apiserver connects from wherever it runs).
func apiServerEtcdClientProfile() certConfig {
	return certConfig{
		CommonName:   APIServerEtcdClientCommonName,
		Organization: []string{APIServerEtcdClientOrganization},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
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
