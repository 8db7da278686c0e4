package generator

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/pki"
	"github.com/etcdimg/etcdimg/release"
	yaml "go.yaml.in/yaml/v3"
)

// cloudConfig is the subset of #cloud-config etcdimg writes. Field order is
// the order in the file.
type cloudConfig struct {
	Hostname string `yaml:"hostname"`
	FQDN     string `yaml:"fqdn"`
	// We write the whole /etc/hosts; true would let cloud-init rewrite it
	// after write_files ran.
	ManageEtcHosts bool `yaml:"manage_etc_hosts"`
	// false: a newer seed of the node (a new instance) re-runs the ssh
	// module, which would otherwise give the node new host keys.
	SSHDeleteKeys bool       `yaml:"ssh_deletekeys"`
	Bootcmd       [][]string `yaml:"bootcmd"`
	Users         []any      `yaml:"users"`
	// SSHAuthorizedKeys at the top level are the image's default user's.
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty"`
	// SSHPwauth false turns SSH password logins off when an admin has a
	// console password: the hash is for the console, not the network.
	SSHPwauth  *bool       `yaml:"ssh_pwauth,omitempty"`
	WriteFiles []writeFile `yaml:"write_files"`
	Runcmd     [][]string  `yaml:"runcmd"`
}

type user struct {
	Name         string `yaml:"name"`
	Gecos        string `yaml:"gecos"`
	UID          int    `yaml:"uid"`
	PrimaryGroup string `yaml:"primary_group"`
	Homedir      string `yaml:"homedir"`
	NoCreateHome bool   `yaml:"no_create_home"`
	Shell        string `yaml:"shell"`
	System       bool   `yaml:"system"`
	LockPasswd   bool   `yaml:"lock_passwd"`
}

// loginUser is the admin user of access.admin. lock_passwd stays true
// unless a hash is given, so no account ever has an empty password.
type loginUser struct {
	Name              string   `yaml:"name"`
	Gecos             string   `yaml:"gecos"`
	Groups            []string `yaml:"groups"`
	Shell             string   `yaml:"shell"`
	Sudo              string   `yaml:"sudo"`
	LockPasswd        bool     `yaml:"lock_passwd"`
	HashedPasswd      string   `yaml:"hashed_passwd,omitempty"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty"`
}

// writeFile: permissions is a string so YAML never reads 0644 as a number
// (an unquoted 640 becomes mode 1200).
type writeFile struct {
	Path        string `yaml:"path"`
	Owner       string `yaml:"owner"`
	Permissions string `yaml:"permissions"`
	Content     string `yaml:"content"`
	// Defer: written after users exist (cloud-init's write_files_deferred),
	// for extra files owned by a user cloud-init creates.
	Defer bool `yaml:"defer,omitempty"`
}

func userData(c *model.Cluster, n model.Node, rel *release.Release, p NodePKI) ([]byte, error) {
	u := c.Etcd.User
	runtimeFile, err := runtimeFile(c, n, appliedDigest(rel, p))
	if err != nil {
		return nil, err
	}
	script, err := firstBootScript(c, n, rel)
	if err != nil {
		return nil, err
	}
	files := []writeFile{
		{Path: "/etc/hosts", Owner: "root:root", Permissions: "0644", Content: hostsFor(c, n)},
		runtimeFile,
		{Path: FirstBootPath, Owner: "root:root", Permissions: "0755", Content: script},
	}
	kf, err := KubeletFiles(c, n)
	if err != nil {
		return nil, err
	}
	files = append(files, kf...)
	if !c.IsBootstrap(n) {
		jf, err := joinFiles(c, n)
		if err != nil {
			return nil, err
		}
		files = append(files, jf...)
	}
	maint, err := maintenanceFiles(c, n)
	if err != nil {
		return nil, err
	}
	files = append(files, maint...)
	// Also without TLS: the README's `. /etc/etcd/etcdctl.env; etcdctl
	// endpoint health` must work on every node (the e2e's plain-HTTP
	// cluster found it missing there).
	files = append(files, writeFile{
		Path: "/etc/etcd/etcdctl.env", Owner: "root:root", Permissions: "0644", Content: etcdctlEnv(c, n),
	})
	files = append(files, seedCheckFiles()...)
	cc := cloudConfig{
		Hostname:       n.Name,
		FQDN:           n.FQDN,
		ManageEtcHosts: false,
		// The users module cannot give a group a fixed GID, so the group is
		// made first, every boot, only when missing. Values travel as argv,
		// never pasted into shell code.
		Bootcmd: [][]string{{
			"sh", "-c", `getent group "$1" >/dev/null || groupadd --system --gid "$2" "$1"`,
			"etcdimg-group", u.Group, strconv.Itoa(u.GID),
		}},
		// "default" keeps the image's login user, which a users list
		// otherwise drops.
		Users: []any{"default", user{
			Name: u.Name, Gecos: "etcd key-value store", UID: u.UID, PrimaryGroup: u.Group,
			Homedir: c.Etcd.DataDir, NoCreateHome: true, Shell: "/usr/sbin/nologin",
			System: true, LockPasswd: true,
		}},
		SSHAuthorizedKeys: c.Access.DefaultUserKeys,
		WriteFiles:        files,
		Runcmd:            [][]string{{FirstBootPath}},
	}
	if a := c.Access.Admin; a != nil {
		lu := loginUser{
			Name: a.Name, Gecos: "etcdimg admin", Groups: []string{"adm", "sudo", "systemd-journal"}, Shell: "/bin/bash",
			// Key-only admins have no password to type at sudo's prompt.
			Sudo: "ALL=(ALL) NOPASSWD:ALL", LockPasswd: true, SSHAuthorizedKeys: a.Keys,
		}
		if a.PasswordHash != "" {
			lu.Sudo, lu.LockPasswd, lu.HashedPasswd = "ALL=(ALL) ALL", false, a.PasswordHash
			off := false
			cc.SSHPwauth = &off
		}
		cc.Users = append(cc.Users, lu)
	}
	for _, f := range c.Extra.Files {
		cc.WriteFiles = append(cc.WriteFiles, writeFile{Path: f.Path, Owner: f.Owner, Permissions: f.Permissions, Content: f.Content, Defer: f.Defer})
	}
	var doc yaml.Node
	if err := doc.Encode(cc); err != nil {
		return nil, err
	}
	if err := mergeCloudConfig(&doc, c.Extra.CloudConfig); err != nil {
		return nil, err
	}
	body, err := marshal(&doc)
	if err != nil {
		return nil, err
	}
	return append([]byte("#cloud-config\n"), body...), nil
}

