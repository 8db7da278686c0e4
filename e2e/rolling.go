//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/rollout"
)

// The rolling upgrade (issue 15, end to end): a running cluster built with an
// older etcd gets seeds rebuilt with the newer release and renewed leaf
// certificates, and rollout.Run delivers them one node at a time (ACPI
// power-off, the rebuilt seed in the CD drive, boot) while a writer keeps
// writing through every endpoint.
//
// rollout.Run and the writer talk to the nodes with etcd's Go client, and
// the nodes are reachable only inside the scenario's network namespace,
// which a Go process cannot enter for all its threads. So they run in a
// driver: this test binary again, started inside the namespace with `ip
// netns exec` (TestMain hands it to rolloutDriver). The driver asks the test
// (which owns the VMs) for each reseed over its stdout/stdin and ends with
// one JSON result line: the rollout's steps, the writer's counts, what each
// member runs and serves afterwards.

// driverEnv selects the driver in TestMain; driverConfigEnv carries its
// configuration (JSON).
const (
	driverEnv       = "ETCDIMG_E2E_DRIVER"
	driverConfigEnv = "ETCDIMG_E2E_DRIVER_CONFIG"
)

// Rolling-upgrade limits: the goal is no failed write at all; the test fails
// beyond these, and when a gap this long says the cluster had no quorum.
const (
	// A quarter second resolves an unavailability well below a leader
	// election (5 s here); every write is TLS and raft work in three TCG
	// guests, which share the host's two cores with the booting node.
	rollWriteEvery     = 250 * time.Millisecond
	rollWriteTimeout   = 2 * time.Second
	rollMaxUnavailable = 30 * time.Second // summed over the windows with failed writes
	rollMaxGap         = 30 * time.Second // longest time without a successful write
	rollNodeTimeout    = 12 * time.Minute // one node: power-off, boot, converge, back voting
)

type driverConfig struct {
	Dir         string        `json:"dir"`
	KeyPrefix   string        `json:"keyPrefix"`
	NodeTimeout time.Duration `json:"nodeTimeout"`
}

// WriteFailure is one Put that did not succeed.
type WriteFailure struct {
	At     time.Time     `json:"at"`
	Took   time.Duration `json:"took"`
	During string        `json:"during"` // the node reseeded last before it, if any
	Err    string        `json:"err"`
}

// WriterStats is what the writer saw.
type WriterStats struct {
	Attempts, OK, Failed int
	// LongestGap is the longest time between two successful writes (from
	// the end of one to the end of the next), failed or not in between.
	LongestGap time.Duration
	// LongestGapAt is when that gap ended.
	LongestGapAt time.Time
	// Unavailable sums the gaps between successful writes that had a failed
	// write in them: how long writes were failing, all told.
	Unavailable time.Duration
	Failures    []WriteFailure // the first 50
	// Missing are acknowledged writes not found when reading back.
	Missing []string
	// Stored is how many of the writer's keys the cluster holds at the end
	// (acknowledged ones plus failed ones that committed after all).
	Stored int64
}

// MemberAfter is what one member runs and serves after the rollout.
type MemberAfter struct {
	Node       string `json:"node"`
	Version    string `json:"version"`
	MemberID   uint64 `json:"memberID"`
	Leader     uint64 `json:"leader"`
	ServedPEM  string `json:"servedPEM"`     // client endpoint's leaf
	PeerPEM    string `json:"peerServedPEM"` // peer endpoint's leaf
	Err        string `json:"err,omitempty"`
	IsLearner  bool   `json:"isLearner"`
	RaftTerm   uint64 `json:"raftTerm"`
	RaftIndex  uint64 `json:"raftIndex"`
	StatusFrom string `json:"statusFrom"`
}

type driverResult struct {
	Rollout    *rollout.Result `json:"rollout"`
	RolloutErr string          `json:"rolloutErr,omitempty"`
	Took       time.Duration   `json:"took"`
	Writer     WriterStats     `json:"writer"`
	Members    []MemberAfter   `json:"members"`
	Err        string          `json:"err,omitempty"` // the driver itself could not run
}

