//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Failure is one failed guest-side check.
type Failure struct{ Node, Check, Detail string }

func (f Failure) String() string {
	return fmt.Sprintf("node %s: check %s: %s", f.Node, f.Check, f.Detail)
}

// CheckCloudInit: cloud-init finished cleanly (see CloudInitProblems), and
// on every release no warning, deprecation or error in its log, since 22.4's
// verdict misses them.
func CheckCloudInit(node string, r *Report) []Failure {
	var fs []Failure
	for _, p := range CloudInitProblems(r.Section("cloud-init-status")) {
		fs = append(fs, Failure{node, p.Check, p.Detail})
	}
	if w := r.Section("cloud-init-log-warnings"); len(w.Lines) > 0 {
		fs = append(fs, Failure{node, "cloud-init-warnings", fmt.Sprintf("%d WARNING/DEPRECAT/Traceback/ERROR lines in /var/log/cloud-init.log:\n%s", len(w.Lines), indent(strings.Join(firstN(w.Lines, 25), "\n")))})
	}
	return fs
}

// CheckNodeReport runs every guest-side assertion of a product node.
func CheckNodeReport(c *ClusterInfo, rel *Release, n NodeInfo, r *Report) []Failure {
	fs := CheckCloudInit(n.Name, r)
	add := func(check, format string, a ...any) {
		fs = append(fs, Failure{n.Name, check, fmt.Sprintf(format, a...)})
	}

	if r.Host != n.Name {
		add("report-host", "report came from host %q", r.Host)
	}
	if got := r.Section("hostname").Text(); got != n.Name {
		add("hostname", "hostname %q, want %q", got, n.Name)
	}
	if n.FQDN != "" {
		if got := r.Section("hostname-f").Text(); got != n.FQDN {
			add("fqdn", "hostname -f %q, want %q", got, n.FQDN)
		}
	}

	// /etc/hosts resolves every node (name and fqdn) to its IP
	hosts := map[string][]string{}
	for _, l := range r.Section("etc-hosts").Lines {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		f := strings.Fields(l)
		if len(f) >= 2 {
			for _, h := range f[1:] {
				hosts[h] = append(hosts[h], f[0])
			}
		}
	}
	for _, o := range c.Nodes {
		for _, name := range []string{o.Name, o.FQDN} {
			if name == "" {
				continue
			}
			if !contains(hosts[name], o.Addr()) {
				add("etc-hosts", "%s does not map to %s (has %v); /etc/hosts:\n%s", name, o.Addr(), hosts[name], indent(r.Section("etc-hosts").Text()))
			}
		}
	}

	// etcd user and group
	uid, gid := c.uid(), c.gid()
	idOut := r.Section("id-etcd").Text()
	if !strings.HasPrefix(idOut, fmt.Sprintf("uid=%d(etcd) gid=%d(etcd)", uid, gid)) {
		add("etcd-user", "id etcd = %q, want uid=%d(etcd) gid=%d(etcd)", idOut, uid, gid)
	}
	if g := r.Section("getent-group-etcd").Text(); !strings.HasPrefix(g, fmt.Sprintf("etcd:x:%d:", gid)) {
		add("etcd-group", "getent group etcd = %q, want gid %d", g, gid)
	}

	// data dir 700 etcd:etcd
	if d := r.Section("stat-datadir").Text(); d != "700 etcd etcd /var/lib/etcd" {
		add("data-dir", "stat /var/lib/etcd = %q, want \"700 etcd etcd /var/lib/etcd\"", d)
	}

	// private keys 600 etcd:etcd
	if c.TLS {
		pki := r.Section("stat-pki")
		if pki.Text() == "absent" || len(pki.Lines) == 0 {
			add("pki", "/etc/etcd/pki absent on a TLS cluster; /etc/etcd:\n%s", indent(r.Section("stat-etc-etcd").Text()))
		}
		keys := 0
		for _, l := range pki.Lines {
			f := strings.Fields(l)
			if len(f) < 4 {
				continue
			}
			base := filepath.Base(f[3])
			if !isKeyFile(base) {
				continue
			}
			keys++
			if f[0] != "600" || f[1] != "etcd" || f[2] != "etcd" {
				add("pki-key-mode", "%s is %s %s:%s, want 600 etcd:etcd", f[3], f[0], f[1], f[2])
			}
		}
		if keys == 0 && len(pki.Lines) > 0 && pki.Text() != "absent" {
			add("pki", "no private key files (*.key, *-key.pem) in /etc/etcd/pki:\n%s", indent(pki.Text()))
		}
	}

	// binaries are the release's
	got := map[string]string{}
	for _, l := range r.Section("sha256").Lines {
		f := strings.Fields(l)
		if len(f) == 2 {
			got[filepath.Base(f[1])] = f[0]
		}
	}
	for _, b := range []string{"etcd", "etcdctl", "etcdutl"} {
		if got[b] != rel.SHA256[b] {
			add("binary-sha256", "/usr/local/bin/%s sha256 %q, release has %s", b, got[b], rel.SHA256[b])
		}
	}

	// etcd runs, as etcd:etcd
	if a := r.Section("etcd-active").Text(); a != "active" {
		add("etcd-active", "systemctl is-active etcd = %q; etcd journal:\n%s", a, indent(r.Section("etcd-journal").Text()))
	}
	ps := r.Section("ps-etcd").Lines
	running := 0
	for _, l := range ps[min(1, len(ps)):] {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		running++
		if f[0] != "etcd" || f[1] != "etcd" {
			add("etcd-process-user", "etcd runs as %s:%s: %s", f[0], f[1], l)
		}
	}
	if running == 0 {
		add("etcd-process", "no etcd process (ps -C etcd):\n%s", indent(strings.Join(ps, "\n")))
	}
	return fs
}

func isKeyFile(base string) bool {
	return strings.HasSuffix(base, ".key") || strings.HasSuffix(base, "-key.pem") || strings.HasSuffix(base, "_key.pem")
}

// Steps returns the etcdimg: lines of the first-boot install, as logged.
func Steps(r *Report) []string { return r.Section("etcdimg-steps").Lines }

// The seed's install script logs "etcdimg: <step> <seconds>s".
var stepRE = regexp.MustCompile(`etcdimg: ([a-z-]+) ([0-9]+(?:\.[0-9]+)?)s$`)

// StepTimes is "mount 0.1s checksum 0.9s ..." from the step lines, in the
// order they ran (each step once, though two logs carry it).
func StepTimes(r *Report) string {
	var out []string
	seen := map[string]bool{}
	for _, l := range Steps(r) {
		if m := stepRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1]+" "+m[2]+"s")
		}
	}
	return strings.Join(out, "  ")
}

// IfaceNames lists the non-loopback interfaces in `ip -o link`.
func IfaceNames(r *Report) []string {
	var out []string
	for _, l := range r.Section("ip-link").Lines {
		f := strings.Fields(l)
		if len(f) >= 2 {
			name := strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")
			if name != "lo" {
				out = append(out, name)
			}
		}
	}
	return out
}

// Renderer extracts cloud-init's "Selected renderer 'X'".
func Renderer(r *Report) string {
	for _, l := range r.Section("network-renderer").Lines {
		if i := strings.Index(l, "Selected renderer '"); i >= 0 {
			rest := l[i+len("Selected renderer '"):]
			return strings.SplitN(rest, "'", 2)[0]
		}
	}
	return ""
}

func contains(a []string, s string) bool {
	for _, x := range a {
		if x == s {
			return true
		}
	}
	return false
}
