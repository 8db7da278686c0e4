// Package membership is what etcdimg remembers about a running cluster
// between builds: which members bootstrapped it, which joined later, and how
// often each was replaced. It lives in membership.json beside the PKI (the
// cluster's persistent state; in the output folder when TLS is off), is
// written by the first build and updated by every build that changes it.
//
// From it a build decides, per node, the kind of seed (model.SeedBootstrap,
// SeedJoin, SeedReplace): a node added to the spec later joins the running
// cluster; the bootstrap members' seeds keep their --initial-cluster and
// /etc/hosts, so adding a node leaves them byte-identical.
package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/model"
)

// FileName is the state file's name in its folder.
const FileName = "membership.json"

// SchemaVersion is the only version Read accepts.
const SchemaVersion = 1

// File is membership.json.
type File struct {
	SchemaVersion int     `json:"schemaVersion"`
	Cluster       string  `json:"cluster"`
	Members       []Entry `json:"members"`
	// Restore is set when the cluster was bootstrapped from a snapshot
	// (`build --restore-from`): building those seeds again is the same
	// restore; any other restore makes another cluster (see Next).
	Restore *Restored `json:"restore,omitempty"`
}

// Restored names the snapshot a cluster was restored from and the token
// the restore gave it.
type Restored struct {
	SHA256 string `json:"sha256"`
	Token  string `json:"token"`
}

// Entry is one member as recorded.
type Entry struct {
	Name    string `json:"name"`
	FQDN    string `json:"fqdn"`
	IP      string `json:"ip"`
	PeerURL string `json:"peerURL"`
	// Seed is the kind of seed the node gets: bootstrap, join or replace.
	Seed      string `json:"seed"`
	Bootstrap bool   `json:"bootstrap"`
	// Generation counts replacements and re-additions; it is part of the
	// node's cloud-init instance-id from 1 on.
	Generation int `json:"generation"`
	// Hosts are the members the seed's /etc/hosts lists: the nodes of the
	// spec when this seed was first made (or replaced), so a node added
	// later changes no existing seed.
	Hosts []string `json:"hosts"`
	// Removed marks a member that left the spec: a bootstrap member stays in
	// every bootstrap seed's --initial-cluster; coming back it joins anew.
	Removed bool `json:"removed,omitempty"`
}

// ErrRestore: `build --restore-from` over a recorded cluster it did not
// restore itself.
var ErrRestore = errors.New("a restore makes a new cluster, and this one is recorded already")

// ErrRestoreMissing: a build without --restore-from of a restored cluster.
var ErrRestoreMissing = errors.New("this cluster was restored from a snapshot; build it with --restore-from that snapshot")

// Path is where a cluster's state lives: in the PKI folder with TLS, else
// in the output folder.
func Path(pkiDir, outDir string, tls bool) string {
	if tls {
		return filepath.Join(pkiDir, FileName)
	}
	return filepath.Join(outDir, FileName)
}

// Read reads the state at path; (nil, nil) when there is none yet.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if f.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: schemaVersion %d, this etcdimg reads %d", path, f.SchemaVersion, SchemaVersion)
	}
	return &f, nil
}

// Write writes f to path durably.
func Write(path string, f *File) error {
	f.SchemaVersion = SchemaVersion
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(path, append(b, '\n'), 0o644)
}