// rolloutDriver is the driver's main: it runs inside the namespace.
func rolloutDriver() int {
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	out := json.NewEncoder(os.Stdout)
	res := &driverResult{}
	emit := func() int {
		os.Stdout.WriteString("result ")
		_ = out.Encode(res)
		return 0
	}
	var cfg driverConfig
	if err := json.Unmarshal([]byte(os.Getenv(driverConfigEnv)), &cfg); err != nil {
		res.Err = fmt.Sprintf("%s: %v", driverConfigEnv, err)
		return emit()
	}
	c, err := outdir.Read(cfg.Dir)
	if err != nil {
		res.Err = err.Error()
		return emit()
	}
	tlsCfg, err := etcdclient.LoadTLS(c.Etcdctl)
	if err != nil {
		res.Err = err.Error()
		return emit()
	}
	// The writer's client: every endpoint, the admin certificate; short
	// keepalives so a member that vanished is noticed, not waited for.
	wc, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), TLS: tlsCfg, DialTimeout: rollWriteTimeout,
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		res.Err = err.Error()
		return emit()
	}
	defer wc.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &writer{cl: wc, prefix: cfg.KeyPrefix}
	wctx, stopWriter := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { defer close(wdone); w.run(wctx) }()
	// a baseline: the cluster takes writes before anything is touched
	if !w.waitFirst(60 * time.Second) {
		stopWriter()
		<-wdone
		res.Writer = w.stats()
		res.Err = "no write succeeded within 60 s before the rollout"
		return emit()
	}
	logf("writer: first write ok; rollout starts")

	in := bufio.NewScanner(os.Stdin)
	var ioMu sync.Mutex
	reseed := func(ctx context.Context, node string) error {
		ioMu.Lock()
		defer ioMu.Unlock()
		w.setDuring(node)
		fmt.Fprintf(os.Stdout, "reseed %s\n", node)
		if !in.Scan() {
			return fmt.Errorf("reseed %s: the test went away (%v)", node, in.Err())
		}
		if reply := in.Text(); reply != "ok" {
			return fmt.Errorf("reseed %s: %s", node, strings.TrimPrefix(reply, "err "))
		}
		return nil
	}
	start := time.Now()
	r, err := rollout.Run(ctx, rollout.Options{
		Dir: cfg.Dir, Reseed: reseed, NodeTimeout: cfg.NodeTimeout,
		Log: func(format string, a ...any) { logf("rollout: "+format, a...) },
	})
	res.Took = time.Since(start)
	res.Rollout = r
	if err != nil {
		res.RolloutErr = err.Error()
	}
	w.setDuring("")
	// a few more writes after the last node is back
	time.Sleep(3 * time.Second)
	stopWriter()
	<-wdone
	res.Writer = w.stats()
	res.Writer.Missing, res.Writer.Stored = w.readBack(ctx)
	res.Members = membersAfter(ctx, c)
	return emit()
}

// writer puts one key every rollWriteEvery through every endpoint.
type writer struct {
	cl     *clientv3.Client
	prefix string

	mu        sync.Mutex
	during    string
	seq       int
	acked     []string
	st        WriterStats
	lastOK    time.Time
	gapFailed bool
	first     chan struct{}
}

func (w *writer) setDuring(node string) {
	w.mu.Lock()
	w.during = node
	w.mu.Unlock()
}

func (w *writer) waitFirst(d time.Duration) bool {
	w.mu.Lock()
	if w.first == nil {
		w.first = make(chan struct{})
	}
	ch := w.first
	w.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func (w *writer) run(ctx context.Context) {
	w.mu.Lock()
	if w.first == nil {
		w.first = make(chan struct{})
	}
	w.mu.Unlock()
	tick := time.NewTicker(rollWriteEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.mu.Lock()
		w.seq++
		key := fmt.Sprintf("%s%08d", w.prefix, w.seq)
		w.mu.Unlock()
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, rollWriteTimeout)
		_, err := w.cl.Put(pctx, key, start.UTC().Format(time.RFC3339Nano))
		cancel()
		if ctx.Err() != nil && err != nil {
			return // stopped mid-write: neither counted
		}
		end := time.Now()
		w.mu.Lock()
		w.st.Attempts++
		if err == nil {
			w.st.OK++
			w.acked = append(w.acked, key)
			if w.lastOK.IsZero() {
				close(w.first)
			} else {
				gap := end.Sub(w.lastOK)
				if gap > w.st.LongestGap {
					w.st.LongestGap, w.st.LongestGapAt = gap, end
				}
				if w.gapFailed {
					w.st.Unavailable += gap
				}
			}
			w.lastOK, w.gapFailed = end, false
		} else {
			w.st.Failed++
			w.gapFailed = !w.lastOK.IsZero()
			if len(w.st.Failures) < 50 {
				w.st.Failures = append(w.st.Failures, WriteFailure{At: start, Took: end.Sub(start), During: w.during, Err: err.Error()})
			}
		}
		w.mu.Unlock()
	}
}

