// Package rollout delivers rebuilt seeds to a running cluster, one node at
// a time, the way an etcd operator rolls a restart: check that the whole
// cluster is healthy, reboot one member on its new seed (the hypervisor
// specific part is the caller's Reseed), wait until it is back as a
// healthy voting member running what the seed carries, then the next one.
// At most one member is ever away, so a cluster of three or more keeps its
// quorum throughout; the first node that does not come back stops the
// rollout with every later node untouched.
//
// Health is judged through package etcdclient, the client `etcdimg status`
// uses, so the rollout and the operator see the same cluster.
package rollout

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/outdir"
)

// DefaultNodeTimeout is how long one node may take from its reseed to
// being a healthy voting member again: a VM reboot, cloud-init's run of a
// new instance (new binaries, certificates) and etcd catching up, with
// ample room for slow hypervisors.
const DefaultNodeTimeout = 15 * time.Minute

// Phases recorded in Result.Steps, in the order they happen per node.
const (
	PhaseGate     = "gate"     // the cluster was fully healthy before the node was touched
	PhaseHandover = "handover" // the leader handed leadership to another member before its reseed
	PhaseReseed   = "reseed"   // Reseed swapped the seed and rebooted the node
	PhaseDown     = "down"     // the member was seen going away (or restarted)
	PhaseHealthy  = "healthy"  // the member answers a read through raft again
	PhaseVoting   = "voting"   // the member is a voting member (not a learner)
	PhaseVersion  = "version"  // the member runs the seeds' etcd version
	PhaseCert     = "cert"     // the member serves the rebuilt seed's server certificate
	PhaseCluster  = "cluster"  // the whole cluster is healthy with quorum
)

// Options configure Run.
type Options struct {
	// Dir is the build's output folder: cluster.json (read with
	// outdir.Read), the admin certificate as etcdclient uses it, and
	// RecordFile.
	Dir string
	// Nodes to deliver, in this order. Empty: every node whose seed changed
	// since the last delivery (see RecordFile), in cluster.json's order with
	// the current leader last.
	Nodes []string
	// Reseed swaps the node's seed media for its rebuilt seed and reboots
	// it (hypervisor specific).
	Reseed func(ctx context.Context, node string) error
	// NodeTimeout is how long one node may take to come back healthy
	// (default DefaultNodeTimeout).
	NodeTimeout time.Duration
	// Log receives progress lines; may be nil.
	Log func(format string, args ...any)

	// Client tunes the cluster client (etcdclient's defaults when zero).
	Client etcdclient.Options
	// PollMax caps the backoff between two looks at a node coming back
	// (default 5s).
	PollMax time.Duration
}

// Step is one phase of one node, with how long it took.
type Step struct {
	Node  string        `json:"node"`
	Phase string        `json:"phase"`
	Took  time.Duration `json:"took"`
}

// Result is what Run did.
type Result struct {
	Steps []Step `json:"steps"`
	// Delivered: booted on their rebuilt seed and back, in order.
	Delivered []string `json:"delivered"`
	// Skipped: their recorded delivery is the seed cluster.json names.
	Skipped []string `json:"skipped"`
	// Remaining: chosen for delivery but not reached because an earlier
	// node failed (the failed node first).
	Remaining []string `json:"remaining,omitempty"`
	// Version is the etcd version of the rebuilt seeds.
	Version string `json:"etcdVersion"`
}

