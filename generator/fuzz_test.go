package generator_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/golden"
	"github.com/etcdimg/etcdimg/internal/specfixtures"
	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

// trickySeeds start the fuzzer near the edges: explicit zeros, the static
// pod's quantities, SAN forms, root, odd keys, every runtime, IPv6.
var trickySeeds = map[string]string{
	"static-pod-quantity": `{"name":"a","network":{"cidr":"10.0.0.0/24"},"etcd":{"version":"3.6.16","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"runtime":"static-pod","staticPod":{"cpuRequest":"100 millicores","memoryRequest":"1.5Gi","metricsPort":12381}},"nodes":[{"name":"n1","ip":"10.0.0.2"}]}`,
	"san-forms":           `{"name":"a","network":{"cidr":"fd00::/64"},"etcd":{"version":"3.7.3","release":{"url":"https://example.com/e.tgz","sha256":"` + strings.Repeat("B", 64) + `"}},"nodes":[{"name":"n1","ip":"fd00::2","extraSANs":["fe80::1%eth0","*.example.com","::ffff:10.0.0.1","EXAMPLE.com"]}]}`,
	"san-forms-valid":     `{"name":"a","domain":"` + strings.Repeat("d", 63) + `.example","network":{"cidr":"fd00::/64"},"etcd":{"version":"3.7.3","release":{"url":"https://example.com/e.tgz","sha256":"` + strings.Repeat("B", 64) + `"}},"nodes":[{"name":"n1","ip":"fd00::2","extraSANs":["*.example.com","::ffff:10.0.0.1","fe80::1","a.b","*.` + strings.Repeat("a", 63) + `"]}]}`,
	"zeros":               `{"name":"a","network":{"cidr":"10.0.0.0/24"},"etcd":{"version":"3.5.21","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"clientPort":0,"heartbeatIntervalMs":0,"limitNOFILE":0,"user":{"uid":0,"gid":0}},"tls":{"validityDays":0,"ca":{"validityDays":0}},"nodes":[{"name":"n1","ip":"10.0.0.2"}]}`,
	"root":                `{"name":"a","network":{"cidr":"10.0.0.0/24"},"etcd":{"version":"3.6.16","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"user":{"name":"root","group":"root"}},"nodes":[{"name":"n1","ip":"10.0.0.2"}]}`,
	"odd-keys":            `{"name":"a","network":{"cidr":"10.0.0.0/24"},"etcd":{"version":"3.6.16","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"extraFlags":{"a\nerror: b":1,"snapshot-count":"10000","log-level":"info\nX"}},"nodes":[{"name":"n1","ip":"10.0.0.2","x y":1}]}`,
	"container-podman":    `{"name":"a","token":"t-1","domain":"example.org.","network":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1","dns":["10.0.0.1"],"searchDomains":["example.org"]},"etcd":{"version":"v3.6.16","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"runtime":"container","container":{"engine":"podman","name":"etcd.1"},"extraClientPorts":[4001],"listenLocalhost":false},"tls":{"minVersion":"TLS1.3","keyAlgorithm":"rsa-2048"},"nodes":[{"name":"n1","ip":"10.0.0.2","mac":"52:54:00:AA:BB:CC","interface":"ens3"},{"name":"n2","ip":"10.0.0.3"},{"name":"n3","ip":"10.0.0.4"}]}`,
	"static-pod-metrics":  `{"name":"a","network":{"cidr":"10.0.0.0/24"},"etcd":{"version":"3.5.10","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"runtime":"static-pod","extraFlags":{"listen-metrics-urls":"http://0.0.0.0:12381"}},"tls":{"enabled":false},"nodes":[{"name":"n1","ip":"10.0.0.2"}]}`,
}

// TestFuzzSeeds keeps FuzzSpec's tricky seeds in its corpus
// (generator/testdata/fuzz/FuzzSpec/seed-tricky-*). `go test ./generator
// -update` also writes every spec of the repository there (seed-*), so
// `make fuzz` starts from them; without -update a new spec file is no
// failure, as FuzzSpec adds every spec as a seed itself. Crashers the
// fuzzer writes there (hash names) stay as regression cases.
func TestFuzzSeeds(t *testing.T) {
	fixtures, err := specfixtures.Jsonnet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(fixtures) < 10 {
		t.Fatalf("only %d spec fixtures found", len(fixtures))
	}
	if u := flag.Lookup("update"); u != nil && u.Value.String() == "true" {
		clean := regexp.MustCompile(`[^a-z0-9]+`)
		for _, f := range fixtures {
			name := "seed-" + strings.Trim(clean.ReplaceAllString(strings.ToLower(strings.TrimSuffix(f.Name, ".jsonnet")), "-"), "-")
			golden.Check(t, filepath.Join(specfixtures.CorpusDir(), name), specfixtures.CorpusFile(f.JSON))
		}
	}
	for name, s := range trickySeeds {
		golden.Check(t, filepath.Join(specfixtures.CorpusDir(), "seed-tricky-"+name), specfixtures.CorpusFile([]byte(s)))
	}
}

