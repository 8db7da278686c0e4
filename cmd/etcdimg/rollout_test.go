package main

import (
	"encoding/json"
	"fmt"
	"github.com/etcdimg/etcdimg/rollout"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/clustertest"
	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/outdir"
)

// supervise restarts any member whose process ended, as systemd (and a VM
// booting again) would, and keeps DIR/<node>.pid current, so a --via exec
// command can "reboot" a member by killing it. It stops when the test ends.
func supervise(t *testing.T, cl *clustertest.Cluster, pids string) {
	var mu sync.Mutex
	writePid := func(m *clustertest.Member) {
		os.WriteFile(filepath.Join(pids, m.Name+".pid"), []byte(fmt.Sprint(m.Proc.Pid())), 0o644)
	}
	for _, m := range cl.Members {
		writePid(m)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			mu.Lock()
			for _, m := range cl.Members {
				if !m.Running() {
					m.Proc = etcdtest.Start(t, cl.Bins.Etcd, m.Args)
					writePid(m)
				}
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// TestRolloutCommand runs `etcdimg rollout DIR --via exec` against a real
// three-member TLS cluster whose reseed command restarts the member (kill,
// and the supervisor starts it again): every node delivered, the leader
// last, the command told the node, its seed and DIR; a re-run delivers
// nothing; a reseed command that fails stops the rollout at that node with
// exit 1 and the later nodes named as untouched.
func TestRolloutCommand(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c, err := outdir.Read(cl.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Nodes {
		c.Nodes[i].ISO = c.Nodes[i].Name + ".iso"
	}
	if err := outdir.Write(cl.Dir, c); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	supervise(t, cl, work)
	log := filepath.Join(work, "reseeded")
	reseed := filepath.Join(work, "reseed.sh")
	os.WriteFile(reseed, []byte(`#!/bin/sh
set -eu
echo "$1 $ETCDIMG_NODE $ETCDIMG_SEED $ETCDIMG_DIR" >>`+log+`
[ "$1" != "${FAIL_NODE:-}" ] || { echo "cannot reach the hypervisor" >&2; exit 3; }
kill -TERM "$(cat `+work+`/"$1".pid)"
`), 0o755)

	code, out, errs := runCmd(t, "status", cl.Dir, "-o", "json")
	var st struct{ Leader string }
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Leader == "" {
		t.Fatalf("status: exit %d %v\n%s%s", code, err, out, errs)
	}

	start := time.Now()
	code, out, errs = runCmd(t, "rollout", cl.Dir, "--via", "exec", "--exec", reseed, "--node-timeout", "1m", "-o", "json")
	t.Logf("etcdimg rollout (%s):\n%s\n%s", time.Since(start).Round(time.Millisecond), out, errs)
	if code != 0 {
		t.Fatalf("rollout: exit %d", code)
	}
	var res struct {
		OK        bool
		Delivered []string
		Skipped   []string
		Nodes     []struct {
			Node   string
			Phases map[string]string
			Took   string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Delivered) != 3 || res.Delivered[2] != st.Leader || len(res.Nodes) != 3 {
		t.Fatalf("rollout: %+v; want three nodes delivered, the leader %s last", res, st.Leader)
	}
	for _, n := range res.Nodes {
		for _, p := range rolloutPhases {
			// Only the leader hands leadership over.
			if _, ok := n.Phases[p]; !ok && (p != rollout.PhaseHandover || n.Node == st.Leader) {
				t.Errorf("%s: no %s phase in %v", n.Node, p, n.Phases)
			}
		}
	}
	b, _ := os.ReadFile(log)
	var told []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		abs, _ := filepath.Abs(cl.Dir)
		if len(f) != 4 || f[0] != f[1] || f[2] != filepath.Join(abs, f[0]+".iso") || f[3] != abs {
			t.Errorf("reseed command got %q", l)
		}
		told = append(told, f[0])
	}
	if !slices.Equal(told, res.Delivered) {
		t.Errorf("reseed command ran for %v, delivered %v", told, res.Delivered)
	}
	if !strings.Contains(errs, "etcdimg rollout: "+st.Leader+": delivered in ") {
		t.Errorf("no progress line for %s on stderr", st.Leader)
	}

	code, out, errs = runCmd(t, "rollout", cl.Dir, "--via", "exec", "--exec", reseed)
	if code != 0 || !strings.Contains(out, "skipped (already booted on their current seed): etcd01, etcd02, etcd03") || !strings.Contains(out, "nothing to deliver") {
		t.Fatalf("re-run: exit %d\n%s%s", code, out, errs)
	}

	os.Remove(log)
	t.Setenv("FAIL_NODE", "etcd02")
	code, out, errs = runCmd(t, "rollout", cl.Dir, "--via", "exec", "--exec", reseed, "--nodes", "etcd01,etcd02,etcd03")
	t.Logf("failing rollout:\n%s\n%s", out, errs)
	if code != 1 || !strings.Contains(errs, "etcd02: reseed failed: --exec") || !strings.Contains(errs, "exit status 3") ||
		!strings.Contains(errs, "not touched: etcd03\n") || !strings.Contains(errs, "fix etcd02, then continue with --nodes etcd02,etcd03\n") {
		t.Fatalf("failing reseed: exit %d", code)
	}
	if !regexpMatch(`(?m)^etcd01 .* delivered$`, out) || !regexpMatch(`(?m)^etcd02 .* FAILED$`, out) || strings.Contains(out, "etcd03") {
		t.Errorf("report of the failed rollout:\n%s", out)
	}
	if b, _ := os.ReadFile(log); strings.Count(string(b), "\n") != 2 {
		t.Errorf("reseed command ran %q, want etcd01 and etcd02 only", b)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
