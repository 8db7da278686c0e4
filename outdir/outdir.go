// Package outdir is the output contract of `etcdimg build`: the folder it
// writes and the two files every later step reads — cluster.json (what was
// built: nodes, URLs, instance-ids, seeds, where the PKI is) and etcdctl.env
// (ETCDCTL_* for the operator). build writes them; attach, status, the
// day-2 commands and the e2e harness read them through Read, never by hand.
package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcdimg/etcdimg/internal/durable"
)

// SchemaVersion is the version of cluster.json this package writes and the
// only one Read accepts: a reader must refuse a file it does not understand
// rather than guess at it.
const SchemaVersion = 1

// File names inside an output folder.
const (
	// MarkerFile marks a folder etcdimg created, so a rebuild may overwrite
	// it and a typo in -o cannot clobber someone else's files.
	MarkerFile  = ".etcdimg-output"
	ClusterFile = "cluster.json"
	EtcdctlFile = "etcdctl.env"
	// KubeadmFile is the ClusterConfiguration etcd.external snippet of a
	// kubeadm external etcd (kubeadm.enabled).
	KubeadmFile = "kubeadm-etcd.yaml"
)

// DefaultArch is the nodes' machine when cluster.json names none (every
// cluster.json written before etcd.arch existed).
const DefaultArch = "amd64"

// Seed formats.
const (
	FormatISO  = "iso"
	FormatVFAT = "vfat"
)

// Cluster is DIR/cluster.json.
type Cluster struct {
	SchemaVersion int    `json:"schemaVersion"`
	Name          string `json:"name"`
	TLS           bool   `json:"tls"`
	Version       string `json:"etcdVersion"`
	Runtime       string `json:"runtime"`
	// Arch is etcd.arch when it is not DefaultArch (see MachineArch).
	Arch string `json:"arch,omitempty"`
	// The etcd user's ids, which every file etcd owns on the nodes carries.
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Nodes []Node `json:"nodes"`
	// PKIDir is the absolute path of the cluster's PKI folder; empty without TLS.
	PKIDir  string   `json:"pkiDir,omitempty"`
	Etcdctl *Etcdctl `json:"etcdctl,omitempty"`

	dir string // the folder it was read from
}

// Node is one node of cluster.json.
type Node struct {
	Name       string   `json:"name"`
	FQDN       string   `json:"fqdn"`
	IP         string   `json:"ip"`
	MAC        string   `json:"mac,omitempty"`
	ClientURLs []string `json:"clientURLs"`
	PeerURLs   []string `json:"peerURLs"`
	InstanceID string   `json:"instanceID"`
	// The seed's file name beside cluster.json: ISO with --format iso,
	// VFAT with --format vfat; both empty when no seed was built.
	ISO  string `json:"iso,omitempty"`
	VFAT string `json:"vfat,omitempty"`
}

// Etcdctl is the admin client certificate, with absolute paths.
type Etcdctl struct {
	CACert string `json:"cacert"`
	Cert   string `json:"cert"`
	Key    string `json:"key"`
}

// MachineArch is the nodes' machine: "amd64" or "arm64".
func (c *Cluster) MachineArch() string {
	if c.Arch == "" {
		return DefaultArch
	}
	return c.Arch
}

// Dir is the folder the cluster was read from (empty for one not read).
func (c *Cluster) Dir() string { return c.dir }

// Node returns the node named name.
func (c *Cluster) Node(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// Endpoints are the nodes' client endpoints, in spec order.
func (c *Cluster) Endpoints() []string {
	out := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		if ep := n.Endpoint(); ep != "" {
			out = append(out, ep)
		}
	}
	return out
}

// Seed is the node's seed image (a path relative to cluster.json's folder)
// and its format; empty when none was built.
func (n Node) Seed() (name, format string) {
	switch {
	case n.ISO != "":
		return n.ISO, FormatISO
	case n.VFAT != "":
		return n.VFAT, FormatVFAT
	}
	return "", ""
}