// FuzzSpec: decoding and validating any input never panics; it ends in
// path-addressed errors or in a model that renders, and what renders reads
// back as meant: the YAML parses (yaml.v3) to the model's values, the unit
// has exactly the intended keys and command line, the first-boot script
// passes sh -n.
func FuzzSpec(f *testing.F) {
	// The corpus directory is read by the fuzzing engine itself; the
	// Jsonnet specs are added here too, so a new spec file is a seed at
	// once, before its corpus file is written.
	if fixtures, err := specfixtures.Jsonnet(f.TempDir()); err == nil {
		for _, fx := range fixtures {
			f.Add(fx.JSON)
		}
	}
	f.Fuzz(checkSpec)
}

// fieldBases are valid specs, one per runtime, that FuzzSpecField changes
// one field of.
var fieldBases = []string{
	`{"name":"a","domain":"example.org","network":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"},"etcd":{"version":"3.6.16","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"}},"nodes":[{"name":"n1","ip":"10.0.0.2","mac":"52:54:00:00:00:02","extraSANs":["etcd.example.org"]},{"name":"n2","ip":"10.0.0.3"}]}`,
	`{"name":"a","network":{"cidr":"fd00::/64"},"etcd":{"version":"3.7.3","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"runtime":"container","container":{"engine":"podman"}},"nodes":[{"name":"n1","ip":"fd00::2","extraSANs":["fd00::99"]}]}`,
	`{"name":"a","network":{"cidr":"10.0.0.0/24"},"etcd":{"version":"3.5.21","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"runtime":"static-pod","staticPod":{"cpuRequest":"250m"}},"tls":{"enabled":false},"nodes":[{"name":"n1","ip":"10.0.0.2","extraSANs":["x.example"]}]}`,
	`{"name":"a","network":{"cidr":"10.0.0.0/24"},"etcd":{"version":"3.6.16","arch":"arm64","release":{"path":"x","sha256":"` + strings.Repeat("a", 64) + `"},"runtime":"static-pod"},"kubeadm":{"enabled":true},"nodes":[{"name":"n1","ip":"10.0.0.2"}]}`,
}

// specFields are the paths FuzzSpecField sets, every leaf of the spec.
var specFields = []string{
	"name", "token", "domain", "network.cidr", "network.gateway", "network.dns", "network.searchDomains", "network.interface",
	"etcd.version", "etcd.release.path", "etcd.release.url", "etcd.release.sha256", "etcd.clientPort", "etcd.peerPort",
	"etcd.extraClientPorts", "etcd.listenLocalhost", "etcd.heartbeatIntervalMs", "etcd.electionTimeoutMs", "etcd.dataDir",
	"etcd.limitNOFILE", "etcd.user.name", "etcd.user.uid", "etcd.user.group", "etcd.user.gid", "etcd.extraFlags",
	"etcd.runtime", "etcd.container.engine", "etcd.container.image", "etcd.container.name", "etcd.staticPod.image",
	"etcd.staticPod.manifestPath", "etcd.staticPod.metricsPort", "etcd.staticPod.cpuRequest", "etcd.staticPod.memoryRequest",
	"tls.enabled", "tls.minVersion", "tls.keyAlgorithm", "tls.validityDays", "tls.dir", "tls.ca.algorithm",
	"tls.ca.validityDays", "nodes.0.name", "nodes.0.ip", "nodes.0.mac", "nodes.0.interface", "nodes.0.extraSANs.0",
	"etcd.arch", "kubeadm.enabled", "kubeadm.kubelet.cgroupDriver", "kubeadm.kubelet.containerRuntimeEndpoint",
}

