package etcdclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdimg/etcdimg/outdir"
)

// DefaultQuota is etcd's default --quota-backend-bytes (2 GiB), which a
// member reports as 0 quota when it runs with the default.
const DefaultQuota int64 = 2 << 30

// CertWarning: a served certificate closer than this to its expiry gets a
// note; a month leaves time to rebuild and roll the seeds.
const CertWarning = 30 * 24 * time.Hour

// Status is one look at the whole cluster.
type Status struct {
	Cluster   string `json:"cluster"`
	ClusterID string `json:"clusterID,omitempty"`
	// Leader is the leader's name (its id when it has none yet).
	Leader   string `json:"leader,omitempty"`
	LeaderID string `json:"leaderID,omitempty"`
	// Healthy is true exactly when every member is reachable and healthy,
	// the member list could be read and no alarm is raised.
	Healthy bool           `json:"healthy"`
	Members []MemberStatus `json:"members"`
	Alarms  []Alarm        `json:"alarms"`
	// Problems say, one line each, why Healthy is false.
	Problems []string `json:"problems,omitempty"`
	// Notes are worth knowing but do not make the cluster unhealthy, such
	// as a node of cluster.json that is not (yet) a member.
	Notes []string `json:"notes,omitempty"`
	Took  Duration `json:"took"`

	listErr error // the linearizable member list failed (no quorum)
}

// MemberStatus is what one member says about itself, asked through its own
// endpoint.
type MemberStatus struct {
	// ID in hex as etcdctl prints it; empty for a node of cluster.json
	// that is not a member.
	ID         string   `json:"id,omitempty"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	// Endpoint is the URL this status was asked through.
	Endpoint string `json:"endpoint,omitempty"`
	// Member: in the cluster's member list. InSpec: in cluster.json.
	Member  bool `json:"member"`
	InSpec  bool `json:"inSpec"`
	Learner bool `json:"learner"`
	Leader  bool `json:"leader"`

	Reachable bool `json:"reachable"`
	Healthy   bool `json:"healthy"`
	// Error says why the member is unreachable or unhealthy.
	Error string `json:"error,omitempty"`

	RaftTerm         uint64 `json:"raftTerm,omitempty"`
	RaftIndex        uint64 `json:"raftIndex,omitempty"`
	RaftAppliedIndex uint64 `json:"raftAppliedIndex,omitempty"`
	// Learner progress: its applied index against the leader's raft index.
	Progress *Progress `json:"learnerProgress,omitempty"`

	DBSize      int64 `json:"dbSize,omitempty"`
	DBSizeInUse int64 `json:"dbSizeInUse,omitempty"`
	// Quota is the member's quota-backend-bytes (DefaultQuota when the
	// member runs with the default).
	Quota          int64  `json:"quota,omitempty"`
	Version        string `json:"version,omitempty"`
	StorageVersion string `json:"storageVersion,omitempty"`

	Alarms []string `json:"alarms,omitempty"`
	// Cert is the certificate the endpoint served in the TLS handshake.
	Cert *Cert `json:"cert,omitempty"`

	id, leaderID, clusterID uint64
	// readOK: a read through raft succeeded through this member, so it is
	// a working part of the quorum (true even when an alarm is raised).
	readOK bool
}

// MemberID is the member's ID as etcd's API takes it (0 for a node of
// cluster.json that is not a member).
func (m MemberStatus) MemberID() uint64 { return m.id }

// Progress is a learner's catch-up state.
type Progress struct {
	Applied     uint64  `json:"applied"`
	LeaderIndex uint64  `json:"leaderIndex"`
	Percent     float64 `json:"percent"`
}

// Cert describes a served certificate.
type Cert struct {
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"notAfter"`
	// Error is why the certificate does not verify against the cluster CA
	// for this endpoint (expired, wrong CA, wrong SAN); empty when it does.
	Error string `json:"error,omitempty"`
}

// Alarm is a raised etcd alarm.
type Alarm struct {
	MemberID string `json:"memberID"`
	Member   string `json:"member,omitempty"`
	Alarm    string `json:"alarm"`
}