// Next is the state after a build of c: prev (nil before the first build)
// with nodes new to the spec added as joiners, nodes gone from the spec
// marked removed, and the nodes in replace given a replacement seed with a
// new generation. The error names what is wrong with replace.
//
// A restore (c.Restore) makes a new cluster that every node bootstraps, so
// it needs a fresh record: over a recorded cluster it is refused (ErrRestore),
// unless that cluster is the one this very snapshot restored (the same
// build again, or a grown spec whose new nodes join the restored cluster).
// A restored cluster's seeds are built from its snapshot only
// (ErrRestoreMissing): without it its bootstrap seeds would bootstrap an
// empty member instead of restoring one.
func Next(prev *File, c *model.Cluster, replace []string) (*File, error) {
	if c.Restore != nil && prev != nil && (prev.Restore == nil || prev.Restore.SHA256 != c.Restore.SHA256) {
		return nil, ErrRestore
	}
	if c.Restore == nil && prev != nil && prev.Restore != nil {
		return nil, ErrRestoreMissing
	}
	if prev == nil {
		if len(replace) > 0 {
			return nil, fmt.Errorf("--replace: no member of cluster %q is recorded yet (no %s): the first build bootstraps every node", c.Name, FileName)
		}
		f := &File{Cluster: c.Name}
		if r := c.Restore; r != nil {
			f.Restore = &Restored{SHA256: r.SHA256, Token: r.Token}
		}
		for _, n := range c.Nodes {
			e := entry(c, n)
			e.Seed, e.Bootstrap = model.SeedBootstrap, true
			e.Hosts = specNames(c)
			f.Members = append(f.Members, e)
		}
		return f, nil
	}
	if prev.Cluster != c.Name {
		return nil, fmt.Errorf("the recorded membership is of cluster %q, the spec's is %q", prev.Cluster, c.Name)
	}
	f := &File{Cluster: prev.Cluster, Members: slices.Clone(prev.Members), Restore: prev.Restore}
	for i := range f.Members {
		e := &f.Members[i]
		n, ok := c.Node(e.Name)
		switch {
		case !ok:
			e.Removed = true
		case e.Removed:
			// Back after a removal: the cluster no longer knows it, so it
			// joins like a new node, on a new instance-id.
			e.Removed, e.Seed = false, model.SeedJoin
			e.Generation++
			e.Hosts = specNames(c)
			refresh(c, n, e)
		default:
			refresh(c, n, e)
		}
	}
	for _, n := range c.Nodes {
		if !slices.ContainsFunc(f.Members, func(e Entry) bool { return e.Name == n.Name }) {
			e := entry(c, n)
			e.Seed = model.SeedJoin
			e.Hosts = specNames(c)
			f.Members = append(f.Members, e)
		}
	}
	for _, name := range replace {
		i := slices.IndexFunc(prev.Members, func(e Entry) bool { return e.Name == name && !e.Removed })
		if i < 0 {
			return nil, fmt.Errorf("--replace %s: %s is not a member yet; build it without --replace and it gets a join seed", name, name)
		}
		j := slices.IndexFunc(f.Members, func(e Entry) bool { return e.Name == name })
		f.Members[j].Seed = model.SeedReplace
		f.Members[j].Generation++
		f.Members[j].Hosts = specNames(c)
	}
	return f, nil
}

func specNames(c *model.Cluster) []string {
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		names[i] = n.Name
	}
	return names
}

func entry(c *model.Cluster, n model.Node) Entry {
	var e Entry
	refresh(c, n, &e)
	e.Name = n.Name
	return e
}

// refresh copies the spec's address into an entry. A member's identity is
// its name: an address fixed in the spec before the first boot reaches every
// seed, as it did before there was a record; a node gone from the spec
// keeps its last address (a removed bootstrap member stays in the bootstrap
// seeds' --initial-cluster).
func refresh(c *model.Cluster, n model.Node, e *Entry) {
	e.FQDN, e.IP, e.PeerURL = n.FQDN, n.IP.String(), c.PeerURL(n)
}

// Model is the model's view of the state.
func (f *File) Model() (*model.Membership, error) {
	m := &model.Membership{}
	for _, e := range f.Members {
		ip, err := netip.ParseAddr(e.IP)
		if err != nil {
			return nil, fmt.Errorf("%s: member %s: ip: %v", FileName, e.Name, err)
		}
		switch e.Seed {
		case model.SeedBootstrap, model.SeedJoin, model.SeedReplace:
		default:
			return nil, fmt.Errorf("%s: member %s: unknown seed %q", FileName, e.Name, e.Seed)
		}
		m.Members = append(m.Members, model.Member{Name: e.Name, FQDN: e.FQDN, IP: ip, PeerURL: e.PeerURL,
			Kind: e.Seed, Bootstrap: e.Bootstrap, Generation: e.Generation, Hosts: e.Hosts})
	}
	return m, nil
}
