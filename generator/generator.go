// Package generator renders, per node, the cloud-init files and the list of
// files a seed ISO carries. It is a pure function of the validated model, the
// release and the node's certificates: no clock, no randomness, no disk
// reads, so equal inputs give byte-equal outputs and goldens stay stable.
package generator

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/pki"
	"github.com/etcdimg/etcdimg/release"
)

// SeedDir is the folder on the ISO that holds what cloud-init does not read
// itself: the release tarball and the node's certificates.
const SeedDir = "etcdimg"

// NodePKI is one node's share of the PKI: the content of each file of
// pki.NodeFiles, by file name. The CA key and the admin key are never part
// of it.
type NodePKI map[string][]byte

// SeedFile is one file on a seed ISO; exactly one of Data and SourcePath is set.
type SeedFile struct {
	Path       string
	Mode       fs.FileMode
	Data       []byte
	SourcePath string
}

// NodeFiles is the cloud-init side of one node.
type NodeFiles struct {
	Node          model.Node
	UserData      []byte
	MetaData      []byte
	NetworkConfig []byte
}

// ReleaseFor names the release the seeds carry. The name on the ISO is
// always upstream's, whatever the local file is called, so rendering needs
// no tarball and matches what build puts on the ISO.
func ReleaseFor(c *model.Cluster) *release.Release {
	dir := release.DirName(c.Etcd.Version, c.Etcd.Arch)
	return &release.Release{Version: c.Etcd.Version, Arch: c.Etcd.Arch, Name: dir + ".tar.gz", Dir: dir, SHA256: c.Etcd.Release.SHA256}
}

// Render renders the cloud-init files of every node of c.
func Render(c *model.Cluster) ([]NodeFiles, error) {
	rel := ReleaseFor(c)
	out := make([]NodeFiles, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		nf, err := RenderNode(c, n, rel)
		if err != nil {
			return nil, err
		}
		out = append(out, nf)
	}
	return out, nil
}

// RenderNode renders one node's user-data, meta-data and network-config.
func RenderNode(c *model.Cluster, n model.Node, rel *release.Release) (NodeFiles, error) {
	ud, err := userData(c, n, rel)
	if err != nil {
		return NodeFiles{}, fmt.Errorf("render %s: user-data: %w", n.Name, err)
	}
	md, err := marshal(metaData{InstanceID: c.InstanceID(n), LocalHostname: n.Name})
	if err != nil {
		return NodeFiles{}, fmt.Errorf("render %s: meta-data: %w", n.Name, err)
	}
	nc, err := marshal(networkConfig(c, n))
	if err != nil {
		return NodeFiles{}, fmt.Errorf("render %s: network-config: %w", n.Name, err)
	}
	return NodeFiles{Node: n, UserData: ud, MetaData: md, NetworkConfig: nc}, nil
}

// Seed lists every file of a node's ISO: cloud-init's three in the root,
// then the release (streamed from tarball, the local file verified against
// rel.SHA256 by the caller) and, with TLS, the node's own certificates.
func Seed(c *model.Cluster, nf NodeFiles, rel *release.Release, tarball string, p NodePKI) ([]SeedFile, error) {
	seed := []SeedFile{
		{Path: "user-data", Mode: 0o444, Data: nf.UserData},
		{Path: "meta-data", Mode: 0o444, Data: nf.MetaData},
		{Path: "network-config", Mode: 0o444, Data: nf.NetworkConfig},
		{Path: path.Join(SeedDir, rel.Name), Mode: 0o444, SourcePath: tarball},
		{Path: path.Join(SeedDir, rel.Name+".sha256"), Mode: 0o444, Data: []byte(rel.SHA256 + "  " + rel.Name + "\n")},
	}
	if r := c.Restore; r != nil && c.Restores(nf.Node) {
		// The snapshot holds every key of the cluster: owner-only, like keys.
		seed = append(seed,
			SeedFile{Path: RestoreSeedPath, Mode: 0o400, SourcePath: r.Path},
			SeedFile{Path: RestoreSeedPath + ".sha256", Mode: 0o444, Data: []byte(r.SHA256 + "  snapshot.db\n")})
	}
	if c.TLS.Enabled {
		for _, f := range pki.NodeFiles() {
			// The caller's bug, not the spec's: every node of a TLS
			// cluster has its certificates.
			data, ok := p[f.Name]
			if !ok {
				return nil, fmt.Errorf("seed %s: tls is on but the node has no %s", nf.Node.Name, f.Name)
			}
			seed = append(seed, SeedFile{Path: path.Join(SeedDir, "pki", f.Name), Mode: f.SeedMode, Data: data})
		}
	}
	return seed, nil
}
