package etcdclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// ErrRefused is wrapped by every removal RemoveMember refuses to make:
// the cluster is left exactly as it was.
var ErrRefused = errors.New("refused")

// RemoveOptions tune RemoveMember.
type RemoveOptions struct {
	// DryRun checks everything and says what would be done, changing
	// nothing.
	DryRun bool
}

// Removal says what RemoveMember did (or, with DryRun, would do).
type Removal struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Learner bool   `json:"learner"`
	// Leader: the member was the leader; MovedLeaderTo is the member
	// leadership was handed to before the removal (empty if the transfer
	// failed and etcd elected a new leader itself).
	Leader        bool   `json:"leader"`
	MovedLeaderTo string `json:"movedLeaderTo,omitempty"`
	// AlreadyRemoved: the node is not a member (any more); nothing done.
	AlreadyRemoved bool `json:"alreadyRemoved"`
	DryRun         bool `json:"dryRun"`
	// The membership before and after: members, voting members, the
	// quorum of the new membership and how many of its voters are healthy.
	MembersBefore      int `json:"membersBefore"`
	MembersAfter       int `json:"membersAfter"`
	VotersAfter        int `json:"votersAfter"`
	QuorumAfter        int `json:"quorumAfter"`
	HealthyVotersAfter int `json:"healthyVotersAfter"`
	// Via is the endpoint the removal was sent through.
	Via string `json:"via,omitempty"`
}