func (w *writer) stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	st.Failures = append([]WriteFailure(nil), w.st.Failures...)
	return st
}

// readBack lists the writer's keys: every acknowledged one must be there.
func (w *writer) readBack(ctx context.Context) (missing []string, stored int64) {
	w.mu.Lock()
	acked := append([]string(nil), w.acked...)
	w.mu.Unlock()
	var resp *clientv3.GetResponse
	var err error
	for i := 0; i < 5; i++ {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err = w.cl.Get(gctx, w.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		cancel()
		if err == nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		return []string{"(reading back failed: " + err.Error() + ")"}, -1
	}
	have := map[string]bool{}
	for _, kv := range resp.Kvs {
		have[string(kv.Key)] = true
	}
	for _, k := range acked {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	return missing, int64(len(resp.Kvs))
}

// membersAfter asks each member itself for its status (version, member ID)
// and reads the leaf certificate its client and peer URLs serve.
func membersAfter(ctx context.Context, c *outdir.Cluster) []MemberAfter {
	ec, err := etcdclient.New(c, etcdclient.Options{DialTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second})
	if err != nil {
		return []MemberAfter{{Err: err.Error()}}
	}
	defer ec.Close()
	var out []MemberAfter
	for _, n := range c.Nodes {
		m := MemberAfter{Node: n.Name, StatusFrom: n.Endpoint()}
		var errs []string
		var st *clientv3.StatusResponse
		for i := 0; i < 10; i++ { // a member just restarted may need a moment
			mc, err := ec.Member(n.Endpoint())
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				st, err = mc.Maintenance.Status(sctx, n.Endpoint())
				cancel()
				mc.Close()
			}
			if err == nil {
				break
			}
			if i == 9 {
				errs = append(errs, "status: "+err.Error())
			}
			time.Sleep(3 * time.Second)
		}
		if st != nil {
			m.Version, m.MemberID, m.Leader, m.IsLearner = st.Version, st.Header.MemberId, st.Leader, st.IsLearner
			m.RaftTerm, m.RaftIndex = st.RaftTerm, st.RaftIndex
		}
		for _, ep := range []struct {
			url string
			dst *string
		}{{n.Endpoint(), &m.ServedPEM}, {peerURLOf(n), &m.PeerPEM}} {
			hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			cert, verifyErr, err := ec.Handshake(hctx, ep.url)
			cancel()
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("handshake %s: %v", ep.url, err))
			case verifyErr != nil:
				errs = append(errs, fmt.Sprintf("handshake %s: served certificate does not verify: %v", ep.url, verifyErr))
				fallthrough
			default:
				*ep.dst = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
			}
		}
		m.Err = strings.Join(errs, "; ")
		out = append(out, m)
	}
	return out
}

// peerURLOf is the node's peer URL on its own IP (not loopback).
func peerURLOf(n outdir.Node) string {
	ip := strings.SplitN(n.IP, "/", 2)[0]
	for _, u := range n.PeerURLs {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() == ip {
			return u
		}
	}
	if len(n.PeerURLs) > 0 {
		return n.PeerURLs[0]
	}
	return ""
}

// ---------------------------------------------------------------------------
// the test's side