// mergeCloudConfig adds the spec's cloudConfig to etcdimg's document: the
// lists etcdimg writes (model.AppendedKeys) get the operator's entries after
// its own; every other key is added after etcdimg's, in sorted order. model
// has refused every key etcdimg sets, so nothing is overridden.
func mergeCloudConfig(doc *yaml.Node, extra map[string]any) error {
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("cloud-config is a %v node, not a mapping", doc.Kind)
	}
	index := map[string]*yaml.Node{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		index[doc.Content[i].Value] = doc.Content[i+1]
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var val yaml.Node
		if err := val.Encode(extra[k]); err != nil {
			return fmt.Errorf("cloudConfig.%s: %w", k, err)
		}
		if ours, ok := index[k]; ok {
			if !slices.Contains(model.AppendedKeys, k) || ours.Kind != yaml.SequenceNode || val.Kind != yaml.SequenceNode {
				return fmt.Errorf("cloudConfig.%s: etcdimg writes this key and model let it through", k)
			}
			ours.Content = append(ours.Content, val.Content...)
			continue
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &val)
	}
	return nil
}

// runtimeFile is what starts etcd: a unit running the binary or a
// container, or a static pod manifest staged for the first-boot script.
func runtimeFile(c *model.Cluster, n model.Node, applied string) (writeFile, error) {
	f := writeFile{Path: StagedUnitPath, Owner: "root:root", Permissions: "0644"}
	var err error
	switch rt := c.Etcd.Runtime.(type) {
	case *model.SystemdRuntime:
		f.Content, err = Unit(c, n)
	case *model.ContainerRuntime:
		f.Content, err = ContainerUnit(c, rt, n)
	case *model.StaticPodRuntime:
		var manifest []byte
		manifest, err = StaticPodManifest(c, rt, n, applied)
		f.Path, f.Content = StagedManifestPath, string(manifest)
	default:
		// Only a model built by model.Validate reaches here.
		panic(fmt.Sprintf("generator: runtime %T has no renderer", rt))
	}
	return f, err
}

// hosts lists every member by IP, FQDN and short name, as the blog's nodes
// have, so peers resolve each other without DNS.
func hosts(c *model.Cluster) string {
	var b strings.Builder
	b.WriteString("# Written by etcdimg.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\n")
	for _, n := range c.Nodes {
		if n.FQDN != n.Name {
			fmt.Fprintf(&b, "%s\t%s %s\n", n.IP, n.FQDN, n.Name)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", n.IP, n.Name)
		}
	}
	return b.String()
}

// etcdctlEnv lets root on the node run etcdctl against the local member
// with the node's healthcheck client certificate.
func etcdctlEnv(c *model.Cluster, n model.Node) string {
	// The loopback URL when etcd listens there: it survives an IP change.
	urls := c.ListenClientURLs(n)
	ep := urls[len(urls)-1]
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by etcdimg: `set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl endpoint health`\nETCDCTL_ENDPOINTS=%s\n", ep)
	for _, f := range pki.NodeFiles() {
		if f.Env != "" && c.TLS.Enabled {
			fmt.Fprintf(&b, "%s=%s\n", f.Env, VMPKIFile(c, f.Name))
		}
	}
	return b.String()
}