// Endpoint is the client URL to reach the node from outside: the one on
// the node's IP (loopback URLs are useless from another machine).
func (n Node) Endpoint() string {
	for _, u := range n.ClientURLs {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() == n.IP {
			return u
		}
	}
	for _, u := range n.ClientURLs {
		if pu, err := url.Parse(u); err == nil {
			if ip := net.ParseIP(pu.Hostname()); ip != nil && ip.IsLoopback() || pu.Hostname() == "localhost" {
				continue
			}
			return u
		}
	}
	return ""
}

// Write writes DIR/cluster.json and DIR/etcdctl.env durably.
func Write(dir string, c *Cluster) error {
	c.SchemaVersion = SchemaVersion
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteBatch([]durable.File{
		{Path: filepath.Join(dir, ClusterFile), Data: append(b, '\n'), Mode: 0o644},
		{Path: filepath.Join(dir, EtcdctlFile), Data: []byte(EtcdctlEnv(c)), Mode: 0o644},
	})
}

// EtcdctlEnv is the etcdctl.env for c: every node's endpoint and, with TLS,
// the admin certificate.
func EtcdctlEnv(c *Cluster) string {
	env := "# Written by etcdimg: `set -a; . ./etcdctl.env; set +a; etcdctl endpoint health`\nETCDCTL_ENDPOINTS=" +
		strings.Join(c.Endpoints(), ",") + "\n"
	if c.Etcdctl != nil {
		env += "ETCDCTL_CACERT=" + c.Etcdctl.CACert + "\nETCDCTL_CERT=" + c.Etcdctl.Cert + "\nETCDCTL_KEY=" + c.Etcdctl.Key + "\n"
	}
	return env
}

// Read reads and checks DIR/cluster.json. It refuses a schema version it
// does not know, and a file whose nodes lack what every reader relies on.
func Read(dir string) (*Cluster, error) {
	p := filepath.Join(dir, ClusterFile)
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file; is %s an output folder of etcdimg build?", p, dir)
		}
		return nil, err
	}
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	switch {
	case c.SchemaVersion == 0:
		return nil, fmt.Errorf("%s: no schemaVersion: written by an older etcdimg; run etcdimg build again", p)
	case c.SchemaVersion != SchemaVersion:
		return nil, fmt.Errorf("%s: schemaVersion %d is not understood by this etcdimg (it reads %d); use the etcdimg that wrote it", p, c.SchemaVersion, SchemaVersion)
	case len(c.Nodes) == 0:
		return nil, fmt.Errorf("%s: lists no nodes", p)
	case c.Arch != "" && c.Arch != "amd64" && c.Arch != "arm64":
		return nil, fmt.Errorf("%s: arch %q is not amd64 or arm64", p, c.Arch)
	}
	for i, n := range c.Nodes {
		switch {
		case n.Name == "":
			return nil, fmt.Errorf("%s: nodes[%d]: no name", p, i)
		case net.ParseIP(n.IP) == nil:
			return nil, fmt.Errorf("%s: nodes[%d] (%s): bad ip %q", p, i, n.Name, n.IP)
		case n.Endpoint() == "":
			return nil, fmt.Errorf("%s: nodes[%d] (%s): no usable client URL in %v", p, i, n.Name, n.ClientURLs)
		}
	}
	// No admin certificate check here: a build with --no-iso makes no PKI,
	// and attach needs none. Whoever opens a TLS client checks for it.
	c.dir = dir
	return &c, nil
}

// CheckDir refuses a folder that exists, is not empty and was not made by
// etcdimg, unless forced.
func CheckDir(dir string, force bool) error {
	if dir == "" {
		return errors.New("no output folder; pass -o DIR")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output folder: %v", err)
	}
	if force {
		return nil
	}
	// A folder holding only etcdimg's temporary files is what a build
	// killed before it wrote the marker leaves: it is etcdimg's.
	foreign := false
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), durable.TempInfix) {
			foreign = true
		}
	}
	if !foreign {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err == nil {
		return nil
	}
	return fmt.Errorf("refusing to write into %s: it is not empty and was not created by etcdimg; choose another folder or pass --force", dir)
}

// WriteMarker marks dir as etcdimg's.
func WriteMarker(dir string) error {
	return durable.WriteFile(filepath.Join(dir, MarkerFile), []byte("This folder is written by etcdimg build; it may be rebuilt at any time.\n"), 0o644)
}