// RollingUpgrade renews every leaf certificate (new keys), rebuilds the
// scenario's spec with newRel, and delivers the rebuilt seeds with
// rollout.Run while the driver's writer writes; then it checks that every
// member runs newRel's version and serves its renewed certificates, that
// no old certificate or key is left on any node, and that the data (key,
// the members' IDs, every acknowledged write) survived. prev are the
// reports of the boot before (boot count, SSH host keys).
func (s *Scenario) RollingUpgrade(spec string, newRel *Release, prev map[string]*Report, key, val string) {
	t := s.T
	t.Helper()
	oldRel := s.Rel
	oldIID := map[string]string{}
	for _, n := range s.Info.Nodes {
		oldIID[n.Name] = n.InstanceID
	}
	idsBefore := s.memberIDs()
	pkiDir := filepath.Join(s.Work, "pki")
	oldPKI := filepath.Join(s.Work, "pki-before-renew")
	if err := copyTree(pkiDir, oldPKI, nil); err != nil {
		t.Fatal(err)
	}

	// New keys, not only new certificates: the renewed set is what must be
	// left on the nodes, and with kept keys the old private keys would stay
	// the nodes' keys, so "the old material is gone" could not be shown; it
	// also proves the converge replaces a certificate and its key together
	// (a mismatched pair would keep etcd from starting).
	start := time.Now()
	out, err := hostRun(s, EtcdimgBin(t), "certs", "renew", s.SeedDir, "--new-keys")
	if err != nil {
		t.Fatalf("etcdimg certs renew --new-keys: %v\n%s", err, out)
	}
	s.Phase("certs renew --new-keys", time.Since(start))
	t.Logf("etcdimg certs renew %s --new-keys:\n%s", s.SeedDir, indent(strings.TrimSpace(out)))

	s.Rel = newRel
	before := s.SeedSums()
	s.Rebuild(spec)
	after := s.SeedSums()
	for _, n := range s.Info.Nodes {
		if n.InstanceID == oldIID[n.Name] {
			t.Errorf("node %s: check instance-id: the rebuild with etcd %s and renewed certificates kept instance-id %q", n.Name, newRel.Version, n.InstanceID)
		}
		if seed, _ := n.Seed(); before[seed] == after[seed] {
			t.Errorf("node %s: check seed-changed: %s is byte-identical after the rebuild", n.Name, seed)
		}
		t.Logf("node %s: instance-id %s -> %s", n.Name, oldIID[n.Name], n.InstanceID)
	}
	if t.Failed() {
		t.FailNow()
	}

	res := s.runRolloutDriver(s.reseed)
	s.logRolling(res, oldRel, newRel)

	// the converge boots' reports: a new instance that ran the seed again
	reps := s.WaitReports()
	for _, vm := range s.VMs {
		n := s.Node(vm.Name)
		// the instance the node ran before: cluster.json's, or the harness's
		// NewerSeed copy's for the node RestartSeeds gave one
		was := n
		was.InstanceID = oldIID[n.Name]
		if r := prev[n.Name]; r != nil && r.Section("instance-id").Text() != "" {
			was.InstanceID = r.Section("instance-id").Text()
		}
		for _, f := range CheckRestartedNode(s.Info, s.Rel, s.Base.Variant, was, SeedNewer, n.InstanceID, prev[n.Name], reps[n.Name]) {
			t.Error(f)
		}
		t.Logf("ROLLING converge steps %s (journal, boot %d): %s", n.Name, vm.Boot(), convergeSteps(reps[n.Name]))
	}

	s.checkMembersAfter(res, newRel)
	s.checkNodeFiles(oldPKI, pkiDir)
	s.WaitHealthy(2 * time.Minute)
	s.CheckMembers()
	idsAfter := s.memberIDs()
	for name, id := range idsBefore {
		if idsAfter[name] != id {
			t.Errorf("node %s: check member-id: %x before the rollout, %x after (the member must keep its data and identity)", name, id, idsAfter[name])
		}
	}
	s.CheckKeyEverywhere(key, val)
	s.PutEverywhere()
}

