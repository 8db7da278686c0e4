package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// Seed kinds: how a node's first boot makes it a member.
const (
	// SeedBootstrap seeds form the cluster together on first boot
	// (--initial-cluster-state=new with the bootstrap set).
	SeedBootstrap = "bootstrap"
	// SeedJoin seeds add their node to the running cluster as a learner and
	// promote it once it has caught up.
	SeedJoin = "join"
	// SeedReplace seeds first remove the dead member of the same name, then
	// join like SeedJoin with an empty data dir.
	SeedReplace = "replace"
)

// Member is one member the cluster remembers, as recorded by the build that
// first made its seed.
type Member struct {
	Name    string
	FQDN    string
	IP      netip.Addr
	PeerURL string
	// Kind is SeedBootstrap, SeedJoin or SeedReplace.
	Kind string
	// Bootstrap is true for the members of the first build: they stay the
	// --initial-cluster of every bootstrap seed, whatever later happens.
	Bootstrap bool
	// Generation counts replacements (and re-additions after a removal):
	// every one needs a new cloud-init instance-id.
	Generation int
	// Hosts names the members n's /etc/hosts lists.
	Hosts []string
}

// Membership is what etcdimg remembers about a running cluster between
// builds; see package membership. A Cluster without one renders every node
// as a bootstrap member, as a first build does.
type Membership struct {
	Members []Member // bootstrap members first, in first-build order
}

// Member returns the recorded member named name.
func (m *Membership) Member(name string) (Member, bool) {
	if m == nil {
		return Member{}, false
	}
	for _, mb := range m.Members {
		if mb.Name == name {
			return mb, true
		}
	}
	return Member{}, false
}

// BootstrapMembers are the members of the first build.
func (m *Membership) BootstrapMembers() []Member {
	var out []Member
	if m == nil {
		return nil
	}
	for _, mb := range m.Members {
		if mb.Bootstrap {
			out = append(out, mb)
		}
	}
	return out
}

// SeedKind is how n's seed makes it a member, and its generation.
func (c *Cluster) SeedKind(n Node) (kind string, generation int) {
	if mb, ok := c.Membership.Member(n.Name); ok {
		return mb.Kind, mb.Generation
	}
	return SeedBootstrap, 0
}

// IsBootstrap reports whether n's seed bootstraps the cluster.
func (c *Cluster) IsBootstrap(n Node) bool {
	k, _ := c.SeedKind(n)
	return k == SeedBootstrap
}

// bootstrapInitialCluster is --initial-cluster from the recorded bootstrap
// set: adding a node to the spec must not change a running member's seed.
func (c *Cluster) bootstrapInitialCluster() (string, bool) {
	bs := c.Membership.BootstrapMembers()
	if len(bs) == 0 {
		return "", false
	}
	parts := make([]string, len(bs))
	for i, mb := range bs {
		parts[i] = mb.Name + "=" + mb.PeerURL
	}
	return strings.Join(parts, ","), true
}

// instanceIDSuffix gives a replaced (or re-added) node a new instance-id,
// so cloud-init runs its first boot again on whatever VM gets the seed.
func (c *Cluster) instanceIDSuffix(n Node) string {
	if _, gen := c.SeedKind(n); gen > 0 {
		return fmt.Sprintf("-r%d", gen)
	}
	return ""
}