// Run delivers the rebuilt seeds. It refuses to start, touching nothing,
// unless the cluster is fully healthy and every member may move to the
// seeds' etcd version; it returns at the first node that fails, naming it
// and what it was waiting for. It is safe to re-run: delivered nodes are
// recorded and skipped.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = DefaultNodeTimeout
	}
	if o.PollMax <= 0 {
		o.PollMax = 5 * time.Second
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	res := &Result{Delivered: []string{}, Skipped: []string{}}
	c, err := outdir.Read(o.Dir)
	if err != nil {
		return res, err
	}
	res.Version = c.Version
	if _, err := parseVersion(c.Version); err != nil {
		return res, fmt.Errorf("%s: %w", filepath.Join(o.Dir, outdir.ClusterFile), err)
	}
	// The folder an operator names may be a link; the record is written,
	// and the lock taken, in the real folder (durable never goes through a
	// link).
	real := o.Dir
	if r, err := filepath.EvalSymlinks(o.Dir); err == nil {
		real = r
	}
	// Two rollouts at once would reboot two members at once, and a build
	// during a rollout would change seeds under it: the folder's lock (the
	// one build and attach take) keeps both out.
	unlock, err := durable.Lock(real, 2*time.Second, nil)
	if err != nil {
		return res, err
	}
	defer unlock()
	rec, err := ReadRecord(real)
	if err != nil {
		return res, err
	}

	var explicit []string
	if len(o.Nodes) > 0 {
		seen := map[string]bool{}
		for _, n := range o.Nodes {
			if _, ok := c.Node(n); !ok {
				return res, fmt.Errorf("node %s is not in %s (nodes: %s)", n, filepath.Join(o.Dir, outdir.ClusterFile), strings.Join(nodeNames(c), ", "))
			}
			if seen[n] {
				return res, fmt.Errorf("node %s is listed twice: one node is delivered once per run", n)
			}
			seen[n] = true
			explicit = append(explicit, n)
		}
	}

	cl, err := etcdclient.New(c, o.Client)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	r := &runner{o: o, c: c, cl: cl, logf: logf, res: res, rec: rec, dir: real}

	start := time.Now()
	st, err := cl.Status(ctx)
	if err != nil {
		return res, err
	}
	if err := Gate(c, st); err != nil {
		return res, fmt.Errorf("refusing to start, nothing was touched: %w", err)
	}
	if err := versionGate(c, st); err != nil {
		return res, fmt.Errorf("refusing to start, nothing was touched: %w", err)
	}

	order := explicit
	if order == nil {
		for _, n := range c.Nodes {
			if d, ok := rec.Nodes[n.Name]; ok && d.InstanceID == n.InstanceID {
				res.Skipped = append(res.Skipped, n.Name)
				continue
			}
			order = append(order, n.Name)
		}
		order = leaderLast(order, st.Leader)
	}
	if len(res.Skipped) > 0 {
		logf("skipping %s: already booted on the seed cluster.json names", strings.Join(res.Skipped, ", "))
	}
	if len(order) == 0 {
		logf("nothing to deliver: every node runs its current seed")
		return res, nil
	}
	for _, node := range order {
		if n, _ := c.Node(node); n.ISO == "" && n.VFAT == "" {
			return res, fmt.Errorf("refusing to start, nothing was touched: %s has no seed in %s (built with --no-iso, or only other nodes with --node): build its seed first",
				node, filepath.Join(o.Dir, outdir.ClusterFile))
		}
	}
	// The certificate each node must serve afterwards, read now: a PKI
	// folder that lacks one stops the rollout before its first node, not
	// in the middle.
	certs := map[string]*x509.Certificate{}
	if c.TLS && c.PKIDir != "" {
		for _, node := range order {
			want, err := serverCert(c.PKIDir, node)
			if err != nil {
				return res, fmt.Errorf("refusing to start, nothing was touched: %s: %w", node, err)
			}
			certs[node] = want
		}
	}
	if o.Reseed == nil {
		return res, errors.New("no way to reseed a node (Options.Reseed is nil)")
	}
	logf("delivering etcd %s seeds to %s, one at a time", c.Version, strings.Join(order, ", "))

	for i := 0; i < len(order); i++ {
		node := order[i]
		if i > 0 {
			start = time.Now()
			st, err = cl.Status(ctx)
			if err == nil {
				err = Gate(c, st)
			}
			if err != nil {
				res.Remaining = order[i:]
				return res, fmt.Errorf("%s not started: the cluster is not fully healthy: %w", node, err)
			}
			// Leadership moves when the leader reboots and sometimes on its
			// own: whoever leads now goes last, so the cluster sees as
			// few elections as possible.
			if explicit == nil && node == st.Leader && i < len(order)-1 {
				order = append(append(append([]string{}, order[:i]...), order[i+1:]...), node)
				node = order[i]
			}
		}
		r.step(node, PhaseGate, time.Since(start))
		if err := r.deliver(ctx, node, st, certs[node]); err != nil {
			res.Remaining = order[i:]
			return res, err
		}
		res.Delivered = append(res.Delivered, node)
	}
	return res, nil
}