// FuzzSpecField sets one field of a valid spec to any value (JSON when the
// value parses as JSON, else a string): nearly every input gets past
// decoding, so the edge between validate and render is where this fuzzes.
func FuzzSpecField(f *testing.F) {
	for i, v := range []string{"0", `"0"`, "-1", "65536", "100 millicores", "fe80::1%eth0", `""`, "null", "root", `{"a\nb":1}`,
		"1e3", "/etc", "*.x", "::ffff:10.0.0.9", "true", `["10.0.0.1"]`, "static-pod", "container", "1.5Gi"} {
		f.Add(uint8(i), uint8(i), v)
	}
	f.Fuzz(func(t *testing.T, base, field uint8, value string) {
		var doc map[string]any
		if err := json.Unmarshal([]byte(fieldBases[int(base)%len(fieldBases)]), &doc); err != nil {
			t.Fatal(err)
		}
		var v any = value
		if json.Valid([]byte(value)) {
			json.Unmarshal([]byte(value), &v)
		}
		setPath(doc, strings.Split(specFields[int(field)%len(specFields)], "."), v)
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		checkSpec(t, data)
	})
}

// setPath sets doc at path, making objects (and one-element arrays, for a
// numeric segment) on the way.
func setPath(doc map[string]any, path []string, v any) {
	var cur any = doc
	for i, seg := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[seg] = v
				return
			}
			next, ok := c[seg]
			if !ok || next == nil {
				if _, err := strconv.Atoi(path[i+1]); err == nil {
					next = []any{map[string]any{}}
				} else {
					next = map[string]any{}
				}
				c[seg] = next
			}
			cur = next
		case []any:
			j, _ := strconv.Atoi(seg)
			if j >= len(c) {
				return
			}
			if last {
				c[j] = v
				return
			}
			cur = c[j]
		default:
			return
		}
	}
}

func checkSpec(t *testing.T, data []byte) {
	{
		s, r := spec.Decode(data)
		if s == nil {
			if !r.IsFatal() {
				t.Fatal("no spec and no error")
			}
			return
		}
		m, vr := model.Validate(s)
		r.Merge(vr)
		for _, e := range r.Entries {
			if e.Path == "" && e.Severity == 0 {
				t.Errorf("error without a path: %s", e)
			}
			// report escapes line breaks, but a raw one means a spec
			// value reached a message unquoted.
			if strings.ContainsAny(e.Path+e.Message, "\n\r") {
				t.Errorf("spec text unquoted in a finding: %q", e.String())
			}
		}
		if vr.IsFatal() != (m == nil) {
			t.Fatalf("model %v with report:\n%s", m != nil, vr)
		}
		if m == nil || r.IsFatal() {
			return
		}
		files, err := generator.Render(m)
		if err != nil {
			t.Fatalf("validate passed, render failed: %v\n%s", err, data)
		}
		for i, nf := range files {
			checkRendered(t, m, m.Nodes[i], nf, i == 0 || i == len(files)-1)
		}
	}
}

// renderedUserData is what checkRendered reads back.
type renderedUserData struct {
	Hostname       string `yaml:"hostname"`
	FQDN           string `yaml:"fqdn"`
	ManageEtcHosts bool   `yaml:"manage_etc_hosts"`
	// bootcmd and runcmd: etcdimg's argv lists first, then the spec's
	// cloudConfig entries (strings or lists).
	Bootcmd    []any `yaml:"bootcmd"`
	Users      []any `yaml:"users"`
	WriteFiles []struct {
		Path, Owner, Permissions, Content string
	} `yaml:"write_files"`
	Runcmd []any `yaml:"runcmd"`
}

func argv(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, a := range l {
		s, _ := a.(string)
		out = append(out, s)
	}
	return out
}

