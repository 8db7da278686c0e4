package rollout

import (
	"strings"
	"testing"
)

func TestCheckUpgrade(t *testing.T) {
	for _, tc := range []struct {
		running, target string
		want            string // substring of the error; empty: allowed
	}{
		{"3.6.16", "3.6.16", ""},
		{"3.6.15", "3.6.16", ""},
		{"3.5.21", "3.6.16", ""},
		{"3.5.21", "3.6.0", ""},
		{"3.5.21", "3.6.0-rc.1", ""},
		{"v3.5.21", "3.6.16", ""},
		{"3.6.16", "3.5.21", "is a downgrade"},
		{"3.6.16", "3.6.15", "is a downgrade"},
		{"3.6.16", "3.5.21", "etcd.version 3.6.16"},
		{"3.5.21", "3.7.0", "skips 3.6"},
		{"3.5.21", "3.7.0", "one minor version at a time"},
		{"3.4.30", "3.6.16", "etcd.version 3.5.x"},
		{"3.6.16", "4.0.0", "major version change"},
		{"2.3.8", "3.0.0", "major version change"},
		{"", "3.6.16", "running etcd version"},
		{"3.6.16", "3.6", "rebuilt seeds' etcd version"},
		{"3.6.16", "3.x.1", "not MAJOR.MINOR.PATCH"},
	} {
		err := CheckUpgrade(tc.running, tc.target)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s -> %s: refused: %v", tc.running, tc.target, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s -> %s: allowed, want refusal with %q", tc.running, tc.target, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s -> %s: %v; want it to say %q", tc.running, tc.target, err, tc.want)
		}
	}
}