// hostRun runs a command on the host (not in the namespace) and returns
// its output.
func hostRun(s *Scenario, bin string, args ...string) (string, error) {
	cmd := osexec.Command(bin, args...)
	cmd.Dir = repoRoot(s.T)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// memberIDs maps member names to IDs, as the first node lists them.
func (s *Scenario) memberIDs() map[string]uint64 {
	ms, err := s.MemberList(s.Info.Nodes[0])
	if err != nil {
		s.T.Fatalf("member list: %v", err)
	}
	ids := map[string]uint64{}
	for _, m := range ms {
		ids[m.Name] = m.ID
	}
	return ids
}

// runRolloutDriver starts the driver inside the namespace and serves its
// reseed requests with reseed (s.reseed: ACPI power-off, the node's rebuilt
// seed in the CD drive, boot).
func (s *Scenario) runRolloutDriver(reseed func(node string) error) *driverResult {
	t := s.T
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(driverConfig{Dir: s.SeedDir, KeyPrefix: fmt.Sprintf("/e2e/rolling/%d/", time.Now().UnixNano()), NodeTimeout: rollNodeTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(s.VMs)+1)*rollNodeTimeout)
	defer cancel()
	cmd := s.Net.CmdContext(ctx, exe)
	cmd.Env = append(os.Environ(), driverEnv+"=rollout", driverConfigEnv+"="+string(cfg))
	// `ip netns exec` execs the driver in its place: it dies with the test
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile, _ := os.Create(filepath.Join(s.Work, "rolling-driver.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("rollout driver: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the driver's log (rollout's progress) into the test log
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if logFile != nil {
				fmt.Fprintf(logFile, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), sc.Text())
			}
			t.Logf("driver: %s", sc.Text())
		}
	}()
	var res *driverResult
	start := time.Now()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "reseed "):
			node := strings.TrimPrefix(line, "reseed ")
			reply := "ok"
			if err := reseed(node); err != nil {
				reply = "err " + strings.ReplaceAll(err.Error(), "\n", " ")
			}
			_, _ = io.WriteString(stdin, reply+"\n")
		case strings.HasPrefix(line, "result "):
			res = &driverResult{}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "result ")), res); err != nil {
				t.Fatalf("rollout driver result: %v\n%s", err, line)
			}
		default:
			t.Logf("driver (stdout): %s", line)
		}
	}
	stdin.Close()
	wg.Wait()
	werr := cmd.Wait()
	if logFile != nil {
		logFile.Close()
	}
	s.Phase("rolling delivery (all nodes)", time.Since(start))
	if res == nil {
		t.Fatalf("rollout driver ended without a result: %v", werr)
	}
	if res.Err != "" {
		t.Fatalf("rollout driver: %s", res.Err)
	}
	return res
}

// reseed is the hypervisor part of a rollout step, as an operator's
// `virsh shutdown; virsh change-media; virsh start` would be.
func (s *Scenario) reseed(node string) error {
	vm := s.VM(node)
	seed, format := s.Node(node).Seed()
	if format != FormatISO {
		return fmt.Errorf("node %s: seed format %s, the rolling test swaps ISOs", node, format)
	}
	start := time.Now()
	clean, err := vm.Shutdown(2 * time.Minute)
	if err != nil {
		return err
	}
	if !clean {
		return fmt.Errorf("node %s: no ACPI power-off within 2m (killed)", node)
	}
	s.Phase("rolling acpi-poweroff "+node, time.Since(start))
	vm.SetSeed(s.Info.path(seed))
	if err := vm.Start(); err != nil {
		return err
	}
	s.T.Logf("node %s: boot %d with its rebuilt seed %s", node, vm.Boot(), vm.Seed)
	return nil
}