func checkRendered(t *testing.T, c *model.Cluster, n model.Node, nf generator.NodeFiles, shell bool) {
	t.Helper()
	var ud renderedUserData
	if err := yaml.Unmarshal(nf.UserData, &ud); err != nil {
		t.Fatalf("user-data does not parse: %v", err)
	}
	u := c.Etcd.User
	if ud.Hostname != n.Name || ud.FQDN != n.FQDN || ud.ManageEtcHosts {
		t.Errorf("hostname %q fqdn %q", ud.Hostname, ud.FQDN)
	}
	extraBoot, _ := c.Extra.CloudConfig["bootcmd"].([]any)
	if first := argv(ud.Bootcmd[0]); len(ud.Bootcmd) != 1+len(extraBoot) || len(first) < 2 || !slices.Equal(first[len(first)-2:], []string{u.Group, strconv.Itoa(u.GID)}) {
		t.Errorf("bootcmd %q", ud.Bootcmd)
	}
	extraUsers, _ := c.Extra.CloudConfig["users"].([]any)
	wantUsers := 2 + len(extraUsers)
	if c.Access.Admin != nil {
		wantUsers++
	}
	if len(ud.Users) != wantUsers || ud.Users[0] != "default" {
		t.Fatalf("users %v", ud.Users)
	}
	usr, _ := ud.Users[1].(map[string]any)
	if usr["name"] != u.Name || usr["uid"] != u.UID || usr["primary_group"] != u.Group || usr["homedir"] != c.Etcd.DataDir ||
		usr["shell"] != "/usr/sbin/nologin" || usr["lock_passwd"] != true {
		t.Errorf("etcd user %v, want %+v", usr, u)
	}
	wantFiles := []string{"/etc/hosts", generator.StagedUnitPath, generator.FirstBootPath}
	if _, ok := c.Etcd.Runtime.(*model.StaticPodRuntime); ok {
		wantFiles[1] = generator.StagedManifestPath
		if c.Kubeadm != nil {
			wantFiles = append(wantFiles, model.KubeletConfigPath, model.KubeletDropInPath)
		}
	}
	// The opt-in maintenance timers and the restore script (backup.go).
	if c.Etcd.Maintenance.Backup != nil {
		wantFiles = append(wantFiles, generator.BackupScriptPath, "/etc/systemd/system/etcdimg-backup.service", "/etc/systemd/system/etcdimg-backup.timer")
	}
	if c.Etcd.Maintenance.Defrag != nil {
		wantFiles = append(wantFiles, generator.DefragScriptPath, "/etc/systemd/system/etcdimg-defrag.service", "/etc/systemd/system/etcdimg-defrag.timer")
	}
	if c.Restores(n) {
		wantFiles = append(wantFiles, generator.RestoreScriptPath)
	}
	wantFiles = append(wantFiles, "/etc/etcd/etcdctl.env")
	// what later boots need (README "After the first boot")
	wantFiles = append(wantFiles, generator.CloudCfgPath, generator.SeedCheckPath, generator.SeedCheckUnitPath, generator.SeedCheckDropInPath)
	for _, f := range c.Extra.Files {
		wantFiles = append(wantFiles, f.Path)
	}
	var got []string
	content := map[string]string{}
	for i, f := range ud.WriteFiles {
		got = append(got, f.Path)
		content[f.Path] = f.Content
		if (i < len(wantFiles)-len(c.Extra.Files) && f.Owner != "root:root") || !regexp.MustCompile(`^0[0-7]{3}$`).MatchString(f.Permissions) {
			t.Errorf("%s: owner %q permissions %q", f.Path, f.Owner, f.Permissions)
		}
	}
	if !slices.Equal(got, wantFiles) {
		t.Errorf("write_files %q, want %q", got, wantFiles)
	}
	extraRun, _ := c.Extra.CloudConfig["runcmd"].([]any)
	if len(ud.Runcmd) != 1+len(extraRun) || !slices.Equal(argv(ud.Runcmd[0]), []string{generator.FirstBootPath}) {
		t.Errorf("runcmd %q", ud.Runcmd)
	}
	for _, m := range c.Nodes {
		if !strings.Contains(content["/etc/hosts"], m.IP.String()+"\t") {
			t.Errorf("/etc/hosts lacks %s", m.IP)
		}
	}

	var md struct {
		InstanceID    string `yaml:"instance-id"`
		LocalHostname string `yaml:"local-hostname"`
	}
	if err := yaml.Unmarshal(nf.MetaData, &md); err != nil || md.InstanceID != nf.InstanceID || !strings.HasPrefix(md.InstanceID, c.InstanceID(n)+"-") || md.LocalHostname != n.Name {
		t.Errorf("meta-data %+v (%v)", md, err)
	}
	var nc struct {
		Version int
		Config  []struct {
			Type, Name string
			MACAddress string `yaml:"mac_address"`
			Subnets    []struct{ Type, Address, Gateway string }
		}
	}
	if err := yaml.Unmarshal(nf.NetworkConfig, &nc); err != nil || nc.Version != 1 || len(nc.Config) != 1 || len(nc.Config[0].Subnets) != 1 {
		t.Fatalf("network-config %+v (%v)", nc, err)
	}
	phy, sub := nc.Config[0], nc.Config[0].Subnets[0]
	gw := ""
	if c.Network.Gateway.IsValid() {
		gw = c.Network.Gateway.String()
	}
	if phy.Type != "physical" || phy.Name != n.Interface || phy.MACAddress != n.MAC ||
		sub.Address != netip.PrefixFrom(n.IP, c.Network.Prefix.Bits()).String() || sub.Gateway != gw {
		t.Errorf("network-config %+v for %+v", nc, n)
	}

	args := generator.EtcdArgs(c, n)
	switch rt := c.Etcd.Runtime.(type) {
	case *model.SystemdRuntime:
		unit := content[generator.StagedUnitPath]
		checkUnitKeys(t, unit, systemdUnitKeys)
		_, words := execWords(t, unitValues(unit, "ExecStart")[0])
		if want := append([]string{"/usr/local/bin/etcd"}, args...); !slices.Equal(words, want) {
			t.Errorf("ExecStart %q, want %q", words, want)
		}
		for k, want := range map[string]string{"User": u.Name, "Group": u.Group, "LimitNOFILE": strconv.Itoa(c.Etcd.LimitNOFILE)} {
			if got := unitValues(unit, k); len(got) != 1 || unquoteUnit(t, got[0]) != want {
				t.Errorf("%s=%q, want %q", k, got, want)
			}
		}
	case *model.ContainerRuntime:
		unit := content[generator.StagedUnitPath]
		keys := containerUnitKeys(rt.Engine)
		checkUnitKeys(t, unit, keys)
		r := parseRun(t, unit)
		if r.engine != rt.EnginePath || r.image != rt.Image || !slices.Equal(r.cmd, append([]string{rt.EtcdPath}, args...)) {
			t.Errorf("run %+v", r)
		}
	case *model.StaticPodRuntime:
		p := decodePod(t, []byte(content[generator.StagedManifestPath]))
		ct := p.Spec.Containers[0]
		want := append([]string{"etcd"}, args...)
		if f := rt.Metrics.Flag(n); f != "" {
			want = append(want, f)
		}
		if !slices.Equal(ct.Command, want) || ct.Image != rt.Image ||
			ct.Resources.Requests.Cpu().MilliValue() != rt.CPURequest.Milli || ct.Resources.Requests.Memory().MilliValue() != rt.MemoryRequest.Milli {
			t.Errorf("pod container %+v, runtime %+v", ct, rt)
		}
	default:
		t.Fatalf("runtime %T", rt)
	}
	if shell {
		script := content[generator.FirstBootPath]
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v\n%s\n%s", err, out, script)
		}
	}
}

