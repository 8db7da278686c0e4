package report

import (
	"strings"
	"testing"
)

// A key from the spec can hold anything; printed, it must stay one line and
// never read as a finding of its own.
func TestJoinQuotesKeys(t *testing.T) {
	for _, tc := range []struct{ base, key, want string }{
		{"nodes[1]", "ip", "nodes[1].ip"},
		{"", "name", "name"},
		{"etcd.extraFlags", "--log-level", "etcd.extraFlags.--log-level"},
		{"etcd.extraFlags", "experimental.x", "etcd.extraFlags.experimental.x"},
		{"etcd.extraFlags", "a\nerror: b", `etcd.extraFlags["a\nerror: b"]`},
		{"", "x y", `["x y"]`},
		{"etcd", "", `etcd[""]`},
		{"tls", `"`, `tls["\""]`},
	} {
		if got := Join(tc.base, tc.key); got != tc.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.base, tc.key, got, tc.want)
		}
	}
	var r Report
	r.Errorf(Join("etcd.extraFlags", "a\nerror: fake"), "unknown field")
	if s := r.String(); strings.Count(s, "\n") != 1 || strings.Count(s, "error:") != 2 || !strings.HasPrefix(s, `error: etcd.extraFlags["a\nerror: fake"]: `) {
		t.Errorf("report %q", s)
	}
}

func TestEntryIsOneLine(t *testing.T) {
	e := Entry{Error, "a\nb", "x\nerror: y\r"}
	if got := e.String(); got != `error: a\nb: x\nerror: y\r` {
		t.Errorf("%q", got)
	}
}
