// Package etcdflags knows the command-line flags of the etcd server for each
// supported minor version, so an operator's extra etcd flags can be checked
// before a node image is built rather than when etcd refuses to start on it.
//
// The tables are generated from etcd's own flag registrations (see gen/), one
// pinned patch release per minor; flags do not change within a minor.
package etcdflags

//go:generate go run ./gen

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is how etcd parses a flag's value.
type Kind int

const (
	String Kind = iota
	Bool
	Int
	Uint
	Duration
	Float
	// StringSlice is a comma-separated list of free-form strings.
	StringSlice
	// URLs is a comma-separated list of http(s)://host:port or unix(s)://
	// URLs; Flag.Values lists literals accepted instead (e.g. "*" for cors).
	URLs
	// Enum is one of Flag.Values.
	Enum
	// EnumList is a comma-separated list drawn from Flag.Values.
	EnumList
	// FeatureGates is Gate=true|false pairs separated by commas; Flag.Values
	// lists the gates this version knows.
	FeatureGates
	// Ignored flags are pre-v3 leftovers etcd accepts with any value (or
	// none) and only warns about.
	Ignored
)

var kindNames = [...]string{
	String: "string", Bool: "bool", Int: "int", Uint: "uint", Duration: "duration",
	Float: "float", StringSlice: "string list", URLs: "URL list", Enum: "enum",
	EnumList: "enum list", FeatureGates: "feature gates", Ignored: "ignored",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Flag describes one etcd server flag in one minor version.
type Flag struct {
	Name string
	Kind Kind
	// Bits bounds Int and Uint values (etcd's max-concurrent-streams is a
	// uint32, everything else 64-bit on the platforms we build for).
	Bits int
	// Values: see the Kind constants.
	Values []string
	// Deprecated is empty for current flags, otherwise etcd's own
	// deprecation condensed, e.g. "deprecated in v3.6, to be removed in
	// v3.7; use --snapshot-catchup-entries".
	Deprecated string
	// Documented reports whether `etcd --help` lists the flag; etcd accepts
	// a few undocumented ones.
	Documented bool
	// Managed is the spec field through which etcdimg sets this flag itself
	// (see Managed); empty when the operator may pass it.
	Managed string
}

type table struct {
	version string
	flags   []Flag // sorted by name
	// helpOnly are names `etcd --help` documents but etcd does not register
	// (stale help text); etcd rejects them, so they are not in flags.
	helpOnly []string
}

func (t *table) find(name string) (Flag, bool) {
	i := sort.Search(len(t.flags), func(i int) bool { return t.flags[i].Name >= name })
	if i < len(t.flags) && t.flags[i].Name == name {
		return t.flags[i], true
	}
	return Flag{}, false
}

// Lookup returns the flag called name in etcd minor ("3.5", "3.6", "3.7").
// Leading dashes are tolerated because operators copy flags from etcd docs.
func Lookup(minor, name string) (Flag, bool) {
	t, ok := tables[minor]
	if !ok {
		return Flag{}, false
	}
	f, ok := t.find(strings.TrimLeft(name, "-"))
	if !ok {
		return Flag{}, false
	}
	f.Managed, _ = Managed(f.Name)
	return f, true
}

// Names returns all flag names of minor, sorted; nil for an unknown minor.
func Names(minor string) []string {
	t, ok := tables[minor]
	if !ok {
		return nil
	}
	names := make([]string, len(t.flags))
	for i, f := range t.flags {
		names[i] = f.Name
	}
	return names
}

// Minors returns the supported minor versions, sorted.
func Minors() []string {
	ms := make([]string, 0, len(tables))
	for m := range tables {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return lessMinor(ms[i], ms[j]) })
	return ms
}

