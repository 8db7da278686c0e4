package model

import (
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/etcdimg/etcdimg/report"
	"github.com/etcdimg/etcdimg/spec"
)

// Extra is the operator's own part of every node's user-data: cloud-config
// keys merged with etcdimg's (see README "Extra cloud-config") and extra
// files for write_files.
type Extra struct {
	// CloudConfig holds the checked keys, values as plain Go values
	// (json.Number made int64 or float64) ready to marshal. nil: none.
	CloudConfig map[string]any
	Files       []File
}

// File is one extra write_files entry.
type File struct {
	Path, Content, Owner, Permissions string
	Defer                             bool
}

// AppendedKeys are cloud-config lists etcdimg writes itself: the operator's
// entries are appended after etcdimg's, in their order.
var AppendedKeys = []string{"bootcmd", "runcmd", "users"}

// ownedKeys are keys etcdimg sets itself, or that would undo what it sets;
// the operator setting them is an error, with the way to get what they
// wanted.
var ownedKeys = map[string]string{
	"hostname":            "etcdimg sets it to the node's name (nodes[].name)",
	"fqdn":                "etcdimg sets it from nodes[].name and domain",
	"preserve_hostname":   "etcdimg sets the node's hostname",
	"manage_etc_hosts":    "etcdimg writes /etc/hosts with every member",
	"ssh_deletekeys":      "etcdimg keeps the node's SSH host keys when a newer seed of it is a new instance",
	"write_files":         "use files: [{path, content, owner, permissions, defer}], which are checked against the paths etcdimg writes",
	"ssh_authorized_keys": "use access.sshAuthorizedKeys",
	"ssh_pwauth":          "SSH password logins stay as the image has them, or off with access.admin.passwordHash",
	"password":            "no plaintext passwords: use access.admin.passwordHash",
	"chpasswd":            "no plaintext passwords: use access.admin.passwordHash",
}

// shape is the schema-level check of a key etcdimg passes through: the
// subset of cloud-init's schema (the same in 22.4 and 25.1) that these keys
// use. The generator tests run both real schemas on a golden using each.
type shape struct {
	kind   string            // string, bool, int, list, object, command, package
	elem   *shape            // list items; object values when fields is nil
	fields map[string]*shape // known keys of an object
}

var (
	sString  = &shape{kind: "string"}
	sBool    = &shape{kind: "bool"}
	sStrings = &shape{kind: "list", elem: sString}
	sCommand = &shape{kind: "command"} // a shell string or an argv list
	sMirror  = &shape{kind: "list", elem: &shape{kind: "object", fields: map[string]*shape{
		"arches": sStrings, "uri": sString, "search": sStrings, "search_dns": sBool,
	}}}
)

// passedKeys are the keys etcdimg knows and passes through unchanged.
var passedKeys = map[string]*shape{
	"bootcmd": {kind: "list", elem: sCommand},
	"runcmd":  {kind: "list", elem: sCommand},
	"users":   {kind: "list", elem: &shape{kind: "user"}},
	"ntp": {kind: "object", fields: map[string]*shape{
		"enabled": sBool, "ntp_client": sString, "servers": sStrings, "pools": sStrings, "peers": sStrings, "allow": sStrings,
	}},
	"timezone": sString,
	"locale":   sString,
	"apt": {kind: "object", fields: map[string]*shape{
		"proxy": sString, "http_proxy": sString, "https_proxy": sString, "ftp_proxy": sString,
		"primary": sMirror, "security": sMirror, "preserve_sources_list": sBool, "conf": sString,
		"sources": {kind: "object", elem: &shape{kind: "object", fields: map[string]*shape{
			"source": sString, "keyid": sString, "key": sString, "keyserver": sString, "filename": sString,
		}}},
	}},
	"packages":                   {kind: "list", elem: &shape{kind: "package"}},
	"package_update":             sBool,
	"package_upgrade":            sBool,
	"package_reboot_if_required": sBool,
	"ca_certs":                   {kind: "object", fields: map[string]*shape{"trusted": sStrings, "remove_defaults": sBool}},
	"final_message":              sString,
}