// RemoveMember removes the member node names (its name, or its id in hex
// as etcdctl prints it). It is quorum-safe and safe to re-run:
//
//   - a node that is in cluster.json but not a member, or an id no member
//     has, is reported as already removed, and nothing is done;
//   - the last member, a name that is neither a member nor a node of
//     cluster.json, and any removal after which the new membership would
//     have fewer healthy voting members than its quorum are refused
//     (ErrRefused), each member's health asked through its own endpoint;
//   - the leader is removed after handing leadership to the healthiest
//     other voter (MoveLeader), so the cluster does not wait out an
//     election timeout;
//   - a learner may always be removed: it does not vote.
//
// The removal is sent through a healthy voting member other than the one
// removed, which stops itself once it sees the change.
func (c *Client) RemoveMember(ctx context.Context, node string, o RemoveOptions) (*Removal, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.listErr != nil {
		return nil, fmt.Errorf("%w: the cluster did not answer a linearizable member list (%v): without a quorum no member can be removed", ErrRefused, st.listErr)
	}
	var members []*MemberStatus
	for i := range st.Members {
		if st.Members[i].Member {
			members = append(members, &st.Members[i])
		}
	}
	r := &Removal{DryRun: o.DryRun, MembersBefore: len(members)}

	target, err := findMember(st, members, node)
	if err != nil {
		return nil, err
	}
	if target == nil {
		r.AlreadyRemoved = true
		r.Name = node
		r.MembersAfter = len(members)
		return r, nil
	}
	r.ID, r.Name, r.Learner, r.Leader = target.ID, target.label(), target.Learner, target.Leader

	if len(members) == 1 {
		return r, fmt.Errorf("%w: %s is the last member; removing it would destroy the cluster", ErrRefused, r.Name)
	}
	var voters, healthy []*MemberStatus
	var unhealthy []string
	for _, m := range members {
		if m == target || m.Learner {
			continue
		}
		voters = append(voters, m)
		if m.readOK {
			healthy = append(healthy, m)
		} else {
			unhealthy = append(unhealthy, fmt.Sprintf("%s (%s)", m.label(), cmp.Or(m.Error, "not healthy")))
		}
	}
	r.MembersAfter = len(members) - 1
	r.VotersAfter = len(voters)
	r.QuorumAfter = len(voters)/2 + 1
	r.HealthyVotersAfter = len(healthy)
	if len(voters) == 0 {
		return r, fmt.Errorf("%w: %s is the only voting member; the learners left could not form a quorum", ErrRefused, r.Name)
	}
	if len(healthy) < r.QuorumAfter {
		return r, fmt.Errorf("%w: removing %s would leave %d voting members, of which %d healthy, fewer than their quorum of %d; unhealthy: %s",
			ErrRefused, r.Name, len(voters), len(healthy), r.QuorumAfter, strings.Join(unhealthy, ", "))
	}
	// The most up-to-date healthy voter takes over leadership and carries
	// the request.
	slices.SortStableFunc(healthy, func(a, b *MemberStatus) int {
		return cmp.Compare(b.RaftAppliedIndex, a.RaftAppliedIndex)
	})
	via := healthy[0]
	r.Via = via.Endpoint
	if o.DryRun {
		if target.Leader {
			r.MovedLeaderTo = via.label()
		}
		return r, nil
	}

	// Only the leader itself accepts MoveLeader; one we cannot reach is
	// left to etcd, which elects a new leader once the change commits.
	if target.Leader && target.Reachable {
		if err := c.MoveLeader(ctx, target.Endpoint, via.id); err == nil {
			r.MovedLeaderTo = via.label()
		}
		// On failure etcd still removes the leader: it steps down once the
		// change is committed and the others elect a new one.
	}

	mc, err := c.Member(via.Endpoint)
	if err != nil {
		return r, err
	}
	defer mc.Close()
	// etcd's own strict reconfiguration check refuses ("unhealthy
	// cluster") until the receiving member has been connected to its peers
	// for five seconds, e.g. just after a restart: wait that out.
	deadline := time.Now().Add(15 * time.Second)
	for {
		rctx, cancel := c.Ctx(ctx)
		_, err = mc.MemberRemove(rctx, target.id)
		cancel()
		if err == nil || !errors.Is(err, rpctypes.ErrUnhealthy) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	switch {
	case errors.Is(err, rpctypes.ErrMemberNotFound):
		// Someone else removed it between our list and our request.
		r.AlreadyRemoved = true
		r.MembersAfter = len(members) - 1
		return r, nil
	case errors.Is(err, rpctypes.ErrUnhealthy), errors.Is(err, rpctypes.ErrMemberNotEnoughStarted):
		return r, fmt.Errorf("%w by etcd: %v", ErrRefused, err)
	case err != nil:
		return r, fmt.Errorf("remove %s (%s) through %s: %w", r.Name, r.ID, via.Endpoint, err)
	}
	lctx, cancel := c.Ctx(ctx)
	defer cancel()
	if resp, err := mc.MemberList(lctx); err == nil {
		r.MembersAfter = len(resp.Members)
	}
	return r, nil
}

// findMember resolves node to a member: by name first, then by id in hex.
// It returns nil, nil for a node etcdimg knows (a row of cluster.json that
// is not a member) or an id no member has: already removed.
func findMember(st *Status, members []*MemberStatus, node string) (*MemberStatus, error) {
	for _, m := range members {
		if m.Name == node {
			return m, nil
		}
	}
	for _, m := range st.Members {
		if !m.Member && m.Name == node {
			return nil, nil
		}
	}
	// Member ids are random 64-bit numbers: 8 to 16 hex digits in all but
	// one case in four billion, which keeps a short name like "db1" from
	// being taken for an id.
	if id, err := strconv.ParseUint(node, 16, 64); err == nil && len(node) >= 8 && id != 0 {
		for _, m := range members {
			if m.id == id {
				return m, nil
			}
		}
		return nil, nil
	}
	var names []string
	for _, m := range st.Members {
		names = append(names, m.label())
	}
	return nil, fmt.Errorf("%w: %q is neither a member nor a node of cluster.json (known: %s)", ErrRefused, node, strings.Join(names, ", "))
}

// MoveLeader hands leadership to the member with id to (etcdctl
// move-leader); etcd accepts the request only from the leader itself, so it
// is asked through leaderEndpoint.
func (c *Client) MoveLeader(ctx context.Context, leaderEndpoint string, to uint64) error {
	lc, err := c.Member(leaderEndpoint)
	if err != nil {
		return err
	}
	defer lc.Close()
	mctx, cancel := c.Ctx(ctx)
	defer cancel()
	_, err = lc.MoveLeader(mctx, to)
	return err
}
