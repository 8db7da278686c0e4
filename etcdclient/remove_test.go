package etcdclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/clustertest"
)

func members(t *testing.T, c *etcdclient.Client) []string {
	t.Helper()
	ctx, cancel := c.Ctx(context.Background())
	defer cancel()
	resp, err := c.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range resp.Members {
		names = append(names, m.Name)
	}
	return names
}

// TestRemoveQuorumRefusals: with one of three members dead, removing a
// healthy one would leave two voters of which one healthy, below their
// quorum of two: refused, nothing changes. Removing the dead one is fine,
// and doing it again says it is already removed, by name and by id. An
// unknown name is refused.
func TestRemoveQuorumRefusals(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := open(t, cl.Dir)
	ctx := context.Background()

	if _, err := c.RemoveMember(ctx, "etcd09", etcdclient.RemoveOptions{}); !errors.Is(err, etcdclient.ErrRefused) || !strings.Contains(err.Error(), `"etcd09" is neither a member nor a node`) {
		t.Errorf("unknown name: %v", err)
	}

	cl.Kill("etcd03")
	for _, name := range []string{"etcd01", "etcd02"} {
		for _, dry := range []bool{true, false} {
			r, err := c.RemoveMember(ctx, name, etcdclient.RemoveOptions{DryRun: dry})
			if !errors.Is(err, etcdclient.ErrRefused) || !strings.Contains(err.Error(), "would leave 2 voting members, of which 1 healthy, fewer than their quorum of 2; unhealthy: etcd03") {
				t.Errorf("remove %s (dry run %v) with etcd03 dead: %v", name, dry, err)
			}
			if r == nil || r.HealthyVotersAfter != 1 || r.QuorumAfter != 2 {
				t.Errorf("removal report: %+v", r)
			}
		}
	}
	if got := members(t, c); len(got) != 3 {
		t.Fatalf("a refused removal changed the membership: %v", got)
	}

	st, _ := c.Status(ctx)
	var deadID string
	for _, m := range st.Members {
		if m.Name == "etcd03" {
			deadID = m.ID
		}
	}
	r, err := c.RemoveMember(ctx, "etcd03", etcdclient.RemoveOptions{})
	if err != nil || r.AlreadyRemoved || r.ID != deadID || r.MembersBefore != 3 || r.MembersAfter != 2 || r.QuorumAfter != 2 || r.HealthyVotersAfter != 2 {
		t.Fatalf("remove dead etcd03: %+v %v", r, err)
	}
	if got := members(t, c); strings.Join(got, ",") != "etcd01,etcd02" && strings.Join(got, ",") != "etcd02,etcd01" {
		t.Errorf("members after: %v", got)
	}
	for _, again := range []string{"etcd03", deadID} {
		r, err = c.RemoveMember(ctx, again, etcdclient.RemoveOptions{})
		if err != nil || !r.AlreadyRemoved || r.MembersAfter != 2 {
			t.Errorf("remove %s again: %+v %v", again, r, err)
		}
	}
}

// TestRemoveLeaderAndLearner removes the leader of a three-member cluster
// with a learner: leadership is handed over first, the two voters left
// keep serving the data, and then the learner goes too.
func TestRemoveLeaderAndLearner(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	cl.Put("keep/", 100, 64)
	cl.AddLearner("etcd04", true)
	c := open(t, cl.Dir)
	ctx := context.Background()

	var st *etcdclient.Status
	for deadline := time.Now().Add(30 * time.Second); ; {
		st, _ = c.Status(ctx)
		if st.Healthy || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	leader := st.Leader
	if !st.Healthy || leader == "" {
		t.Fatalf("not healthy: %v", st.Problems)
	}

	dry, err := c.RemoveMember(ctx, leader, etcdclient.RemoveOptions{DryRun: true})
	if err != nil || !dry.DryRun || !dry.Leader || dry.MovedLeaderTo == "" || dry.MembersAfter != 3 || dry.VotersAfter != 2 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if got := members(t, c); len(got) != 4 {
		t.Fatalf("dry run changed the membership: %v", got)
	}

	start := time.Now()
	r, err := c.RemoveMember(ctx, leader, etcdclient.RemoveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed leader %s in %v, leadership to %s", leader, time.Since(start), r.MovedLeaderTo)
	if !r.Leader || r.MovedLeaderTo == "" || r.MovedLeaderTo == leader || r.MembersAfter != 3 {
		t.Errorf("removal: %+v", r)
	}
	// The removed member stops itself; the rest elect nobody new, since
	// leadership was handed over, and serve every key.
	for deadline := time.Now().Add(20 * time.Second); cl.Member(leader).Running(); {
		if time.Now().After(deadline) {
			t.Fatalf("removed member %s still running", leader)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err = c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != r.MovedLeaderTo {
		t.Errorf("leader is %s, removal handed it to %s", st.Leader, r.MovedLeaderTo)
	}
	gctx, cancel := c.Ctx(ctx)
	defer cancel()
	resp, err := c.Get(gctx, "keep/", clientv3WithPrefixCount()...)
	if err != nil || resp.Count != 100 {
		t.Errorf("keys after removing the leader: %v %v", resp, err)
	}

	r, err = c.RemoveMember(ctx, "etcd04", etcdclient.RemoveOptions{})
	if err != nil || !r.Learner || r.MembersAfter != 2 {
		t.Errorf("remove learner: %+v %v", r, err)
	}
}

// TestRemoveOnlyVoterAndLastMember: a single voter with a learner cannot
// be removed (the learner cannot vote), the learner can, and then the last
// member cannot.
func TestRemoveOnlyVoterAndLastMember(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Members: 1})
	cl.AddLearner("etcd02", true)
	c := open(t, cl.Dir)
	ctx := context.Background()
	if _, err := c.RemoveMember(ctx, "etcd01", etcdclient.RemoveOptions{}); !errors.Is(err, etcdclient.ErrRefused) || !strings.Contains(err.Error(), "only voting member") {
		t.Errorf("remove the only voter: %v", err)
	}
	if r, err := c.RemoveMember(ctx, "etcd02", etcdclient.RemoveOptions{}); err != nil || !r.Learner || r.MembersAfter != 1 {
		t.Errorf("remove learner: %+v %v", r, err)
	}
	// A join that registered its learner and died before starting etcd
	// leaves a member with no name: it is found by its peer URL in
	// cluster.json, and removed by the node's name.
	_, id := cl.AddLearner("etcd03", false)
	c = open(t, cl.Dir) // cluster.json now lists etcd03
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := row(t, st, "etcd03"); !m.Member || m.ID != id || m.Reachable || st.Healthy {
		t.Errorf("unstarted learner row: %+v, healthy %v", m, st.Healthy)
	}
	if r, err := c.RemoveMember(ctx, "etcd03", etcdclient.RemoveOptions{}); err != nil || r.ID != id || !r.Learner || r.MembersAfter != 1 {
		t.Errorf("remove unstarted learner: %+v %v", r, err)
	}
	if _, err := c.RemoveMember(ctx, "etcd01", etcdclient.RemoveOptions{}); !errors.Is(err, etcdclient.ErrRefused) || !strings.Contains(err.Error(), "last member") {
		t.Errorf("remove the last member: %v", err)
	}
	if got := members(t, c); len(got) != 1 {
		t.Errorf("members: %v", got)
	}
}

func clientv3WithPrefixCount() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}
}