// lessMinor compares numerically so that a future "3.10" sorts after "3.9".
func lessMinor(a, b string) bool {
	am, an, _ := strings.Cut(a, ".")
	bm, bn, _ := strings.Cut(b, ".")
	if am != bm {
		return atoi(am) < atoi(bm)
	}
	return atoi(an) < atoi(bn)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Version returns the etcd release minor's table was generated from, e.g.
// "v3.6.16", or "" for an unknown minor.
func Version(minor string) string {
	if t, ok := tables[minor]; ok {
		return t.version
	}
	return ""
}

// MinorOf maps an etcd version such as "3.6.16" or "v3.6.0-rc.1" to the
// minor used by the other functions.
func MinorOf(version string) string {
	v := strings.TrimPrefix(version, "v")
	major, rest, ok := strings.Cut(v, ".")
	if !ok {
		return ""
	}
	minor, _, _ := strings.Cut(rest, ".")
	return major + "." + minor
}

// Suggest returns the known flag of minor closest to name, or "" when none
// is within an edit distance of 3. Ignored legacy flags are never suggested
// (they do nothing), and a suggestion must keep at least one character of
// name, so that "x" does not turn into "name".
func Suggest(minor, name string) string {
	t, ok := tables[minor]
	if !ok {
		return ""
	}
	name = strings.ToLower(strings.TrimLeft(name, "-"))
	best, bestDist, bestDep := "", 4, true
	for _, f := range t.flags {
		if f.Kind == Ignored {
			continue
		}
		d := distance(name, f.Name)
		if d >= len(name) {
			continue
		}
		dep := f.Deprecated != ""
		// Flags are sorted, so on a tie the first name wins unless a later
		// one is not deprecated.
		if d < bestDist || (d == bestDist && bestDep && !dep) {
			best, bestDist, bestDep = f.Name, d, dep
		}
	}
	return best
}

// distance is the optimal-string-alignment edit distance: Levenshtein plus
// adjacent transpositions, the commonest typing slip.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// CheckValue reports whether etcd would accept value for f. It follows the
// parsers etcd uses (Go's flag package and etcd's pkg/flags), so it accepts
// what etcd accepts, e.g. "1" for a bool or "0x10" for an int.
func CheckValue(f Flag, value string) error {
	bad := func(expect string) error {
		return fmt.Errorf("--%s expects %s, got %q", f.Name, expect, value)
	}
	bits := f.Bits
	if bits == 0 {
		bits = 64
	}
	switch f.Kind {
	case Bool:
		if _, err := strconv.ParseBool(value); err != nil {
			return bad("true or false")
		}
	case Int:
		if _, err := strconv.ParseInt(value, 0, bits); err != nil {
			return bad(fmt.Sprintf("an integer (%d-bit)", bits))
		}
	case Uint:
		if _, err := strconv.ParseUint(value, 0, bits); err != nil {
			return bad(fmt.Sprintf("a non-negative integer (%d-bit)", bits))
		}
	case Duration:
		if _, err := time.ParseDuration(value); err != nil {
			return bad(`a duration with a unit, such as "500ms", "5s" or "1h"`)
		}
	case Float:
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return bad("a number")
		}
	case Enum:
		if !contains(f.Values, value) {
			return bad("one of " + quoteList(f.Values))
		}
	case EnumList:
		for _, v := range strings.Split(value, ",") {
			if !contains(f.Values, v) {
				return bad("a comma-separated list of " + quoteList(f.Values))
			}
		}
	case URLs:
		if contains(f.Values, value) {
			return nil
		}
		for _, u := range strings.Split(value, ",") {
			if why := checkURL(strings.TrimSpace(u)); why != "" {
				return fmt.Errorf("--%s expects a comma-separated list of URLs such as http://10.0.0.1:2379: %s", f.Name, why)
			}
		}
	case FeatureGates:
		return checkGates(f, value)
	}
	return nil
}

// checkURL mirrors etcd's types.NewURLs.
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "http", "https":
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return fmt.Sprintf("%q has no host:port", s)
		}
		if u.Path != "" {
			return fmt.Sprintf("%q must not have a path", s)
		}
	case "unix", "unixs":
	default:
		return fmt.Sprintf("%q must use http, https, unix or unixs", s)
	}
	return ""
}

// checkGates mirrors etcd's featureGate.Set; LockToDefault is not checked
// because no etcd gate uses it.
func checkGates(f Flag, value string) error {
	for _, kv := range strings.Split(value, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return fmt.Errorf("--%s expects Gate=true|false pairs, got %q without a value", f.Name, k)
		}
		if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("--%s expects Gate=true|false pairs, got %q", f.Name, kv)
		}
		if !contains(f.Values, k) {
			return fmt.Errorf("--%s: unknown feature gate %q, expected one of %s", f.Name, k, strings.Join(f.Values, ", "))
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, v := range list {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}
