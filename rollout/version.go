package rollout

import (
	"fmt"
	"strconv"
	"strings"
)

// version is an etcd release number; pre-release suffixes (3.6.0-rc.1)
// are ignored: they order with their release, which is all the gate needs.
type version struct{ major, minor, patch int }

func (v version) String() string      { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }
func (v version) minorString() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func parseVersion(s string) (version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return version{}, fmt.Errorf("etcd version %q is not MAJOR.MINOR.PATCH", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return version{}, fmt.Errorf("etcd version %q is not MAJOR.MINOR.PATCH", s)
		}
		n[i] = v
	}
	return version{n[0], n[1], n[2]}, nil
}

// CheckUpgrade says whether a member running etcd `running` may be
// restarted on etcd `target` in a rolling delivery. etcd supports exactly
// two things there: the same version (a restart, a patch upgrade) and the
// next minor version, one member after the other, the cluster version
// following once every member runs it. A downgrade is refused: a member on
// an older binary than the data it wrote (its storage version) does not
// start, and etcd's own downgrade is a separate, cluster-wide procedure
// (etcdctl downgrade validate/enable). A skipped minor (3.5 to 3.7) and a
// major change are refused too: etcd tests and supports upgrades only from
// the previous minor.
func CheckUpgrade(running, target string) error {
	r, err := parseVersion(running)
	if err != nil {
		return fmt.Errorf("running %w", err)
	}
	t, err := parseVersion(target)
	if err != nil {
		return fmt.Errorf("rebuilt seeds' %w", err)
	}
	switch {
	case t == r:
		return nil
	case t.major != r.major:
		return fmt.Errorf("etcd %s to %s is a major version change, which etcd does not support as a rolling upgrade", r, t)
	case t.minor < r.minor || t.minor == r.minor && t.patch < r.patch:
		return fmt.Errorf("etcd %s to %s is a downgrade; a rolling delivery only keeps or raises the version (etcd's downgrade is its own procedure: etcdctl downgrade validate %s, then enable, before the binaries change); rebuild the seeds with etcd.version %s",
			r, t, t.minorString(), r)
	case t.minor == r.minor || t.minor == r.minor+1:
		return nil
	default:
		next := version{r.major, r.minor + 1, 0}
		return fmt.Errorf("etcd %s to %s skips %s: etcd upgrades one minor version at a time; rebuild the seeds with etcd.version %s.x, roll them out, then rebuild with %s and roll out again",
			r, t, next.minorString(), next.minorString(), t)
	}
}
