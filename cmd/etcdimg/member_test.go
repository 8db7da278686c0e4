package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/clustertest"
)

// TestMemberRemoveCommand walks `etcdimg member remove` through a real
// three-member TLS cluster: with etcd03 dead, removing a healthy member
// and an unknown name are refused; the dead one is removed (dry run
// first), and again says already removed; then the leader of the two left
// is removed with leadership handed over; the last member is refused.
func TestMemberRemoveCommand(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	cl.Kill("etcd03")

	code, out, errs := runCmd(t, "member", "remove", cl.Dir, "etcd01")
	if code != 1 || out != "" || !regexp.MustCompile(`refused: removing etcd01 would leave 2 voting members, of which 1 healthy, fewer than their quorum of 2; unhealthy: etcd03 \(unreachable: dial tcp 127\.0\.0\.13:\d+: connect: connection refused\)\n.*nothing was changed\n$`).MatchString(errs) {
		t.Errorf("remove a healthy member with one dead: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = runCmd(t, "member", "remove", cl.Dir, "etcd9")
	if code != 1 || !strings.Contains(errs, `"etcd9" is neither a member nor a node of cluster.json (known: etcd01, etcd02, etcd03)`) {
		t.Errorf("remove an unknown name: exit %d\n%s", code, errs)
	}

	code, out, errs = runCmd(t, "member", "remove", cl.Dir, "etcd03", "--dry-run")
	if code != 0 || !regexp.MustCompile(`^would remove member etcd03 \(id [0-9a-f]+\)\nthe cluster would have 2 members now \(2 voting, quorum 2, 2 of them healthy\)\ndry run: nothing was changed\n$`).MatchString(out) {
		t.Errorf("dry run: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "member", "remove", cl.Dir, "etcd03")
	t.Logf("etcdimg member remove %s etcd03:\n%s", cl.Dir, out)
	if code != 0 || !regexp.MustCompile(`^removed member etcd03 \(id [0-9a-f]+\)\nthe cluster has 2 members now \(2 voting, quorum 2, 2 of them healthy\)\nnext: take etcd03 out of the spec`).MatchString(out) {
		t.Errorf("remove the dead member: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "member", "remove", cl.Dir, "etcd03")
	if code != 0 || out != "etcd03 is not a member of the cluster: already removed; nothing to do (2 members)\n" {
		t.Errorf("remove again: exit %d\n%s%s", code, out, errs)
	}

	_, out, _ = runCmd(t, "status", cl.Dir, "-o", "json")
	var st etcdclient.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Leader == "" {
		t.Fatalf("status: %v\n%s", err, out)
	}
	code, out, errs = runCmd(t, "member", "remove", cl.Dir, st.Leader)
	t.Logf("etcdimg member remove %s %s:\n%s", cl.Dir, st.Leader, out)
	if code != 0 || !regexp.MustCompile(`^removed member `+st.Leader+` \(id [0-9a-f]+\), the leader: leadership moved to etcd0[12] first\nthe cluster has 1 member now \(1 voting, quorum 1, 1 of them healthy\)\n`).MatchString(out) {
		t.Errorf("remove the leader: exit %d\n%s%s", code, out, errs)
	}
	last := "etcd01"
	if st.Leader == last {
		last = "etcd02"
	}
	code, _, errs = runCmd(t, "member", "remove", cl.Dir, last)
	if code != 1 || !strings.Contains(errs, "refused: "+last+" is the last member") {
		t.Errorf("remove the last member: exit %d\n%s", code, errs)
	}
	// status now: the removed nodes are still in cluster.json, shown as
	// not members; the one member left is healthy, so exit 0.
	code, out, _ = runCmd(t, "status", cl.Dir)
	if code != 0 || len(regexp.MustCompile(`(?m)^etcd0[123] +- +not a member `).FindAllString(out, -1)) != 2 {
		t.Errorf("status after removals: exit %d\n%s", code, out)
	}
}

func TestMemberUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"member"}, 2, "etcdimg member remove DIR NODE"},
		{[]string{"member", "add"}, 2, `unknown subcommand "add"`},
		{[]string{"member", "remove", "dir"}, 2, "want 2 arguments, got 1 (dir)"},
		{[]string{"member", "remove", "--bogus", "dir", "n1"}, 2, "etcdimg member remove: unknown flag: --bogus\n\nUsage: etcdimg member remove DIR NODE"},
		{[]string{"member", "remove", t.TempDir(), "n1"}, 1, "no such file"},
	} {
		code, _, errs := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("etcdimg %v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.msg, errs)
		}
	}
}

func TestMemberRemoveHelpOnStdout(t *testing.T) {
	code, out, errs := runCmd(t, "member", "remove", "--help")
	if code != 0 || errs != "" || !strings.HasPrefix(out, "Usage: etcdimg member remove DIR NODE") || !strings.Contains(out, "--dry-run") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}