func nodeNames(c *outdir.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// leaderLast moves the leader to the end of order, keeping the rest.
func leaderLast(order []string, leader string) []string {
	i := slices.Index(order, leader)
	if i < 0 {
		return order
	}
	return append(append(slices.Clone(order[:i]), order[i+1:]...), leader)
}

// Gate says why the cluster is not fit for taking one member away, or nil:
// every node of cluster.json must be a member, reachable, healthy and
// voting, no alarm raised, and the member list readable through raft.
// Taking a member away from such a cluster of three or more leaves a
// quorum; from anything less it might not.
func Gate(c *outdir.Cluster, st *etcdclient.Status) error {
	var why []string
	voting, healthyVoting := 0, 0
	for _, m := range st.Members {
		if m.Member && !m.Learner {
			voting++
			if m.Healthy {
				healthyVoting++
			}
		}
	}
	explained := map[string]bool{}
	for _, n := range c.Nodes {
		m, ok := memberRow(st, n.Name)
		switch {
		case !ok || !m.Member:
			why = append(why, fmt.Sprintf("%s is in cluster.json but not a member of the cluster", n.Name))
		case !m.Healthy:
			why = append(why, fmt.Sprintf("%s (%s) is not healthy: %s", n.Name, m.Endpoint, cmp.Or(m.Error, "no answer")))
		case m.ID == "":
			why = append(why, fmt.Sprintf("%s answers but is not in the member list", n.Name))
		case m.Learner:
			why = append(why, fmt.Sprintf("%s is a learner, not yet a voting member: wait until it is promoted", n.Name))
		default:
			continue
		}
		explained[n.Name] = true
	}
	for _, a := range st.Alarms {
		why = append(why, fmt.Sprintf("alarm %s raised on member %s", a.Alarm, cmp.Or(a.Member, a.MemberID)))
	}
	if voting > 0 && healthyVoting <= voting/2 {
		why = append(why, fmt.Sprintf("no quorum: %d of %d voting members healthy", healthyVoting, voting))
	}
	// Anything else status found: a served certificate that does not
	// verify, a member etcdimg does not know that is down, a member list
	// only one member's local view could give.
	for _, p := range st.Problems {
		if strings.HasPrefix(p, "alarm ") {
			continue
		}
		name, _, _ := strings.Cut(p, " ")
		if explained[strings.TrimSuffix(name, ":")] {
			continue
		}
		why = append(why, p)
	}
	if len(why) == 0 && !st.Healthy {
		why = append(why, "status reports the cluster unhealthy")
	}
	if len(why) > 0 {
		return errors.New(strings.Join(why, "; "))
	}
	return nil
}

func memberRow(st *etcdclient.Status, name string) (etcdclient.MemberStatus, bool) {
	for _, m := range st.Members {
		if m.Name == name {
			return m, true
		}
	}
	return etcdclient.MemberStatus{}, false
}

// versionGate checks every running member against the seeds' version;
// members with the same finding share one line.
func versionGate(c *outdir.Cluster, st *etcdclient.Status) error {
	var msgs []string
	who := map[string][]string{}
	for _, m := range st.Members {
		if !m.Member {
			continue
		}
		if err := CheckUpgrade(m.Version, c.Version); err != nil {
			if who[err.Error()] == nil {
				msgs = append(msgs, err.Error())
			}
			who[err.Error()] = append(who[err.Error()], m.Name)
		}
	}
	var why []string
	for _, msg := range msgs {
		why = append(why, strings.Join(who[msg], ", ")+": "+msg)
	}
	if len(why) > 0 {
		return errors.New(strings.Join(why, "; "))
	}
	return nil
}

type runner struct {
	o    Options
	c    *outdir.Cluster
	cl   *etcdclient.Client
	logf func(string, ...any)
	res  *Result
	rec  *Record
	dir  string // the real output folder
}

func (r *runner) step(node, phase string, took time.Duration) {
	r.res.Steps = append(r.res.Steps, Step{Node: node, Phase: phase, Took: took})
	r.logf("%s: %s (%s)", node, phase, took.Round(time.Millisecond))
}

// deliver reseeds one node and waits for it.
func (r *runner) deliver(ctx context.Context, node string, before *etcdclient.Status, want *x509.Certificate) error {
	n, _ := r.c.Node(node)
	m, _ := memberRow(before, node)
	// The member's process start time tells a member that already came
	// back from one that never went away, when the reseed (a VM reboot,
	// a process restart) is quicker than the first look.
	started, _ := r.startTime(ctx, n.Endpoint())

	// A leader that goes down takes the writes in flight with it until the
	// others notice and elect: it hands leadership over first (etcd would
	// try on SIGTERM, but a client waiting on the dying leader still times
	// out). Best effort: a refused handover leaves the old behaviour.
	if before != nil && before.Leader == node {
		t0 := time.Now()
		if to, name, ok := r.transferee(before, node); ok {
			if err := r.cl.MoveLeader(ctx, m.Endpoint, to); err != nil {
				r.logf("%s: could not hand leadership to %s first (%v); etcd hands it over when it stops", node, name, err)
			} else {
				r.logf("%s: handed leadership to %s", node, name)
			}
			r.step(node, PhaseHandover, time.Since(t0))
		}
	}

	t0 := time.Now()
	r.logf("%s: reseeding (member %s, %s)", node, m.ID, n.Endpoint())
	if err := r.o.Reseed(ctx, node); err != nil {
		r.step(node, PhaseReseed, time.Since(t0))
		return fmt.Errorf("%s: reseed failed: %w", node, err)
	}
	r.step(node, PhaseReseed, time.Since(t0))

	// Each look is bounded by the client's own timeouts, not by the
	// deadline: a look cut short by the deadline would see every member
	// unreachable, which is no evidence of anything.
	deadline := time.Now().Add(r.o.NodeTimeout)
	phases := []string{PhaseDown, PhaseHealthy, PhaseVoting, PhaseVersion}
	if want != nil {
		phases = append(phases, PhaseCert)
	}
	phases = append(phases, PhaseCluster)
	phase := 0
	mark := time.Now()
	wait := 200 * time.Millisecond
	var last string // what the last look saw, for the error
	for {
		st, err := r.cl.Status(ctx)
		if err != nil {
			last = err.Error()
		} else {
			for phase < len(phases) {
				ok, why := r.check(ctx, phases[phase], node, n, st, started, want)
				if !ok {
					last = why
					break
				}
				r.step(node, phases[phase], time.Since(mark))
				mark = time.Now()
				phase++
			}
		}
		if phase == len(phases) {
			break
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: stopped while waiting for %s: %w", node, describe(phases[phase]), err)
		}
		if !time.Now().Add(wait).Before(deadline) {
			return fmt.Errorf("%s did not come back within %s: waiting for %s; last seen: %s; the nodes after it were not touched",
				node, r.o.NodeTimeout, describe(phases[phase]), last)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(wait*3/2, r.o.PollMax)
	}
	r.rec.Nodes[node] = Delivered{InstanceID: n.InstanceID, EtcdVersion: r.c.Version, At: time.Now().UTC().Truncate(time.Second)}
	if err := r.rec.write(r.dir); err != nil {
		return fmt.Errorf("%s is back, but its delivery could not be recorded (a re-run reboots it again): %w", node, err)
	}
	r.logf("%s: delivered in %s", node, time.Since(t0).Round(time.Millisecond))
	return nil
}

// transferee picks who takes over from the leader: the node delivered
// last (it runs the new seed already), else any other healthy voting member.
func (r *runner) transferee(st *etcdclient.Status, leader string) (uint64, string, bool) {
	candidates := []string{}
	for i := len(r.res.Delivered) - 1; i >= 0; i-- {
		candidates = append(candidates, r.res.Delivered[i])
	}
	for _, m := range st.Members {
		candidates = append(candidates, m.Name)
	}
	for _, name := range candidates {
		m, ok := memberRow(st, name)
		if !ok || name == leader || !m.Member || m.Learner || !m.Healthy || m.MemberID() == 0 {
			continue
		}
		return m.MemberID(), name, true
	}
	return 0, "", false
}

func describe(phase string) string {
	switch phase {
	case PhaseDown:
		return "the node to go down (reboot)"
	case PhaseHealthy:
		return "the member to be healthy"
	case PhaseVoting:
		return "the member to be a voting member"
	case PhaseVersion:
		return "the member to run the seeds' etcd version"
	case PhaseCert:
		return "the member to serve the rebuilt seed's server certificate"
	case PhaseCluster:
		return "the whole cluster to be healthy with quorum"
	}
	return phase
}

// check says whether phase is reached and, if not, what was seen.
func (r *runner) check(ctx context.Context, phase, node string, n outdir.Node, st *etcdclient.Status, started float64, want *x509.Certificate) (bool, string) {
	m, ok := memberRow(st, node)
	switch phase {
	case PhaseDown:
		// Evidence that the node rebooted: its etcd does not answer, or it
		// answers as a process started after the reseed began. Without
		// this a node whose reboot had not begun yet (virsh returns before
		// the guest shuts down) would pass every later check on its old
		// seed.
		if started == 0 {
			if !ok || !m.Reachable {
				return true, ""
			}
			return false, fmt.Sprintf("%s still answers (its start time is unknown: /metrics unreadable before the reseed)", node)
		}
		now, err := r.startTime(ctx, n.Endpoint())
		if err != nil || now != started {
			return true, ""
		}
		return false, fmt.Sprintf("%s still answers, etcd not restarted", node)
	case PhaseHealthy:
		if !ok || !m.Member {
			return false, node + " is not a member"
		}
		if !m.Healthy {
			return false, fmt.Sprintf("%s: %s", node, cmp.Or(m.Error, "not healthy"))
		}
		return true, ""
	case PhaseVoting:
		if m.Learner {
			return false, node + " is a learner"
		}
		return true, ""
	case PhaseVersion:
		if m.Version != r.c.Version {
			return false, fmt.Sprintf("%s runs etcd %s, the seeds carry %s", node, m.Version, r.c.Version)
		}
		return true, ""
	case PhaseCert:
		got, verr, err := r.cl.Handshake(ctx, n.Endpoint())
		switch {
		case err != nil:
			return false, fmt.Sprintf("%s: TLS handshake: %v", node, err)
		case verr != nil:
			return false, fmt.Sprintf("%s serves a certificate that does not verify: %v", node, verr)
		case !bytes.Equal(got.Raw, want.Raw):
			return false, fmt.Sprintf("%s serves certificate serial %x (until %s), the rebuilt seed carries serial %x (until %s)",
				node, got.SerialNumber, got.NotAfter.UTC().Format(time.DateOnly), want.SerialNumber, want.NotAfter.UTC().Format(time.DateOnly))
		}
		return true, ""
	case PhaseCluster:
		if err := Gate(r.c, st); err != nil {
			return false, err.Error()
		}
		return true, ""
	}
	return false, "unknown phase " + phase
}

// serverCert is the node's server certificate in the PKI folder: what its
// rebuilt seed carries.
func serverCert(pkiDir, node string) (*x509.Certificate, error) {
	p := filepath.Join(pkiDir, "nodes", node, "server.crt")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("the rebuilt seed's server certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", p)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// startTime reads process_start_time_seconds from the member's /metrics
// on its client URL (etcd serves it there, behind the same client
// certificate check as the API).
func (r *runner) startTime(ctx context.Context, endpoint string) (float64, error) {
	tr := &http.Transport{TLSClientConfig: r.cl.TLS(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: r.cl.Options().RequestTimeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_start_time_seconds "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("/metrics: no process_start_time_seconds")
}