// logRolling logs the driver's numbers (lines prefixed ROLLING, to quote)
// and fails the test when writes failed too long or the rollout failed.
func (s *Scenario) logRolling(res *driverResult, oldRel, newRel *Release) {
	t := s.T
	t.Helper()
	w := res.Writer
	t.Logf("ROLLING etcd %s -> %s, leaf certificates renewed (new keys), %d nodes, rollout took %s",
		oldRel.Version, newRel.Version, len(s.Info.Nodes), res.Took.Round(100*time.Millisecond))
	if r := res.Rollout; r != nil {
		t.Logf("ROLLING delivered %v, skipped %v", r.Delivered, r.Skipped)
		for _, st := range r.Steps {
			t.Logf("ROLLING step %-6s %-8s %s", st.Node, st.Phase, st.Took.Round(100*time.Millisecond))
		}
	}
	t.Logf("ROLLING writes: %d attempted every %s (timeout %s), %d ok, %d FAILED; longest without a successful write %s; unavailable (gaps with failed writes) %s in all; keys stored %d",
		w.Attempts, rollWriteEvery, rollWriteTimeout, w.OK, w.Failed, w.LongestGap.Round(10*time.Millisecond), w.Unavailable.Round(10*time.Millisecond), w.Stored)
	for _, f := range w.Failures {
		t.Logf("ROLLING failed write at %s (took %s, last node reseeded %q): %s", f.At.UTC().Format("15:04:05.000"), f.Took.Round(time.Millisecond), f.During, f.Err)
	}
	if res.RolloutErr != "" {
		t.Errorf("check rollout: rollout.Run: %s", res.RolloutErr)
	}
	if r := res.Rollout; r != nil && len(r.Delivered) != len(s.Info.Nodes) {
		t.Errorf("check rollout: delivered %v (skipped %v), want all %d nodes", r.Delivered, r.Skipped, len(s.Info.Nodes))
	}
	if w.Unavailable > rollMaxUnavailable {
		t.Errorf("check writes: writes failed for %s in all (limit %s)", w.Unavailable.Round(10*time.Millisecond), rollMaxUnavailable)
	}
	if w.LongestGap > rollMaxGap {
		t.Errorf("check quorum: no write succeeded for %s (ending %s; limit %s): the cluster lost quorum", w.LongestGap.Round(10*time.Millisecond), w.LongestGapAt.UTC().Format("15:04:05"), rollMaxGap)
	}
	if len(w.Missing) > 0 {
		t.Errorf("check writes: %d acknowledged writes missing afterwards, e.g. %v", len(w.Missing), w.Missing[:min(5, len(w.Missing))])
	}
	if w.OK == 0 {
		t.Errorf("check writes: no write succeeded")
	}
}

// checkMembersAfter: every member answers for itself with the new version,
// as a voting member, and its client and peer URLs serve its renewed
// server and peer certificates (the PKI's current files).
func (s *Scenario) checkMembersAfter(res *driverResult, newRel *Release) {
	t := s.T
	t.Helper()
	pkiDir := filepath.Join(s.Work, "pki")
	seen := map[string]bool{}
	for _, m := range res.Members {
		seen[m.Node] = true
		if m.Err != "" {
			t.Errorf("node %s: check member-after: %s", m.Node, m.Err)
		}
		if m.Version != newRel.Version {
			t.Errorf("node %s: check version: member runs etcd %q, want %s", m.Node, m.Version, newRel.Version)
		}
		if m.IsLearner {
			t.Errorf("node %s: check voting: still a learner", m.Node)
		}
		for _, c := range []struct{ port, served, file string }{
			{"client", m.ServedPEM, "server.crt"}, {"peer", m.PeerPEM, "peer.crt"},
		} {
			want, err := readCert(filepath.Join(pkiDir, "nodes", m.Node, c.file))
			if err != nil {
				t.Errorf("node %s: %v", m.Node, err)
				continue
			}
			got, err := parseCertPEM(c.served)
			if err != nil || !got.Equal(want) {
				serial := "?"
				if got != nil {
					serial = got.SerialNumber.Text(16)
				}
				t.Errorf("node %s: check served-cert: the %s URL serves serial %s (%v), want the renewed %s (serial %s)", m.Node, c.port, serial, err, c.file, want.SerialNumber.Text(16))
			}
		}
		t.Logf("ROLLING after: %s runs etcd %s (member %x, leader %x, term %d, index %d), serves renewed server and peer certificates", m.Node, m.Version, m.MemberID, m.Leader, m.RaftTerm, m.RaftIndex)
	}
	for _, n := range s.Info.Nodes {
		if !seen[n.Name] {
			t.Errorf("node %s: check member-after: the driver did not report it", n.Name)
		}
	}
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCertPEM(string(b))
}