// Duration marshals as a Go duration string.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).Round(time.Millisecond).String()), nil
}

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Status asks every member, in parallel and through its own endpoint, for
// its raft state, db size, health and certificate, and the cluster for its
// member list and alarms. It returns an error only when it could not ask
// at all; an unreachable or unhealthy member is a finding, in Problems.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	start := time.Now()
	st := &Status{Cluster: c.Cluster.Name, Alarms: []Alarm{}}

	members, listErr := c.memberList(ctx)
	st.listErr = listErr
	if listErr != nil {
		st.Problems = append(st.Problems, "member list: "+listErr.Error())
	}
	st.Members = c.memberRows(members)

	var wg sync.WaitGroup
	for i := range st.Members {
		m := &st.Members[i]
		if m.Endpoint == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.probe(ctx, m)
		}()
	}
	wg.Wait()

	// The leader as the members with the highest term see it.
	var leader uint64
	var term uint64
	for _, m := range st.Members {
		if m.Reachable && m.RaftTerm >= term && m.leaderID != 0 {
			leader, term = m.leaderID, m.RaftTerm
		}
	}
	var leaderRow *MemberStatus
	for i := range st.Members {
		if m := &st.Members[i]; m.id != 0 && m.id == leader {
			m.Leader = true
			leaderRow = m
		}
	}
	if leader != 0 {
		st.LeaderID = ID(leader)
		st.Leader = st.LeaderID
		if leaderRow != nil && leaderRow.Name != "" {
			st.Leader = leaderRow.Name
		}
	} else if listErr == nil {
		st.Problems = append(st.Problems, "no member reports a leader")
	}
	for i := range st.Members {
		m := &st.Members[i]
		if m.clusterID != 0 && st.ClusterID == "" {
			st.ClusterID = ID(m.clusterID)
		}
		if m.Learner && m.Reachable && leaderRow != nil && leaderRow.RaftIndex > 0 {
			p := &Progress{Applied: m.RaftAppliedIndex, LeaderIndex: leaderRow.RaftIndex}
			p.Percent = min(100, 100*float64(p.Applied)/float64(p.LeaderIndex))
			m.Progress = p
		}
	}

	// Alarms are read through raft, like the linearizable member list:
	// when that failed, asking would only wait out another timeout.
	if listErr == nil {
		if err := c.alarms(ctx, st); err != nil {
			st.Problems = append(st.Problems, "alarm list: "+err.Error())
		}
	} else {
		st.Problems = append(st.Problems, "alarms unknown: the cluster did not answer the member list")
	}
	for _, m := range st.Members {
		switch {
		case !m.Member:
			st.Notes = append(st.Notes, fmt.Sprintf("%s is in cluster.json but not a member of the cluster", m.Name))
		case !m.Healthy:
			st.Problems = append(st.Problems, fmt.Sprintf("%s (%s): %s", m.label(), m.Endpoint, m.Error))
		}
		if m.Cert != nil && m.Cert.Error != "" {
			st.Problems = append(st.Problems, fmt.Sprintf("%s: served certificate: %s", m.label(), m.Cert.Error))
		} else if m.Cert != nil && time.Until(m.Cert.NotAfter) < CertWarning {
			st.Notes = append(st.Notes, fmt.Sprintf("%s: the served certificate expires %s, in %d days: renew it", m.label(),
				m.Cert.NotAfter.UTC().Format("2006-01-02 15:04 MST"), int(time.Until(m.Cert.NotAfter).Hours()/24)))
		}
	}
	st.Healthy = len(st.Problems) == 0
	st.Took = Duration(time.Since(start))
	return st, nil
}

// memberList asks the cluster for its members: linearizable first (the
// answer the leader agrees to), and when that fails (no quorum) the local
// view of any member that answers, so a broken cluster can still be shown.
func (c *Client) memberList(ctx context.Context) ([]*etcdserverpb.Member, error) {
	rctx, cancel := c.Ctx(ctx)
	defer cancel()
	resp, err := c.MemberList(rctx)
	if err == nil {
		return resp.Members, nil
	}
	for _, ep := range c.Cluster.Endpoints() {
		mc, merr := c.Member(ep)
		if merr != nil {
			continue
		}
		sctx, scancel := context.WithTimeout(ctx, c.opts.DialTimeout)
		r, serr := mc.MemberList(sctx, clientv3.WithSerializable())
		scancel()
		mc.Close()
		if serr == nil {
			return r.Members, fmt.Errorf("%w (showing %s's local view)", err, ep)
		}
	}
	return nil, err
}

// memberRows joins the member list with cluster.json: a member is matched
// to its node by name, or by peer URL for one added but not yet started
// (it has no name until it starts), and is asked through the node's
// endpoint, the address an operator reaches it on. Nodes of cluster.json
// that are not members get a row too.
func (c *Client) memberRows(members []*etcdserverpb.Member) []MemberStatus {
	var rows []MemberStatus
	used := map[string]bool{}
	for _, m := range members {
		r := MemberStatus{
			ID: ID(m.ID), id: m.ID, Name: m.Name, Member: true, Learner: m.IsLearner,
			PeerURLs: nonNil(m.PeerURLs), ClientURLs: nonNil(m.ClientURLs),
		}
		if n, ok := c.nodeFor(m); ok {
			used[n.Name] = true
			r.InSpec = true
			if r.Name == "" {
				r.Name = n.Name
			}
			r.Endpoint = n.Endpoint()
		}
		if r.Endpoint == "" {
			r.Endpoint = reachableURL(m.ClientURLs)
		}
		if r.Endpoint == "" {
			r.Error = "no client URL: added to the cluster but never started"
		}
		rows = append(rows, r)
	}
	for _, n := range c.Cluster.Nodes {
		if used[n.Name] {
			continue
		}
		r := MemberStatus{Name: n.Name, InSpec: true, PeerURLs: nonNil(n.PeerURLs), ClientURLs: nonNil(n.ClientURLs)}
		if len(members) == 0 {
			// The member list is unknown: show what cluster.json expects,
			// asked through its endpoint, as a member.
			r.Member = true
			r.Endpoint = n.Endpoint()
		}
		rows = append(rows, r)
	}
	// Spec order first (what the operator wrote), then members etcdimg
	// does not know about, by name.
	order := map[string]int{}
	for i, n := range c.Cluster.Nodes {
		order[n.Name] = i
	}
	sort.SliceStable(rows, func(i, j int) bool {
		oi, iok := order[rows[i].Name]
		oj, jok := order[rows[j].Name]
		if iok != jok {
			return iok
		}
		if iok {
			return oi < oj
		}
		return rows[i].Name < rows[j].Name
	})
	return rows
}

