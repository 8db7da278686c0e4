// Package generator renders, per node, the cloud-init files and the list of
// files a seed ISO carries. It is a pure function of the validated model, the
// release and the node's certificates: no clock, no randomness, no disk
// reads, so equal inputs give byte-equal outputs and goldens stay stable.
package generator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
	Node model.Node
	// InstanceID is the node's cloud-init instance-id, as meta-data has it.
	InstanceID    string
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

// Render renders the cloud-init files of every node of c, without the PKI:
// with TLS, the instance-ids lack the certificates' share (see
// InstanceID); build's are the ones the seeds carry.
func Render(c *model.Cluster) ([]NodeFiles, error) {
	rel := ReleaseFor(c)
	out := make([]NodeFiles, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		nf, err := RenderNode(c, n, rel, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, nf)
	}
	return out, nil
}

// RenderNode renders one node's user-data, meta-data and network-config;
// p is the node's share of the PKI (nil without TLS, or when unknown).
func RenderNode(c *model.Cluster, n model.Node, rel *release.Release, p NodePKI) (NodeFiles, error) {
	ud, err := userData(c, n, rel, p)
	if err != nil {
		return NodeFiles{}, fmt.Errorf("render %s: user-data: %w", n.Name, err)
	}
	nc, err := marshal(networkConfig(c, n))
	if err != nil {
		return NodeFiles{}, fmt.Errorf("render %s: network-config: %w", n.Name, err)
	}
	iid := InstanceID(c, n, ud, nc, p)
	md, err := marshal(metaData{InstanceID: iid, LocalHostname: n.Name})
	if err != nil {
		return NodeFiles{}, fmt.Errorf("render %s: meta-data: %w", n.Name, err)
	}
	return NodeFiles{Node: n, InstanceID: iid, UserData: ud, MetaData: md, NetworkConfig: nc}, nil
}

// appliedDigest is a short digest of the files a node runs etcd from that
// user-data does not hold: the release and the node's certificates.
func appliedDigest(rel *release.Release, p NodePKI) string {
	h := sha256.New()
	h.Write([]byte(rel.SHA256))
	for _, f := range pki.NodeFiles() {
		if data, ok := p[f.Name]; ok {
			fmt.Fprintf(h, "\x00%s\x00%d\x00", f.Name, len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// InstanceID is the node's cloud-init instance-id: the node's identity
// (model's InstanceID: cluster, node, replacement) and a digest of all the
// node applies: user-data (which names the release by its sha256 and holds
// the unit, the first-boot script, hosts, users), network-config and the
// node's certificates. cloud-init reruns a node's first boot exactly when
// the instance-id changes, so a rebuild that changes what a node applies
// (renewed certificates, another etcd, other flags) makes its seed converge
// the running node, and a rebuild that changes nothing for a node leaves
// its seed byte-identical. meta-data itself is not part of the digest.
func InstanceID(c *model.Cluster, n model.Node, userData, networkConfig []byte, p NodePKI) string {
	h := sha256.New()
	part := func(name string, data []byte) {
		var size [8]byte
		binary.BigEndian.PutUint64(size[:], uint64(len(data)))
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(size[:])
		h.Write(data)
	}
	part("user-data", userData)
	part("network-config", networkConfig)
	for _, f := range pki.NodeFiles() {
		if data, ok := p[f.Name]; ok {
			part("pki/"+f.Name, data)
		}
	}
	return c.InstanceID(n) + "-" + hex.EncodeToString(h.Sum(nil))[:12]
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
