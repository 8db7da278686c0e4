package etcdflags

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/etcdtest"
)

func TestMinors(t *testing.T) {
	want := []string{"3.5", "3.6", "3.7"}
	if got := Minors(); !slices.Equal(got, want) {
		t.Fatalf("Minors() = %v, want %v", got, want)
	}
	for _, m := range want {
		if v := Version(m); !strings.HasPrefix(v, "v"+m+".") {
			t.Errorf("Version(%q) = %q", m, v)
		}
	}
	if Version("3.4") != "" || Names("3.4") != nil {
		t.Error("3.4 should be unknown")
	}
}

func TestMinorOf(t *testing.T) {
	for in, want := range map[string]string{"3.6.16": "3.6", "v3.7.0-rc.0": "3.7", "v3.5": "3.5", "3": ""} {
		if got := MinorOf(in); got != want {
			t.Errorf("MinorOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNamesSortedAndUnique(t *testing.T) {
	for _, m := range Minors() {
		names := Names(m)
		if len(names) < 100 {
			t.Errorf("%s: only %d flags", m, len(names))
		}
		if !sort.StringsAreSorted(names) {
			t.Errorf("%s: names not sorted", m)
		}
		for i := 1; i < len(names); i++ {
			if names[i] == names[i-1] {
				t.Errorf("%s: duplicate %q", m, names[i])
			}
		}
		for _, n := range names {
			if _, ok := Lookup(m, n); !ok {
				t.Errorf("%s: Lookup(%q) failed for a listed name", m, n)
			}
		}
	}
}

// presence is what etcd's source says about a flag in 3.5, 3.6 and 3.7:
// "" absent, "ok" current, anything else a substring of Flag.Deprecated.
type presence [3]string

func TestLookupAcrossVersions(t *testing.T) {
	cases := map[string]presence{
		"snapshot-count":     {"ok", "ok", "ok"},
		"name":               {"ok", "ok", "ok"},
		"heartbeat-interval": {"ok", "ok", "ok"},
		// The v2 API and v2 proxy are gone in 3.6.
		"enable-v2":                {"to be removed in v3.6", "", ""},
		"experimental-enable-v2v3": {"to be removed in v3.6", "", ""},
		"proxy":                    {"to be removed in v3.6", "", ""},
		"proxy-dial-timeout":       {"to be removed in v3.6", "", ""},
		// 3.6 graduated the experimental flags and 3.7 dropped the old names.
		"experimental-snapshot-catchup-entries":       {"ok", "use --snapshot-catchup-entries", ""},
		"snapshot-catchup-entries":                    {"", "ok", "ok"},
		"experimental-initial-corrupt-check":          {"ok", "use --feature-gates=InitialCorruptCheck=true", ""},
		"experimental-enable-lease-checkpoint":        {"ok", "use --feature-gates=LeaseCheckpoint=true", ""},
		"experimental-compaction-sleep-interval":      {"ok", "deprecated in v3.6, to be removed in v3.7; use --compaction-sleep-interval", ""},
		"experimental-enable-distributed-tracing":     {"ok", "use --enable-distributed-tracing", ""},
		"experimental-warning-unary-request-duration": {"", "use --warning-unary-request-duration", ""},
		"compaction-batch-limit":                      {"", "ok", "ok"},
		"feature-gates":                               {"", "ok", "ok"},
		"log-format":                                  {"", "ok", "ok"},
		"max-learners":                                {"", "ok", "ok"},
		"discovery-endpoints":                         {"", "ok", "ok"},
		// v2 discovery: only announced as deprecated in 3.6, removed in 3.7.
		"discovery":       {"ok", "ok", ""},
		"discovery-proxy": {"ok", "ok", ""},
		"max-snapshots":   {"ok", "to be removed in v3.8", "to be removed in v3.8"},
		"v2-deprecation":  {"ok", "to be removed in v3.8", "to be removed in v3.8"},
		// Pre-v3 leftovers that etcd still swallows.
		"snapshot": {"ignored", "ignored", "ignored"},
		"v":        {"ignored", "ignored", "ignored"},
	}
	for name, want := range cases {
		for i, m := range []string{"3.5", "3.6", "3.7"} {
			f, ok := Lookup(m, name)
			switch {
			case want[i] == "" && ok:
				t.Errorf("%s: %q should not exist, got %+v", m, name, f)
			case want[i] == "":
			case !ok:
				t.Errorf("%s: %q not found", m, name)
			case want[i] == "ok" && f.Deprecated != "":
				t.Errorf("%s: %q unexpectedly deprecated: %q", m, name, f.Deprecated)
			case want[i] != "ok" && !strings.Contains(f.Deprecated, want[i]):
				t.Errorf("%s: %q Deprecated = %q, want it to contain %q", m, name, f.Deprecated, want[i])
			}
		}
	}
}

func TestNoExperimentalFlagsIn37(t *testing.T) {
	for _, n := range Names("3.7") {
		if strings.HasPrefix(n, "experimental-") {
			t.Errorf("3.7 still has %q", n)
		}
	}
}

func TestDeprecatedWording(t *testing.T) {
	for _, m := range Minors() {
		for _, n := range Names(m) {
			f, _ := Lookup(m, n)
			if f.Deprecated != "" && !strings.HasPrefix(f.Deprecated, "deprecated") && !strings.HasPrefix(f.Deprecated, "ignored") {
				t.Errorf("%s %s: Deprecated = %q", m, n, f.Deprecated)
			}
			// A replacement must itself exist in the same version.
			if _, r, ok := strings.Cut(f.Deprecated, "use --"); ok {
				r, _, _ = strings.Cut(r, "=")
				if _, ok := Lookup(m, r); !ok {
					t.Errorf("%s %s: replacement --%s does not exist", m, n, r)
				}
			}
		}
	}
}

func TestLookupDetails(t *testing.T) {
	cases := []struct {
		minor, name string
		kind        Kind
		bits        int
		values      []string
	}{
		{"3.6", "heartbeat-interval", Uint, 64, nil},
		{"3.6", "quota-backend-bytes", Int, 64, nil},
		{"3.6", "max-concurrent-streams", Uint, 32, nil},
		{"3.6", "grpc-keepalive-min-time", Duration, 0, nil},
		{"3.6", "enable-pprof", Bool, 0, nil},
		{"3.6", "log-level", String, 0, nil},
		{"3.6", "cipher-suites", StringSlice, 0, nil},
		{"3.6", "listen-client-urls", URLs, 0, []string{""}},
		{"3.6", "cors", URLs, 0, []string{"*"}},
		{"3.5", "initial-cluster-state", Enum, 0, []string{"new", "existing"}},
		{"3.5", "discovery-fallback", Enum, 0, []string{"proxy", "exit"}},
		// 3.6 still parses "proxy" but refuses to start with it.
		{"3.6", "discovery-fallback", Enum, 0, []string{"exit"}},
		{"3.6", "v2-deprecation", EnumList, 0, []string{"write-only", "write-only-skip-check", "write-only-drop-data", "gone"}},
		{"3.7", "snapshot", Ignored, 0, nil},
	}
	for _, c := range cases {
		f, ok := Lookup(c.minor, c.name)
		if !ok {
			t.Errorf("%s %s: not found", c.minor, c.name)
			continue
		}
		if f.Kind != c.kind || f.Bits != c.bits || !slices.Equal(f.Values, c.values) {
			t.Errorf("%s %s = %v/%d/%q, want %v/%d/%q", c.minor, c.name, f.Kind, f.Bits, f.Values, c.kind, c.bits, c.values)
		}
	}
	if f, ok := Lookup("3.6", "--snapshot-count"); !ok || f.Name != "snapshot-count" {
		t.Errorf("leading dashes: %+v %v", f, ok)
	}
	fg, _ := Lookup("3.7", "feature-gates")
	for _, g := range []string{"AllAlpha", "InitialCorruptCheck", "PriorityRequest"} {
		if !slices.Contains(fg.Values, g) {
			t.Errorf("3.7 feature-gates lacks %s: %v", g, fg.Values)
		}
	}
	if fg, _ := Lookup("3.6", "feature-gates"); slices.Contains(fg.Values, "PriorityRequest") {
		t.Error("PriorityRequest is new in 3.7")
	}
}

func TestManaged(t *testing.T) {
	for name, want := range map[string]string{
		"heartbeat-interval": "etcd.heartbeatIntervalMs",
		"name":               "nodes[].name",
		"data-dir":           "etcd.dataDir",
		"peer-cert-file":     "tls",
		"tls-min-version":    "tls.minVersion",
		// maintenance settings have fields of their own
		"auto-compaction-mode":      "etcd.autoCompaction.mode",
		"auto-compaction-retention": "etcd.autoCompaction.retention",
		"quota-backend-bytes":       "etcd.quotaBackendBytes",
	} {
		if got, ok := Managed(name); !ok || got != want {
			t.Errorf("Managed(%q) = %q, %v; want %q", name, got, ok, want)
		}
		if f, _ := Lookup("3.6", name); f.Managed != want {
			t.Errorf("Lookup(3.6, %q).Managed = %q, want %q", name, f.Managed, want)
		}
	}
	for _, name := range []string{"snapshot-count", "listen-metrics-urls", "auto-compaction-sleep-interval"} {
		if _, ok := Managed(name); ok {
			t.Errorf("Managed(%q) should be false", name)
		}
	}
	// A typo in the managed list would silently let the real flag through.
	for name := range managed {
		for _, m := range Minors() {
			if _, ok := Lookup(m, name); !ok {
				t.Errorf("managed flag %q does not exist in %s", name, m)
			}
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, m := range Minors() {
		if got := Suggest(m, "snapshot-cont"); got != "snapshot-count" {
			t.Errorf("%s: Suggest(snapshot-cont) = %q", m, got)
		}
	}
	cases := []struct{ minor, in, want string }{
		{"3.6", "election-timoeut", "election-timeout"}, // transposition
		{"3.6", "--heartbeat_intervall", "heartbeat-interval"},
		{"3.6", "Log-Level", "log-level"},
		{"3.7", "experimental-snapshot-catchup-entries", ""}, // too far
		{"3.7", "enable-distributed-tracin", "enable-distributed-tracing"},
		{"3.6", "qqqqqqqqqqqq", ""},
		{"3.6", "x", ""}, // "v" is ignored, "name" shares nothing
		{"3.9", "snapshot-cont", ""},
	}
	for _, c := range cases {
		if got := Suggest(c.minor, c.in); got != c.want {
			t.Errorf("Suggest(%s, %q) = %q, want %q", c.minor, c.in, got, c.want)
		}
	}
}

func TestCheckValue(t *testing.T) {
	cases := []struct {
		minor, name, value string
		wantErr            string // "" means valid
	}{
		{"3.6", "enable-pprof", "true", ""},
		{"3.6", "enable-pprof", "false", ""},
		{"3.6", "enable-pprof", "yes", "expects true or false"},
		{"3.6", "snapshot-count", "10000", ""},
		{"3.6", "snapshot-count", "-1", "expects a non-negative integer"},
		{"3.6", "snapshot-count", "1e4", "expects a non-negative integer"},
		{"3.6", "quota-backend-bytes", "-1", ""},
		{"3.6", "quota-backend-bytes", "8GiB", "expects an integer"},
		{"3.6", "max-concurrent-streams", "4294967295", ""},
		{"3.6", "max-concurrent-streams", "4294967296", "32-bit"},
		{"3.6", "grpc-keepalive-min-time", "5s", ""},
		{"3.6", "grpc-keepalive-min-time", "0", ""},
		{"3.6", "grpc-keepalive-min-time", "5", "expects a duration"},
		{"3.6", "log-level", "anything", ""},
		{"3.6", "cipher-suites", "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384", ""},
		{"3.6", "initial-cluster-state", "existing", ""},
		{"3.6", "initial-cluster-state", "old", `expects one of "new", "existing"`},
		{"3.6", "discovery-fallback", "proxy", `expects one of "exit"`},
		{"3.6", "v2-deprecation", "write-only,gone", ""},
		{"3.6", "v2-deprecation", "not-yet", "comma-separated list"},
		{"3.6", "listen-metrics-urls", "http://0.0.0.0:2381", ""},
		{"3.6", "listen-metrics-urls", "http://10.0.0.1:2381,https://[::1]:2382", ""},
		{"3.6", "listen-metrics-urls", "unix://localhost:1234", ""},
		{"3.6", "listen-metrics-urls", "", ""},
		{"3.6", "listen-metrics-urls", "http://10.0.0.1", "has no host:port"},
		{"3.6", "listen-metrics-urls", "http://10.0.0.1:2381/metrics", "must not have a path"},
		{"3.6", "listen-metrics-urls", "10.0.0.1:2381", "is not a URL"},
		{"3.6", "listen-metrics-urls", "tcp://10.0.0.1:2381", "must use http, https, unix or unixs"},
		{"3.6", "cors", "*", ""},
		{"3.6", "feature-gates", "InitialCorruptCheck=true,CompactHashCheck=false", ""},
		{"3.6", "feature-gates", "AllAlpha=true", ""},
		{"3.6", "feature-gates", "PriorityRequest=true", `unknown feature gate "PriorityRequest"`},
		{"3.7", "feature-gates", "PriorityRequest=true", ""},
		{"3.6", "feature-gates", "InitialCorruptCheck", "without a value"},
		{"3.6", "feature-gates", "InitialCorruptCheck=on", "expects Gate=true|false pairs"},
		{"3.6", "snapshot", "whatever", ""},
	}
	for _, c := range cases {
		f, ok := Lookup(c.minor, c.name)
		if !ok {
			t.Errorf("%s %s: not found", c.minor, c.name)
			continue
		}
		err := CheckValue(f, c.value)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("CheckValue(%s, %q) = %v, want nil", c.name, c.value, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("CheckValue(%s, %q) = nil, want error containing %q", c.name, c.value, c.wantErr)
		case err != nil && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("CheckValue(%s, %q) = %v, want it to contain %q", c.name, c.value, err, c.wantErr)
		case err != nil && strings.ToLower(err.Error()[:1]) != err.Error()[:1]:
			t.Errorf("error not lower-case: %v", err)
		}
	}
}

// TestHelpText compares the table with what a real etcd binary documents.
// It needs one: ETCDFLAGS_ETCD=/path/to/etcd go test ./internal/etcdflags
func TestHelpText(t *testing.T) {
	bin := etcdBinary(t)
	ver, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`etcd Version: (\S+)`).FindSubmatch(ver)
	if m == nil {
		t.Fatalf("cannot read version from %q", ver)
	}
	minor := MinorOf(string(m[1]))
	help, _ := exec.Command(bin, "--help").CombinedOutput() // exits 0 in 3.5+, but be lenient
	documented := map[string]bool{}
	for _, mm := range regexp.MustCompile(`(?m)^ {2}--([a-z0-9][a-z0-9.-]*)`).FindAllSubmatch(help, -1) {
		documented[string(mm[1])] = true
	}
	if len(documented) < 50 {
		t.Fatalf("only %d flags in --help output:\n%s", len(documented), help)
	}
	for n := range documented {
		if _, ok := Lookup(minor, n); !ok && !slices.Contains(tables[minor].helpOnly, n) {
			t.Errorf("%s --help documents --%s, which the table lacks", m[1], n)
		}
	}
	for _, n := range Names(minor) {
		f, _ := Lookup(minor, n)
		if f.Documented != documented[n] {
			t.Errorf("--%s: Documented = %v, but --help says %v", n, f.Documented, documented[n])
		}
	}
}

// TestAgainstBinary makes the etcd binary itself judge one good and, where
// CheckValue rejects anything, one bad value per flag: etcd parses every flag
// before acting on --version, so "--flag=value --version" exits 0 exactly
// when etcd accepts the flag and the value.
func TestAgainstBinary(t *testing.T) {
	bin := etcdBinary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	minor := MinorOf(string(regexp.MustCompile(`etcd Version: (\S+)`).FindSubmatch(out)[1]))
	accepts := func(arg string) bool {
		return exec.Command(bin, arg, "--version").Run() == nil
	}
	if accepts("--no-such-flag=1") {
		t.Fatal("etcd accepted an unknown flag; the probe does not work")
	}
	for _, n := range Names(minor) {
		f, _ := Lookup(minor, n)
		good, bad := "x", ""
		switch f.Kind {
		case Bool:
			good, bad = "true", "maybe"
		case Int:
			good, bad = "-1", "1.5"
		case Uint:
			good, bad = "1", "-1"
		case Duration:
			good, bad = "1s", "5"
		case Float:
			good, bad = "1.5", "x"
		case URLs:
			good, bad = "http://127.0.0.1:1", "http://127.0.0.1"
		case Enum, EnumList:
			good, bad = f.Values[0], "bogus"
		case FeatureGates:
			good, bad = f.Values[0]+"=false", "NoSuchGate=true"
		}
		if err := CheckValue(f, good); err != nil {
			t.Errorf("CheckValue(%s, %q) = %v", n, good, err)
		}
		if !accepts("--" + n + "=" + good) {
			t.Errorf("etcd %s rejects --%s=%s", minor, n, good)
		}
		if bad == "" {
			continue
		}
		if CheckValue(f, bad) == nil {
			t.Errorf("CheckValue(%s, %q) = nil", n, bad)
		}
		if accepts("--" + n + "=" + bad) {
			t.Errorf("etcd %s accepts --%s=%s, CheckValue does not", minor, n, bad)
		}
	}
}

// etcdBinary is ETCDFLAGS_ETCD, or the etcd of the release tarball the
// other real-etcd tests use (ETCDIMG_RELEASE, set by make test).
func etcdBinary(t *testing.T) string {
	if bin := os.Getenv("ETCDFLAGS_ETCD"); bin != "" {
		return bin
	}
	if os.Getenv(etcdtest.EnvRelease) == "" {
		t.Skip("set ETCDFLAGS_ETCD to an etcd binary, or ETCDIMG_RELEASE to a release tarball")
	}
	return etcdtest.Extract(t, etcdtest.Release(t)).Etcd
}
