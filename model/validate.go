package model

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/etcdimg/etcdimg/internal/etcdflags"
	"github.com/etcdimg/etcdimg/report"
	"github.com/etcdimg/etcdimg/spec"
)

var (
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tokenRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	posixNameRE  = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	versionRE    = regexp.MustCompile(`^(3\.[0-9]+)\.([0-9]+)$`)
	sha256RE     = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	ifnameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)
	safePathRE   = regexp.MustCompile(`^(/[A-Za-z0-9._+-]+)+$`)
	flagNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	supported    = []string{"3.5", "3.6", "3.7"}
	keyAlgs      = []string{"ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"}
	tlsVersions  = []string{"TLS1.2", "TLS1.3"}
	reservedDirs = map[string]bool{"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true,
		"/lib": true, "/proc": true, "/root": true, "/run": true, "/sbin": true, "/sys": true, "/tmp": true,
		"/usr": true, "/usr/local": true, "/usr/local/bin": true, "/var": true, "/var/lib": true}
)

// Arches are the machines etcd releases and Debian's cloud images both
// exist for, in Go's (and etcd's tarball) names.
var Arches = []string{"amd64", "arm64"}

// Validate resolves c into the model: every absent field takes its value
// from spec.Defaults (c itself is never changed), every value is checked,
// and each finding carries its path. The model is nil when the report holds
// an error; otherwise everything the generator and the PKI will do with it
// succeeds.
func Validate(c *spec.Cluster) (*Cluster, report.Report) {
	v := &validator{d: spec.Defaults()}
	m := v.cluster(c)
	v.r.Sort()
	if v.r.IsFatal() {
		return nil, v.r
	}
	return m, v.r
}

type validator struct {
	r report.Report
	d *spec.Cluster // the defaults
	// kubeadm: kubeadm.enabled, which changes other fields' defaults.
	kubeadm bool
}

// or is the spec's value when the field is present, the default otherwise.
func or[T any](p, def *T) T {
	if p != nil {
		return *p
	}
	return *def
}

func (v *validator) errf(p, f string, a ...any)  { v.r.Errorf(p, f, a...) }
func (v *validator) warnf(p, f string, a ...any) { v.r.Warnf(p, f, a...) }

func (v *validator) cluster(c *spec.Cluster) *Cluster {
	m := &Cluster{Name: c.Name, Token: or(c.Token, &c.Name), Domain: strings.TrimSuffix(c.Domain, ".")}
	v.kubeadm = or(c.Kubeadm.Enabled, v.d.Kubeadm.Enabled)
	switch {
	case c.Name == "":
		v.errf("name", "required: name the cluster (a DNS label such as \"etcd\"); it is part of every node's instance-id")
	case !dnsLabelRE.MatchString(c.Name):
		v.errf("name", "%q is not a DNS label: use 1-63 lower-case letters, digits and '-', not starting or ending with '-'", c.Name)
	}
	if c.Token != nil && !tokenRE.MatchString(*c.Token) {
		v.errf("token", "%q is not a valid cluster token: use up to 128 letters, digits, '.', '_' or '-'", *c.Token)
	}
	if m.Domain != "" {
		v.dnsName("domain", m.Domain)
	}
	m.Network = v.network(c)
	m.Etcd = v.etcd(c)
	m.TLS = v.tls(c, &m.Etcd)
	m.Kubeadm = v.kubeadmOption(c, m)
	tlsDir := ""
	if m.TLS.Enabled {
		tlsDir = m.TLS.Dir
	}
	v.maintenance(&m.Etcd, c.Etcd, m.Etcd.DataDir, tlsDir, len(c.Nodes))
	m.Nodes = v.nodes(c, m)
	m.Access = v.access(c.Access, m.Etcd.User.Name)
	m.Extra = v.extra(c, m)
	return m
}

func (v *validator) dnsName(p, s string) bool {
	if len(s) > 253 {
		v.errf(p, "%q is longer than 253 characters", s)
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !dnsLabelRE.MatchString(l) {
			v.errf(p, "%q is not a DNS name: label %q must be 1-63 lower-case letters, digits and '-'", s, l)
			return false
		}
	}
	return true
}