func (c *Client) nodeFor(m *etcdserverpb.Member) (outdir.Node, bool) {
	if m.Name != "" {
		if n, ok := c.Cluster.Node(m.Name); ok {
			return n, true
		}
	}
	for _, n := range c.Cluster.Nodes {
		for _, p := range n.PeerURLs {
			if slices.Contains(m.PeerURLs, p) {
				return n, true
			}
		}
	}
	return outdir.Node{}, false
}

// reachableURL is the first client URL not on loopback: a member's
// loopback URL is its own, not ours.
func reachableURL(urls []string) string {
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(pu.Hostname()); (ip != nil && ip.IsLoopback()) || pu.Hostname() == "localhost" {
			continue
		}
		return u
	}
	return ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// probe fills in what m says about itself. The TLS handshake comes first:
// it reads the served certificate and, for a member that is down, gives
// the precise reason (connection refused, timeout, bad certificate)
// where grpc would only report a deadline after its retries.
func (c *Client) probe(ctx context.Context, m *MemberStatus) {
	cert, verr, err := c.Handshake(ctx, m.Endpoint)
	if err != nil {
		m.Error = "unreachable: " + err.Error()
		return
	}
	if cert != nil {
		m.Cert = &Cert{Subject: cert.Subject.String(), NotAfter: cert.NotAfter}
		if verr != nil {
			m.Cert.Error = verr.Error()
		}
	}
	mc, err := c.Member(m.Endpoint)
	if err != nil {
		m.Error = "unreachable: " + err.Error()
		return
	}
	defer mc.Close()
	sctx, cancel := c.Ctx(ctx)
	defer cancel()
	s, err := mc.Status(sctx, m.Endpoint)
	if err != nil {
		m.Error = "unreachable: status: " + err.Error()
		return
	}
	m.Reachable = true
	m.Version, m.StorageVersion = s.Version, s.StorageVersion
	m.DBSize, m.DBSizeInUse, m.Quota = s.DbSize, s.DbSizeInUse, s.DbSizeQuota
	if m.Quota == 0 {
		m.Quota = DefaultQuota
	}
	m.RaftTerm, m.RaftIndex, m.RaftAppliedIndex = s.RaftTerm, s.RaftIndex, s.RaftAppliedIndex
	m.leaderID = s.Leader
	m.Learner = m.Learner || s.IsLearner
	if s.Header != nil {
		m.clusterID = s.Header.ClusterId
		if m.id == 0 {
			m.id, m.ID = s.Header.MemberId, ID(s.Header.MemberId)
		}
	}
	if len(s.Errors) > 0 {
		m.Error = fmt.Sprintf("member reports: %v", s.Errors)
		return
	}
	// Health as etcdctl endpoint health judges it: a read through the
	// member that goes through raft (a linearizable read needs the leader
	// and a quorum). A learner serves only serializable reads.
	var opts []clientv3.OpOption
	if m.Learner {
		opts = append(opts, clientv3.WithSerializable())
	}
	hctx, hcancel := c.Ctx(ctx)
	defer hcancel()
	if _, err := mc.Get(hctx, "health", opts...); err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		m.Error = "unhealthy: " + err.Error()
		return
	}
	m.readOK = true
	m.Healthy = true
}

// alarms records the cluster's alarms and marks the members they name
// unhealthy, as etcdctl endpoint health does for NOSPACE and CORRUPT.
func (c *Client) alarms(ctx context.Context, st *Status) error {
	actx, cancel := c.Ctx(ctx)
	defer cancel()
	resp, err := c.AlarmList(actx)
	if err != nil {
		return err
	}
	for _, a := range resp.Alarms {
		al := Alarm{MemberID: ID(a.MemberID), Alarm: a.Alarm.String()}
		for i := range st.Members {
			m := &st.Members[i]
			if m.id == a.MemberID {
				al.Member = m.Name
				m.Alarms = append(m.Alarms, al.Alarm)
				if m.Healthy {
					m.Healthy = false
					m.Error = "alarm " + al.Alarm
				}
			}
		}
		st.Alarms = append(st.Alarms, al)
		st.Problems = append(st.Problems, fmt.Sprintf("alarm %s raised on member %s", al.Alarm, cmp.Or(al.Member, al.MemberID)))
	}
	return nil
}

func (m MemberStatus) label() string {
	if m.Name != "" {
		return m.Name
	}
	return m.ID
}