func parseCertPEM(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// checkNodeFiles logs in to every node (SSH, sudo): the files in
// /etc/etcd/pki are the PKI's current ones, byte for byte, and no file on
// the node (outside etcd's data dir and the pseudo file systems) holds any
// line of the node's old certificates or keys.
func (s *Scenario) checkNodeFiles(oldPKI, newPKI string) {
	t := s.T
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	for _, n := range s.Info.Nodes {
		newFiles, err := os.ReadDir(filepath.Join(newPKI, "nodes", n.Name))
		if err != nil {
			t.Fatal(err)
		}
		// lines only the old material has (the CA's and the new files'
		// lines excluded: a shared header line is no witness)
		shared := map[string]bool{}
		wantSum := map[string]string{}
		for _, f := range append([]string{filepath.Join(newPKI, "ca.crt")}, pathsIn(filepath.Join(newPKI, "nodes", n.Name), newFiles)...) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range pemBodyLines(b) {
				shared[l] = true
			}
			wantSum[filepath.Base(f)] = sha256Hex(b)
		}
		var patterns []string
		oldFiles, _ := os.ReadDir(filepath.Join(oldPKI, "nodes", n.Name))
		for _, f := range pathsIn(filepath.Join(oldPKI, "nodes", n.Name), oldFiles) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range pemBodyLines(b) {
				if !shared[l] && len(l) >= 40 {
					patterns = append(patterns, l)
				}
			}
		}
		if len(patterns) == 0 {
			t.Fatalf("node %s: no line of the old certificates and keys differs from the new ones: the renewal changed nothing", n.Name)
		}
		// the glob is root's to expand: /etc/etcd/pki is etcd's alone
		out, err := s.SSH(ctx, "debian", n, "sudo sh -c 'sha256sum /etc/etcd/pki/*'")
		if err != nil {
			t.Errorf("node %s: check pki-files: %v\n%s", n.Name, err, out)
		} else {
			got := map[string]string{}
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) == 2 {
					got[filepath.Base(f[1])] = f[0]
				}
			}
			for name, sum := range wantSum {
				if got[name] != sum {
					t.Errorf("node %s: check pki-files: /etc/etcd/pki/%s sha256 %q, the PKI's current file has %s", n.Name, name, got[name], sum)
				}
			}
			for name := range got {
				if wantSum[name] == "" {
					t.Errorf("node %s: check pki-files: /etc/etcd/pki/%s is not a file of the node's current PKI", n.Name, name)
				}
			}
		}
		// The pattern file is excluded from the search itself.
		const pat = "/run/etcdimg-e2e-old-pem"
		script := fmt.Sprintf("sudo sh -c 'printf \"%%s\\n\" %s > %s; find /etc /var /root /home /tmp /run /usr/local /opt /srv -xdev \\( -path /var/lib/etcd -o -path %s \\) -prune -o -type f -size -8M -print0 2>/dev/null | xargs -0 -r grep -lsF -f %s; rm -f %s; true'",
			strings.Join(patterns, " "), pat, pat, pat, pat)
		out, err = s.SSH(ctx, "debian", n, script)
		if err != nil {
			t.Errorf("node %s: check old-certs-gone: %v\n%s", n.Name, err, out)
		} else if out != "" {
			t.Errorf("node %s: check old-certs-gone: files still holding the old certificates or keys:\n%s", n.Name, indent(out))
		} else {
			t.Logf("node %s: no file holds any of the %d lines of its old certificates and keys", n.Name, len(patterns))
		}
	}
	s.Phase("ssh file checks", time.Since(start))
}

// convergeLineRE is any "etcdimg: <what> <seconds>s" line: the converge's
// steps name more than one word ("converge 3.5.21->3.6.16",
// "restart (changed: ...)").
var convergeLineRE = regexp.MustCompile(`etcdimg: (.+?) ([0-9]+(?:\.[0-9]+)?)s$`)

// convergeSteps are this boot's "etcdimg:" timings from the journal, each
// once (the seed's script logs to cloud-init's output and the journal).
func convergeSteps(r *Report) string {
	if r == nil {
		return ""
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range r.Section("etcdimg-steps-journal").Lines {
		if m := convergeLineRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil && !seen[m[0]] {
			seen[m[0]] = true
			out = append(out, m[1]+" "+m[2]+"s")
		}
	}
	return strings.Join(out, "  ")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func pathsIn(dir string, es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		if e.Type().IsRegular() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// pemBodyLines are the base64 lines of every PEM block in b.
func pemBodyLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "-----") || strings.Contains(l, ":") {
			continue
		}
		out = append(out, l)
	}
	return out
}