func (v *validator) ip(p, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		v.errf(p, "%q is not an IPv4 or IPv6 address", s)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (v *validator) network(c *spec.Cluster) Network {
	var n Network
	p := "network.cidr"
	if c.Network.CIDR == "" {
		v.errf(p, "required: the node network, e.g. \"192.168.0.0/24\"")
	} else if pf, err := netip.ParsePrefix(c.Network.CIDR); err != nil {
		v.errf(p, "%q is not a network in CIDR notation such as \"192.168.0.0/24\"", c.Network.CIDR)
	} else if pf.Masked() != pf {
		v.errf(p, "%q has host bits set; write %q", c.Network.CIDR, pf.Masked().String())
	} else {
		n.Prefix = pf
	}
	if c.Network.Gateway != "" {
		if a, ok := v.ip("network.gateway", c.Network.Gateway); ok {
			if n.Prefix.IsValid() && !n.Prefix.Contains(a) {
				v.errf("network.gateway", "%s is outside the node network %s", a, n.Prefix)
			}
			n.Gateway = a
		}
	}
	for i, d := range c.Network.DNS {
		if a, ok := v.ip(report.Index("network.dns", i), d); ok {
			n.DNS = append(n.DNS, a)
		}
	}
	for i, d := range c.Network.SearchDomains {
		if v.dnsName(report.Index("network.searchDomains", i), strings.TrimSuffix(d, ".")) {
			n.SearchDomains = append(n.SearchDomains, strings.TrimSuffix(d, "."))
		}
	}
	n.Interface = or(c.Network.Interface, v.d.Network.Interface)
	if !ifnameRE.MatchString(n.Interface) {
		v.errf("network.interface", "%q is not a Linux interface name (1-15 letters, digits, '_', '.', '-')", n.Interface)
	}
	return n
}

func (v *validator) port(p string, n int) bool {
	switch {
	case n < 1 || n > 65535:
		v.errf(p, "%d is not a port (1-65535)", n)
		return false
	case n < 1024:
		v.errf(p, "%d is a privileged port; etcd runs as an unprivileged user, use 1024-65535", n)
		return false
	}
	return true
}

func (v *validator) etcd(c *spec.Cluster) Etcd {
	e, d := c.Etcd, v.d.Etcd
	m := Etcd{
		Release:          Release{Path: e.Release.Path, URL: e.Release.URL},
		Arch:             or(e.Arch, d.Arch),
		ClientPort:       or(e.ClientPort, d.ClientPort),
		PeerPort:         or(e.PeerPort, d.PeerPort),
		ExtraClientPorts: e.ExtraClientPorts,
		ListenLocalhost:  or(e.ListenLocalhost, d.ListenLocalhost),
		HeartbeatMs:      or(e.HeartbeatIntervalMs, d.HeartbeatIntervalMs),
		ElectionMs:       or(e.ElectionTimeoutMs, d.ElectionTimeoutMs),
		DataDir:          or(e.DataDir, d.DataDir),
		LimitNOFILE:      or(e.LimitNOFILE, d.LimitNOFILE),
		User: User{
			Name: or(e.User.Name, d.User.Name), UID: or(e.User.UID, d.User.UID),
			Group: or(e.User.Group, d.User.Group), GID: or(e.User.GID, d.User.GID),
		},
	}
	if e.Version == "" {
		v.errf("etcd.version", "required: the etcd version the ISOs carry, e.g. \"3.6.16\"")
	} else if mm := versionRE.FindStringSubmatch(strings.TrimPrefix(e.Version, "v")); mm == nil {
		v.errf("etcd.version", "%q is not an etcd version like \"3.6.16\"", e.Version)
	} else if !contains(supported, mm[1]) {
		v.errf("etcd.version", "etcd %s is not supported: use %s", mm[1], strings.Join(supported, ", "))
	} else {
		m.Version = strings.TrimPrefix(e.Version, "v")
		m.Minor = mm[1]
	}

	if !contains(Arches, m.Arch) {
		v.errf("etcd.arch", "%q is not one of %s", m.Arch, strings.Join(Arches, ", "))
	}
	rel := e.Release
	switch {
	case rel.Path == "" && rel.URL == "":
		v.errf("etcd.release", "required: set path (a local etcd-vX.Y.Z-linux-%s.tar.gz, e.g. from `make etcd-release`) or url", m.Arch)
	case rel.Path != "" && rel.URL != "":
		v.errf("etcd.release", "set path or url, not both")
	case rel.URL != "":
		if !strings.HasPrefix(rel.URL, "https://") && !strings.HasPrefix(rel.URL, "http://") {
			v.errf("etcd.release.url", "%q is not an http(s) URL", rel.URL)
		}
	}
	switch {
	case rel.SHA256 == "":
		v.errf("etcd.release.sha256", "required: pin the tarball's sha256 (`sha256sum` prints it; `make etcd-release` too)")
	case !sha256RE.MatchString(rel.SHA256):
		v.errf("etcd.release.sha256", "%q is not a sha256: want 64 hex digits", rel.SHA256)
	default:
		m.Release.SHA256 = strings.ToLower(rel.SHA256)
	}

	okC := v.port("etcd.clientPort", m.ClientPort)
	okP := v.port("etcd.peerPort", m.PeerPort)
	if okC && okP && m.ClientPort == m.PeerPort {
		v.errf("etcd.peerPort", "%d is also the client port; peers and clients need different ports", m.PeerPort)
	}
	seen := map[int]string{m.ClientPort: "etcd.clientPort", m.PeerPort: "etcd.peerPort"}
	for i, p := range e.ExtraClientPorts {
		path := report.Index("etcd.extraClientPorts", i)
		if !v.port(path, p) {
			continue
		}
		if other, dup := seen[p]; dup {
			v.errf(path, "%d is already used by %s", p, other)
			continue
		}
		seen[p] = path
	}

	if m.HeartbeatMs < 1 {
		v.errf("etcd.heartbeatIntervalMs", "%d must be a positive number of milliseconds", m.HeartbeatMs)
	}
	switch {
	case m.ElectionMs < 5*m.HeartbeatMs:
		v.errf("etcd.electionTimeoutMs", "%d is less than 5 × heartbeatIntervalMs (%d); etcd needs at least %d",
			m.ElectionMs, m.HeartbeatMs, 5*m.HeartbeatMs)
	case m.ElectionMs > 50000:
		v.errf("etcd.electionTimeoutMs", "%d is above etcd's maximum of 50000", m.ElectionMs)
	}

	v.absPath("etcd.dataDir", m.DataDir)

	if m.LimitNOFILE < 1024 || m.LimitNOFILE > 1048576 {
		v.errf("etcd.limitNOFILE", "%d is out of range 1024-1048576", m.LimitNOFILE)
	}
	v.user(m.User)
	m.ExtraFlags = v.extraFlags(e.ExtraFlags, m.Minor)
	m.Runtime = v.runtime(&m, e, seen)
	return m
}

// user refuses root by name and by id: etcd never runs as root, and a
// "root" group would hand the data dir and the keys to every root-group
// process.
func (v *validator) user(u User) {
	const why = "; etcd never runs as root"
	switch {
	case u.Name == "root":
		v.errf("etcd.user.name", "%q is the superuser%s: use an account of its own such as \"etcd\"", u.Name, why)
	case !posixNameRE.MatchString(u.Name):
		v.errf("etcd.user.name", "%q is not a valid user name (lower-case letters, digits, '_', '-', up to 32)", u.Name)
	}
	switch {
	case u.Group == "root":
		v.errf("etcd.user.group", "%q is the superuser's group%s: use a group of its own such as \"etcd\"", u.Group, why)
	case !posixNameRE.MatchString(u.Group):
		v.errf("etcd.user.group", "%q is not a valid group name (lower-case letters, digits, '_', '-', up to 32)", u.Group)
	}
	for _, id := range []struct {
		path string
		n    int
	}{{"etcd.user.uid", u.UID}, {"etcd.user.gid", u.GID}} {
		switch {
		case id.n == 0:
			v.errf(id.path, "0 is out of range 1-60000: 0 is root%s", why)
		case id.n < 1 || id.n > 60000:
			v.errf(id.path, "%d is out of range 1-60000", id.n)
		}
	}
}

func (v *validator) absPath(p, s string) bool {
	switch {
	case s == "":
		v.errf(p, "required: an absolute path")
	case !strings.HasPrefix(s, "/"):
		v.errf(p, "%q is not an absolute path", s)
	case path.Clean(s) != s:
		v.errf(p, "%q is not a clean path; write %q", s, path.Clean(s))
	case !safePathRE.MatchString(s):
		v.errf(p, "%q has characters etcdimg does not put in paths; use letters, digits, '.', '_', '+', '-' and '/'", s)
	case reservedDirs[s]:
		v.errf(p, "%q is a system folder; use a folder of its own such as /var/lib/etcd", s)
	default:
		return true
	}
	return false
}

func (v *validator) extraFlags(flags map[string]spec.Scalar, minor string) []Flag {
	var out []Flag
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		p := report.Join("etcd.extraFlags", name)
		val := flags[name]
		if strings.HasPrefix(name, "-") {
			v.errf(p, "write the flag name without dashes: %q", strings.TrimLeft(name, "-"))
			continue
		}
		if !flagNameRE.MatchString(name) {
			v.errf(p, "%q is not an etcd flag name", name)
			continue
		}
		if field, ok := etcdflags.Managed(name); ok {
			v.errf(p, "--%s is set by etcdimg; use %s instead", name, field)
			continue
		}
		if why, bad := refusedFlags[name]; bad {
			v.errf(p, "--%s %s", name, why)
			continue
		}
		if strings.ContainsAny(val.Text, "\x00\n\r") {
			v.errf(p, "the value must be one line")
			continue
		}
		if minor == "" {
			out = append(out, Flag{name, val.Text})
			continue // unknown version: already reported, cannot check flags against it
		}
		f, ok := etcdflags.Lookup(minor, name)
		if !ok {
			msg := fmt.Sprintf("etcd %s has no flag --%s", minor, name)
			if s := etcdflags.Suggest(minor, name); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			v.errf(p, "%s", msg)
			continue
		}
		if err := etcdflags.CheckValue(f, val.Text); err != nil {
			v.errf(p, "%v", err)
			continue
		}
		if f.Deprecated != "" {
			v.warnf(p, "--%s is deprecated in etcd %s: %s", name, minor, f.Deprecated)
		}
		out = append(out, Flag{name, val.Text})
	}
	return out
}

