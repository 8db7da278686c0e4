package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/clustertest"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestStatusCommand runs `etcdimg status DIR` against a real three-member
// TLS cluster with a learner, then with one member killed: the exit code,
// the table and the JSON must say the same thing.
func TestStatusCommand(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	cl.Put("k/", 100, 100)
	cl.AddLearner("etcd04", true)

	var code int
	var out, errs string
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, out, errs = runCmd(t, "status", cl.Dir)
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("etcdimg status:\n%s", out)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, re := range []string{
		`(?m)^cluster ct\d+  id [0-9a-f]+  leader etcd0[123]  4 members  healthy$`,
		`(?m)^NAME +ID +ROLE +HEALTH +TERM +INDEX +APPLIED +DB SIZE +IN USE +QUOTA +VERSION +CERT EXPIRES +PEER URLS +CLIENT URLS$`,
		`(?m)^etcd0[123] +[0-9a-f]+ +leader +healthy `,
		`(?m)^etcd04 +[0-9a-f]+ +learner \d+% +healthy `,
		`(?m)^etcd01 .* 2\.0 GiB \(\d+%\) +3\.6\.16 +\d{4}-\d\d-\d\d \(36[45]d\) +https://127\.0\.0\.11:\d+ +https://127\.0\.0\.11:\d+$`,
		`(?m)^alarms: none$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table does not match %s", re)
		}
	}
	if n := strings.Count(out, " follower "); n != 2 {
		t.Errorf("%d followers in the table", n)
	}

	code, out, errs = runCmd(t, "status", cl.Dir, "-o", "json")
	var st etcdclient.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || errs != "" {
		t.Fatalf("-o json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	if !st.Healthy || len(st.Members) != 4 || st.Leader == "" {
		t.Errorf("json: %+v", st)
	}

	// etcd02 may have been the leader: give the others the moment an
	// election takes, so the only problem left is the dead member.
	cl.Kill("etcd02")
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, out, errs = runCmd(t, "status", cl.Dir)
		if strings.Count(out, " healthy ") == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("etcdimg status, etcd02 down:\n%s", out)
	if code != 1 {
		t.Errorf("exit %d with a member down", code)
	}
	for _, re := range []string{
		`(?m)^cluster ct\d+  id [0-9a-f]+  leader etcd0[134]  4 members  UNHEALTHY$`,
		`(?m)^etcd02 +[0-9a-f]+ +- +unreachable +- +- +- +- +- +- +- +- +https://127\.0\.0\.12:\d+ +https://127\.0\.0\.12:\d+$`,
		`(?m)^problems:\n  etcd02 \(https://127\.0\.0\.12:\d+\): unreachable: dial tcp 127\.0\.0\.12:\d+: connect: connection refused$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table does not match %s", re)
		}
	}
	code, out, _ = runCmd(t, "status", cl.Dir, "--output=json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 1 || st.Healthy {
		t.Errorf("-o json with a member down: exit %d healthy %v %v", code, st.Healthy, err)
	}
}

func TestStatusUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"status"}, 2, "want exactly one argument"},
		{[]string{"status", dir, "-o", "yaml"}, 2, "want table or json"},
		{[]string{"status", dir}, 1, "no such file; is " + dir + " an output folder"},
		{[]string{"status", "--help"}, 0, "Usage: etcdimg status DIR"},
	} {
		code, out, errs := runCmd(t, tc.args...)
		if tc.code == 0 {
			// --help goes to stdout (issue 11.9).
			errs = out
		}
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("etcdimg %v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.msg, errs)
		}
	}
}

func TestCertExpiryColumn(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		cert *etcdclient.Cert
		want string
	}{
		{nil, "-"},
		{&etcdclient.Cert{NotAfter: now.Add(365 * 24 * time.Hour)}, "2027-12-01 (365d)"},
		{&etcdclient.Cert{NotAfter: now.Add(30 * time.Hour)}, "2026-12-02 (30h)"},
		{&etcdclient.Cert{NotAfter: now.Add(-time.Hour), Error: "x509: certificate has expired"}, "2026-12-01 EXPIRED"},
		{&etcdclient.Cert{NotAfter: now.Add(90 * 24 * time.Hour), Error: "x509: certificate signed by unknown authority"}, "2027-03-01 (90d) INVALID"},
	} {
		if got := certExpiry(tc.cert, now); got != tc.want {
			t.Errorf("certExpiry(%+v) = %q, want %q", tc.cert, got, tc.want)
		}
	}
	for b, want := range map[int64]string{0: "-", 512: "512 B", 36864: "36 KiB", 7000096: "6.7 MiB", 2 << 30: "2.0 GiB"} {
		if got := size(b); got != want {
			t.Errorf("size(%d) = %q, want %q", b, got, want)
		}
	}
}