var (
	ownerRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$`)
	permRE  = regexp.MustCompile(`^0?[0-7]{3}$`)
)

// maxExtraFile keeps a file of the spec from swelling every seed (and
// cloud-init's memory): user-data is read in one piece.
const maxExtraFile = 1 << 20

func (v *validator) extra(c *spec.Cluster, m *Cluster) Extra {
	var x Extra
	if len(c.CloudConfig) > 0 {
		x.CloudConfig = map[string]any{}
	}
	keys := make([]string, 0, len(c.CloudConfig))
	for k := range c.CloudConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := report.Join("cloudConfig", k)
		val := c.CloudConfig[k]
		if why, owned := ownedKeys[k]; owned {
			v.errf(p, "etcdimg owns this key: %s", why)
			continue
		}
		s, ok := passedKeys[k]
		if !ok {
			v.errf(p, "not a cloud-config key etcdimg passes through; known: %s (and files for write_files)", strings.Join(sortedKeys(passedKeys), ", "))
			continue
		}
		if val == nil {
			continue
		}
		if v.shape(p, val, s, m) {
			x.CloudConfig[k] = plain(val)
		}
	}
	if _, ok := x.CloudConfig["packages"]; ok || c.CloudConfig["package_upgrade"] == true || c.CloudConfig["package_update"] == true {
		v.warnf("cloudConfig", "packages need a reachable mirror (cloudConfig.apt): on an offline node cloud-init's package module fails, which cloud-init 25.1 reports as degraded")
	}
	seen := map[string]string{}
	for i, f := range c.Files {
		p := report.Index("files", i)
		mf := File{Path: f.Path, Content: f.Content, Owner: f.Owner, Permissions: f.Permissions, Defer: f.Defer}
		if mf.Owner == "" {
			mf.Owner = "root:root"
		}
		if mf.Permissions == "" {
			mf.Permissions = "0644"
		}
		ok := true
		if v.absPath(p+".path", f.Path) {
			if why := m.OwnedPath(f.Path); why != "" {
				v.errf(p+".path", "%s is etcdimg's: %s", f.Path, why)
				ok = false
			} else if other, dup := seen[f.Path]; dup {
				v.errf(p+".path", "%s is also the path of %s", f.Path, other)
				ok = false
			}
			seen[f.Path] = p
		} else {
			ok = false
		}
		if !ownerRE.MatchString(mf.Owner) {
			v.errf(p+".owner", "%q is not USER or USER:GROUP", mf.Owner)
			ok = false
		}
		if !permRE.MatchString(mf.Permissions) {
			v.errf(p+".permissions", "%q is not an octal mode such as \"0644\" (as a string: YAML would read 0644 as a number)", mf.Permissions)
			ok = false
		} else if len(mf.Permissions) == 3 {
			mf.Permissions = "0" + mf.Permissions
		}
		if len(f.Content) > maxExtraFile {
			v.errf(p+".content", "%d bytes; files on a seed are limited to %d (user-data is read in one piece)", len(f.Content), maxExtraFile)
			ok = false
		}
		if ok {
			x.Files = append(x.Files, mf)
		}
	}
	return x
}

// OwnedPath says why etcdimg writes path itself (or a folder above it), or
// "" when it does not. generator's tests hold every path it writes to this.
func (c *Cluster) OwnedPath(p string) string {
	p = path.Clean(p)
	exact := map[string]string{
		"/etc/hosts":                        "the members' names (domain, nodes)",
		"/etc/systemd/system/etcd.service":  "etcd's unit",
		"/usr/local/sbin/etcdimg-firstboot": "the first-boot script",
		"/usr/local/bin/etcd":               "the release's binary",
		"/usr/local/bin/etcdctl":            "the release's binary",
		"/usr/local/bin/etcdutl":            "the release's binary",
	}
	if sp, ok := c.Etcd.Runtime.(*StaticPodRuntime); ok && sp.ManifestPath != "" {
		exact[sp.ManifestPath] = "the static pod manifest (etcd.staticPod.manifestPath)"
		if c.Kubeadm != nil {
			exact[KubeletDropInPath] = "kubelet's drop-in (kubeadm.enabled)"
			exact[KubeletConfigPath] = "kubelet's configuration (kubeadm.enabled)"
		}
	}
	if why, ok := exact[p]; ok {
		return why
	}
	// Files etcdimg adds for its own services and cloud-init settings carry
	// its name: scripts, units and drop-ins, cloud.cfg.d snippets.
	for _, dir := range []string{"/usr/local/sbin", "/etc/systemd/system", "/etc/cloud/cloud.cfg.d"} {
		if strings.HasPrefix(p, dir+"/") && strings.Contains(path.Base(p), "etcdimg") {
			return "files named etcdimg… under " + dir + " are its own"
		}
	}
	for _, d := range []struct{ dir, why string }{
		{"/etc/etcd", "etcdctl.env and etcd's configuration"},
		{"/etc/etcdimg", "etcdimg's staged files"},
		{c.TLS.Dir, "etcd's certificates (tls.dir)"},
		{c.Etcd.DataDir, "etcd's data (etcd.dataDir)"},
	} {
		if d.dir != "" && (p == d.dir || strings.HasPrefix(p, strings.TrimSuffix(d.dir, "/")+"/")) {
			return d.why + " under " + d.dir
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// shape checks val against s and reports each mismatch at its path.
func (v *validator) shape(p string, val any, s *shape, m *Cluster) bool {
	ok := true
	bad := func(want string) bool {
		v.errf(p, "expected %s, got %s", want, spec.JSONKind(val))
		return false
	}
	switch s.kind {
	case "string":
		if _, is := val.(string); !is {
			return bad("a string")
		}
	case "bool":
		if _, is := val.(bool); !is {
			return bad("true or false")
		}
	case "list":
		l, is := val.([]any)
		if !is {
			return bad("a list")
		}
		for i, e := range l {
			ok = v.shape(report.Index(p, i), e, s.elem, m) && ok
		}
	case "object":
		o, is := val.(map[string]any)
		if !is {
			return bad("an object")
		}
		for _, k := range sortedKeys(o) {
			kp := report.Join(p, k)
			es := s.elem
			if s.fields != nil {
				es = s.fields[k]
			}
			if es == nil {
				v.errf(kp, "not a key etcdimg checks here; known: %s", strings.Join(sortedKeys(s.fields), ", "))
				ok = false
				continue
			}
			ok = v.shape(kp, o[k], es, m) && ok
		}
	case "command":
		switch c := val.(type) {
		case string:
		case []any:
			for i, a := range c {
				if _, is := a.(string); !is {
					v.errf(report.Index(p, i), "expected a string (one argv word), got %s", spec.JSONKind(a))
					ok = false
				}
			}
		default:
			return bad("a shell command string or a list of argv strings")
		}
	case "package":
		switch c := val.(type) {
		case string:
		case []any:
			if len(c) != 2 {
				return bad("a package name or [name, version]")
			}
			for i, a := range c {
				if _, is := a.(string); !is {
					v.errf(report.Index(p, i), "expected a string, got %s", spec.JSONKind(a))
					ok = false
				}
			}
		default:
			return bad("a package name or [name, version]")
		}
	case "user":
		return v.extraUser(p, val, m)
	default:
		panic("model: unknown shape " + s.kind)
	}
	return ok
}

// extraUser checks one more users entry: a plain account with keys. Its
// name may not be one etcdimg makes, and passwords follow access's rule.
func (v *validator) extraUser(p string, val any, m *Cluster) bool {
	u, is := val.(map[string]any)
	if !is {
		v.errf(p, "expected an object with a name, got %s (\"default\" is always in etcdimg's list)", spec.JSONKind(val))
		return false
	}
	ok := true
	name, _ := u["name"].(string)
	switch {
	case !posixNameRE.MatchString(name):
		v.errf(report.Join(p, "name"), "required: a user name (lower-case letters, digits, '_' and '-')")
		ok = false
	case name == m.Etcd.User.Name || reservedUsers[name] || (m.Access.Admin != nil && name == m.Access.Admin.Name):
		v.errf(report.Join(p, "name"), "%q is a user etcdimg (or the image) makes already", name)
		ok = false
	}
	fields := map[string]*shape{
		"name": sString, "gecos": sString, "groups": sStrings, "shell": sString, "sudo": sString,
		"lock_passwd": sBool, "system": sBool, "homedir": sString, "primary_group": sString, "uid": {kind: "int"},
	}
	for _, k := range sortedKeys(u) {
		kp := report.Join(p, k)
		switch k {
		case "ssh_authorized_keys":
			keys, is := u[k].([]any)
			if !is {
				v.errf(kp, "expected a list of SSH public keys, got %s", spec.JSONKind(u[k]))
				ok = false
				continue
			}
			var ks []string
			for i, e := range keys {
				s, is := e.(string)
				if !is {
					v.errf(report.Index(kp, i), "expected a string, got %s", spec.JSONKind(e))
					ok = false
					continue
				}
				ks = append(ks, s)
			}
			if n := len(v.sshKeys(kp, ks)); n != len(keys) {
				ok = false
			}
		case "hashed_passwd":
			if s, _ := u[k].(string); !isCryptHash(s) {
				v.errf(kp, "not a crypt(3) hash: give the output of `mkpasswd -m yescrypt`, never a plaintext password")
				ok = false
			}
		case "passwd", "plain_text_passwd":
			v.errf(kp, "not passed through: use hashed_passwd with a crypt(3) hash")
			ok = false
		case "uid":
			if n, is := u[k].(json.Number); !is || strings.ContainsAny(n.String(), ".eE-") {
				v.errf(kp, "expected a non-negative integer, got %s", spec.JSONKind(u[k]))
				ok = false
			}
		default:
			s, known := fields[k]
			if !known {
				v.errf(kp, "not a user key etcdimg passes through; known: %s, ssh_authorized_keys, hashed_passwd", strings.Join(sortedKeys(fields), ", "))
				ok = false
				continue
			}
			ok = v.shape(kp, u[k], s, m) && ok
		}
	}
	return ok
}

// plain turns decoded JSON into values YAML marshals as cloud-init reads
// them: json.Number (a string type) would come out quoted.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	}
	return v
}