// refusedFlags exist in etcd but break what etcdimg sets up.
var refusedFlags = map[string]string{
	"version":       "makes etcd print its version and exit; the member would never start",
	"auto-tls":      "makes etcd use self-signed client certificates; etcdimg's PKI (tls) provides real ones",
	"peer-auto-tls": "makes etcd use self-signed peer certificates; etcdimg's PKI (tls) provides real ones",
}

// maxValidityDays keeps a validity a time.Duration can hold, with room:
// a century.
const maxValidityDays = 36500

func (v *validator) validity(p string, days int) {
	if days < 1 || days > maxValidityDays {
		v.errf(p, "%d is out of range 1-%d days", days, maxValidityDays)
	}
}

func (v *validator) tls(c *spec.Cluster, m *Etcd) TLS {
	t, d := c.TLS, v.d.TLS
	dir := d.Dir
	if v.kubeadm {
		dir = new(KubeadmPKIDir) // kubeadm checks an explicit other tls.dir
	}
	r := TLS{
		Enabled:      or(t.Enabled, d.Enabled),
		Dir:          or(t.Dir, dir),
		KeyAlgorithm: or(t.KeyAlgorithm, d.KeyAlgorithm),
		ValidityDays: or(t.ValidityDays, d.ValidityDays),
		CA:           CA{Cert: t.CA.Cert, Key: t.CA.Key},
	}
	if !r.Enabled {
		v.warnf("tls.enabled", "false: client and peer traffic is unencrypted and unauthenticated; anyone on the node network can read and write the cluster")
		return r
	}
	minVersion := or(t.MinVersion, d.MinVersion)
	if !contains(tlsVersions, minVersion) {
		v.errf("tls.minVersion", "%q is not one of %s", minVersion, strings.Join(tlsVersions, ", "))
	} else if m.Minor != "" {
		if _, ok := etcdflags.Lookup(m.Minor, "tls-min-version"); ok {
			r.MinVersion = minVersion
		} else {
			v.warnf("tls.minVersion", "etcd %s has no --tls-min-version; Go's default minimum (TLS 1.2) applies", m.Minor)
		}
	}
	if v.absPath("tls.dir", r.Dir) && r.Dir == m.DataDir {
		v.errf("tls.dir", "%q is also the data dir; keep certificates apart from etcd's data", r.Dir)
	}
	if !contains(keyAlgs, r.KeyAlgorithm) {
		v.errf("tls.keyAlgorithm", "%q is not one of %s", r.KeyAlgorithm, strings.Join(keyAlgs, ", "))
	}
	v.validity("tls.validityDays", r.ValidityDays)
	switch {
	case (t.CA.Cert == "") != (t.CA.Key == ""):
		v.errf("tls.ca", "set both cert and key to use your own CA, or neither to have etcdimg generate one")
	case t.CA.Cert != "":
		if t.CA.Algorithm != nil {
			v.errf("tls.ca.algorithm", "only for a generated CA; the algorithm of your own CA comes from its key")
		}
		if t.CA.ValidityDays != nil {
			v.errf("tls.ca.validityDays", "only for a generated CA; your own CA's validity is in its certificate")
		}
	default:
		r.CA.Algorithm = or(t.CA.Algorithm, d.CA.Algorithm)
		r.CA.ValidityDays = or(t.CA.ValidityDays, d.CA.ValidityDays)
		if !contains(keyAlgs, r.CA.Algorithm) {
			v.errf("tls.ca.algorithm", "%q is not one of %s", r.CA.Algorithm, strings.Join(keyAlgs, ", "))
		}
		v.validity("tls.ca.validityDays", r.CA.ValidityDays)
	}
	return r
}