// unquoteUnit undoes systemdArg for a single-word value.
func unquoteUnit(t *testing.T, v string) string {
	_, w := execWords(t, v)
	if len(w) != 1 {
		t.Fatalf("%q is not one word", v)
	}
	return w[0]
}

var systemdUnitKeys = map[string][]string{
	"Unit": {"Description", "Documentation", "After", "Wants"},
	"Service": {"Type", "User", "Group", "ExecStart", "Restart", "RestartSec", "TimeoutStartSec", "LimitNOFILE", "UMask",
		"NoNewPrivileges", "ProtectSystem", "ReadWritePaths", "ProtectHome", "PrivateTmp", "PrivateDevices",
		"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
		"ProtectHostname", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
		"LockPersonality", "MemoryDenyWriteExecute", "SystemCallArchitectures", "CapabilityBoundingSet", "AmbientCapabilities"},
	"Install": {"WantedBy"},
}

func containerUnitKeys(engine string) map[string][]string {
	unit := []string{"Description", "Documentation", "After", "Requires", "Wants"}
	if engine != "docker" {
		unit = []string{"Description", "Documentation", "After", "Wants"}
	}
	return map[string][]string{
		"Unit":    unit,
		"Service": {"Type", "ExecStartPre", "ExecStart", "ExecStop", "Restart", "RestartSec", "LimitNOFILE"},
		"Install": {"WantedBy"},
	}
}

// checkUnitKeys parses unit as systemd's ini syntax (comments, sections,
// continuation lines) and wants exactly keys, in order, each once.
func checkUnitKeys(t *testing.T, unit string, keys map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	section := ""
	lines := strings.Split(unit, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, `\`) + " " + lines[i]
		}
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = strings.Trim(l, "[]")
		default:
			k, _, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %q", l)
			}
			got[section] = append(got[section], k)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(keys) {
		t.Errorf("unit keys\n got %v\nwant %v\n%s", got, keys, unit)
	}
}

// TestFuzzCorpusIsJSON: a corpus file that no longer parses would silently
// stop being a seed.
func TestFuzzCorpusIsJSON(t *testing.T) {
	corpus, err := specfixtures.Corpus()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range corpus {
		if strings.HasPrefix(c.Name, "corpus:seed-") && !json.Valid(c.JSON) {
			t.Errorf("%s is not JSON", c.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(specfixtures.CorpusDir(), "seed-tricky-zeros")); err != nil {
		t.Error(err)
	}
}