func (v *validator) nodes(c *spec.Cluster, m *Cluster) []Node {
	if len(c.Nodes) == 0 {
		v.errf("nodes", "required: at least one node, e.g. etcdimg.node('etcd01', '192.168.0.11')")
		return nil
	}
	if len(c.Nodes)%2 == 0 {
		n := len(c.Nodes)
		v.warnf("nodes", "%d members survive %d failed, as %d do: the extra member adds no tolerance; an odd number is usual", n, (n-1)/2, n-1)
	}
	names, ips, macs := map[string]string{}, map[netip.Addr]string{}, map[string]string{}
	var out []Node
	for i, sn := range c.Nodes {
		p := report.Index("nodes", i)
		n := Node{Name: sn.Name, Interface: or(sn.Interface, &m.Network.Interface)}
		switch {
		case sn.Name == "":
			v.errf(p+".name", "required: a DNS label such as \"etcd01\"")
		case !dnsLabelRE.MatchString(sn.Name):
			v.errf(p+".name", "%q is not a DNS label: use 1-63 lower-case letters, digits and '-', not starting or ending with '-'", sn.Name)
		default:
			if other, dup := names[sn.Name]; dup {
				v.errf(p+".name", "%q is already the name of %s", sn.Name, other)
			}
			names[sn.Name] = p
		}
		n.FQDN = sn.Name
		if m.Domain != "" {
			n.FQDN = sn.Name + "." + m.Domain
			if len(n.FQDN) > 253 {
				v.errf(p+".name", "FQDN %q is longer than 253 characters", n.FQDN)
			}
		}
		if sn.IP == "" {
			v.errf(p+".ip", "required: the node's address in %s", c.Network.CIDR)
		} else if a, ok := v.ip(p+".ip", sn.IP); ok {
			n.IP = a
			v.nodeIP(p+".ip", a, m.Network)
			if other, dup := ips[a]; dup {
				v.errf(p+".ip", "%s is already the address of %s", a, other)
			}
			ips[a] = p
		}
		if sn.MAC != "" {
			hw, err := net.ParseMAC(sn.MAC)
			switch {
			case err != nil || len(hw) != 6:
				v.errf(p+".mac", "%q is not a MAC address like \"52:54:00:12:34:56\"", sn.MAC)
			case hw[0]&1 == 1:
				v.errf(p+".mac", "%q is a multicast address; a NIC needs a unicast MAC", sn.MAC)
			default:
				n.MAC = hw.String()
				if other, dup := macs[n.MAC]; dup {
					v.errf(p+".mac", "%s is already the MAC of %s", n.MAC, other)
				}
				macs[n.MAC] = p
			}
		}
		if sn.Interface != nil && !ifnameRE.MatchString(n.Interface) {
			v.errf(p+".interface", "%q is not a Linux interface name (1-15 letters, digits, '_', '.', '-')", n.Interface)
		}
		for j, s := range sn.ExtraSANs {
			if san, ok := v.san(report.Index(p+".extraSANs", j), s); ok {
				n.ExtraSANs = append(n.ExtraSANs, san)
			}
		}
		out = append(out, n)
	}
	var noMAC []string
	for i, n := range out {
		// An interface other than the default is the operator's choice.
		// Only names that passed: an invalid one is an error already, and
		// may hold anything, a newline too.
		if n.MAC == "" && c.Nodes[i].MAC == "" && n.Interface == *v.d.Network.Interface && dnsLabelRE.MatchString(n.Name) {
			noMAC = append(noMAC, n.Name)
		}
	}
	if len(noMAC) > 0 {
		// cloud-init's ifupdown and networkd renderers ignore name
		// patterns, and Debian names a NIC after its slot, so without a
		// MAC the configured name must be exactly the guest's.
		v.warnf("nodes", "%s: no mac, so network-config configures the NIC named %q by name; Debian cloud images name it after its slot (ens3 on QEMU's pc machine, enp1s0 on q35, enp0s3 in VirtualBox): set each node's mac (the attach scripts give the VM that MAC) or network.interface",
			strings.Join(noMAC, ", "), m.Network.Interface)
	}
	if m.Network.Gateway.IsValid() {
		if other, clash := ips[m.Network.Gateway]; clash {
			v.errf("network.gateway", "%s is also the address of %s", m.Network.Gateway, other)
		}
	}
	return out
}

// san checks one extra subject alternative name as the certificate will
// hold it: an IP address without a zone (x509 has no place for one), or a
// DNS name whose first label may be the wildcard "*".
func (v *validator) san(p, s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			v.errf(p, "%q has a zone (%%%s); a certificate holds the address alone: write %q", s, a.Zone(), a.WithZone("").String())
			return "", false
		}
		return a.String(), true
	}
	if len(s) > 253 {
		v.errf(p, "%q is longer than 253 characters", s)
		return "", false
	}
	if !v.dnsName(p, strings.TrimPrefix(s, "*.")) {
		return "", false
	}
	return s, true
}

func (v *validator) nodeIP(p string, a netip.Addr, n Network) {
	switch {
	case a.IsLoopback() || a.IsUnspecified() || a.IsMulticast():
		v.errf(p, "%s cannot be a node address (loopback, unspecified or multicast)", a)
		return
	case a.IsLinkLocalUnicast():
		v.warnf(p, "%s is link-local; etcd peers usually need a routable address", a)
	}
	if !n.Prefix.IsValid() {
		return
	}
	if !n.Prefix.Contains(a) {
		v.errf(p, "%s is outside the node network %s", a, n.Prefix)
		return
	}
	if a.Is4() && n.Prefix.Bits() <= 30 {
		if a == n.Prefix.Addr() {
			v.errf(p, "%s is the network address of %s", a, n.Prefix)
		} else if a == lastAddr(n.Prefix) {
			v.errf(p, "%s is the broadcast address of %s", a, n.Prefix)
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	x := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
