package generator_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/internal/etcdflags"
	"github.com/etcdimg/etcdimg/internal/golden"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

var engines = []string{"docker", "podman"}

var enginePaths = map[string]string{"docker": "/usr/bin/docker", "podman": "/usr/bin/podman"}

// forEachNode runs f on every node of every golden spec (see golden_test.go).
func forEachNode(t *testing.T, f func(t *testing.T, spec string, c *model.Cluster, n model.Node)) {
	t.Helper()
	names := make([]string, 0, len(goldenSpecs))
	for name := range goldenSpecs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := goldenSpecs[name]
		c := load(t, s.path, s.opts)
		for _, n := range c.Nodes {
			t.Run(name+"/"+n.Name, func(t *testing.T) { f(t, name, c, n) })
		}
	}
}

// loadPatched evaluates golden spec name, changes its decoded spec and
// resolves it again through the model, as a spec with that change would be:
// the generator only ever renders validated models.
func loadPatched(t *testing.T, name string, patch func(*spec.Cluster)) *model.Cluster {
	t.Helper()
	s := goldenSpecs[name]
	out, err := jsonnet.EvaluateFile(s.path, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	sc, r := spec.Decode(out)
	if r.IsFatal() {
		t.Fatalf("%s: %s", name, r)
	}
	patch(sc)
	m, r := model.Validate(sc)
	if r.IsFatal() {
		t.Fatalf("%s: %s", name, r)
	}
	return m
}

// asStaticPod is spec name run as a static pod with sp's options.
func asStaticPod(t *testing.T, name string, sp spec.StaticPod) *model.Cluster {
	return loadPatched(t, name, func(c *spec.Cluster) { c.Etcd.Runtime, c.Etcd.StaticPod = new("static-pod"), sp })
}

// asContainer is spec name run in a container with co's options.
func asContainer(t *testing.T, name string, co spec.Container) *model.Cluster {
	return loadPatched(t, name, func(c *spec.Cluster) { c.Etcd.Runtime, c.Etcd.Container = new("container"), co })
}

// officialImage is etcd's own image of c's version, which the runtime
// goldens run (the spec default is an image made on first boot).
func officialImage(version string) *string { return new("gcr.io/etcd-development/etcd:v" + version) }

func manifest(t *testing.T, c *model.Cluster, n model.Node) []byte {
	t.Helper()
	b, err := generator.StaticPodManifest(c, c.Etcd.Runtime.(*model.StaticPodRuntime), n, "")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func containerUnit(t *testing.T, c *model.Cluster, n model.Node) string {
	t.Helper()
	u, err := generator.ContainerUnit(c, c.Etcd.Runtime.(*model.ContainerRuntime), n)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRuntimeGoldens(t *testing.T) {
	forEachNode(t, func(t *testing.T, name string, c *model.Cluster, n model.Node) {
		dir := filepath.Join("..", "testdata", "golden", "runtimes", name, n.Name)
		sp := asStaticPod(t, name, spec.StaticPod{})
		pod := manifest(t, sp, n)
		if again := manifest(t, sp, n); string(again) != string(pod) {
			t.Error("two renders of the manifest differ")
		}
		golden.Check(t, filepath.Join(dir, "etcd.yaml"), pod)
		for _, e := range engines {
			ct := asContainer(t, name, spec.Container{Engine: new(e), Image: officialImage(c.Etcd.Version)})
			u := containerUnit(t, ct, n)
			if again := containerUnit(t, ct, n); again != u {
				t.Errorf("two renders of the %s unit differ", e)
			}
			golden.Check(t, filepath.Join(dir, "etcd-"+e+".service"), []byte(u))
		}
	})
}

// decodePod reads a manifest as kubelet does (sigs.k8s.io/yaml, YAML to
// JSON) into the real API type, refusing unknown and duplicate fields: a
// misspelt field would otherwise be dropped silently by kubelet.
func decodePod(t *testing.T, b []byte) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("manifest is not a strict core/v1 Pod: %v\n%s", err, b)
	}
	return &p
}

func loopbackFor(n model.Node) string {
	if n.IP.Is6() {
		return "::1"
	}
	return "127.0.0.1"
}

// checkFlags asks etcd's own flag table of the cluster's minor about every
// --flag, and its parser about every value.
func checkFlags(t *testing.T, c *model.Cluster, args []string) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			t.Errorf("%q is not a --flag", a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f, ok := etcdflags.Lookup(c.Etcd.Minor, name)
		if !ok {
			t.Errorf("etcd %s has no flag --%s", c.Etcd.Minor, name)
			continue
		}
		if hasValue {
			if err := etcdflags.CheckValue(f, value); err != nil {
				t.Errorf("etcd %s: %v", c.Etcd.Minor, err)
			}
		} else if f.Kind != etcdflags.Bool {
			t.Errorf("--%s has no value but is a %s flag", name, f.Kind)
		}
	}
}

func TestStaticPodIsAPod(t *testing.T) {
	forEachNode(t, func(t *testing.T, name string, c *model.Cluster, n model.Node) {
		c = asStaticPod(t, name, spec.StaticPod{})
		p := decodePod(t, manifest(t, c, n))
		if p.APIVersion != "v1" || p.Kind != "Pod" || p.Name != "etcd" || p.Namespace != "kube-system" {
			t.Errorf("object is %s %s %s/%s", p.APIVersion, p.Kind, p.Namespace, p.Name)
		}
		if p.Labels["component"] != "etcd" || p.Labels["tier"] != "control-plane" {
			t.Errorf("labels %v", p.Labels)
		}
		if got := p.Annotations["kubeadm.kubernetes.io/etcd.advertise-client-urls"]; got != c.AdvertiseClientURLs(n)[0] {
			t.Errorf("advertise annotation %q", got)
		}
		s := p.Spec
		if !s.HostNetwork {
			t.Error("hostNetwork is off: etcd must listen on the node's IP")
		}
		if s.PriorityClassName != "system-node-critical" || s.Priority == nil || *s.Priority != 2000001000 {
			t.Errorf("priority %q %v", s.PriorityClassName, s.Priority)
		}
		sc := s.SecurityContext
		if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Fatalf("pod securityContext %+v: want seccomp RuntimeDefault", sc)
		}
		u := c.Etcd.User
		if sc.RunAsUser == nil || *sc.RunAsUser != int64(u.UID) || sc.RunAsGroup == nil || *sc.RunAsGroup != int64(u.GID) ||
			sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("pod runs as %v:%v (nonroot %v), want %d:%d", sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot, u.UID, u.GID)
		}
		if len(s.Containers) != 1 || len(s.InitContainers) != 0 {
			t.Fatalf("%d containers, %d init containers", len(s.Containers), len(s.InitContainers))
		}
		ct := s.Containers[0]
		if ct.Name != "etcd" || ct.Image != "registry.k8s.io/etcd:"+c.Etcd.Version+"-0" || ct.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("container %q image %q pull %q", ct.Name, ct.Image, ct.ImagePullPolicy)
		}
		if len(ct.Args) != 0 {
			t.Errorf("args %q: everything belongs in command", ct.Args)
		}
		lo := loopbackFor(n)
		metrics := "--listen-metrics-urls=http://" + net2(lo, 2381)
		want := append(append([]string{"etcd"}, generator.EtcdArgs(c, n)...), metrics)
		if !slices.Equal(ct.Command, want) {
			t.Errorf("command\n got %q\nwant %q", ct.Command, want)
		}
		checkFlags(t, c, ct.Command[1:])
		if cs := ct.SecurityContext; cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
			cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.Capabilities == nil ||
			!slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || cs.Privileged != nil {
			t.Errorf("container securityContext %+v", cs)
		}
		if r := ct.Resources.Requests; r.Cpu().String() != "100m" || r.Memory().String() != "100Mi" || len(ct.Resources.Limits) != 0 {
			t.Errorf("resources %v", ct.Resources)
		}

		// The custom spec is 3.5.21: /livez and /readyz exist since 3.5.11.
		probes := map[string]*corev1.Probe{"liveness": ct.LivenessProbe, "readiness": ct.ReadinessProbe, "startup": ct.StartupProbe}
		paths := map[string]string{"liveness": "/livez", "readiness": "/readyz", "startup": "/livez"}
		for kind, pr := range probes {
			if pr == nil || pr.HTTPGet == nil {
				t.Errorf("%s probe %+v: want httpGet", kind, pr)
				continue
			}
			g := pr.HTTPGet
			if g.Host != lo || g.Port.Type != intstr.Int || g.Port.IntVal != 2381 || g.Scheme != corev1.URISchemeHTTP || g.Path != paths[kind] {
				t.Errorf("%s probe %s://%s:%s%s, want HTTP://%s:2381%s", kind, g.Scheme, g.Host, g.Port.String(), g.Path, lo, paths[kind])
			}
			if pr.TimeoutSeconds != 15 || pr.PeriodSeconds < 1 || pr.FailureThreshold < 3 {
				t.Errorf("%s probe timing %+v", kind, pr)
			}
		}
		if ct.StartupProbe != nil && ct.StartupProbe.FailureThreshold*ct.StartupProbe.PeriodSeconds < 240 {
			t.Errorf("startup probe gives etcd less than kubeadm's 4 minutes")
		}

		// Every mount has its hostPath volume at the same path, so the paths
		// in etcd's flags mean the same file in the pod and on the host.
		vols := map[string]corev1.Volume{}
		for _, v := range s.Volumes {
			if _, dup := vols[v.Name]; dup {
				t.Errorf("volume %q twice", v.Name)
			}
			vols[v.Name] = v
		}
		if len(vols) != len(ct.VolumeMounts) {
			t.Errorf("%d volumes for %d mounts", len(vols), len(ct.VolumeMounts))
		}
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range ct.VolumeMounts {
			v, ok := vols[m.Name]
			if !ok || v.HostPath == nil {
				t.Errorf("mount %q has no hostPath volume", m.Name)
				continue
			}
			if v.HostPath.Path != m.MountPath || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectoryOrCreate {
				t.Errorf("volume %q: host %q type %v, mounted at %q", m.Name, v.HostPath.Path, v.HostPath.Type, m.MountPath)
			}
			mounts[m.Name] = m
		}
		if m, ok := mounts["etcd-data"]; !ok || m.MountPath != c.Etcd.DataDir || m.ReadOnly {
			t.Errorf("etcd-data mount %+v, want %s read-write", m, c.Etcd.DataDir)
		}
		m, ok := mounts["etcd-certs"]
		if c.TLS.Enabled && (!ok || m.MountPath != c.TLS.Dir || !m.ReadOnly) {
			t.Errorf("etcd-certs mount %+v, want %s read-only", m, c.TLS.Dir)
		}
		if !c.TLS.Enabled && ok {
			t.Errorf("plain HTTP but etcd-certs is mounted")
		}
		for _, a := range ct.Command[1:] {
			name, value, _ := strings.Cut(a, "=")
			if name != "--data-dir" && !strings.HasSuffix(name, "-file") {
				continue
			}
			if !slices.ContainsFunc(ct.VolumeMounts, func(m corev1.VolumeMount) bool {
				return value == m.MountPath || strings.HasPrefix(value, m.MountPath+"/")
			}) {
				t.Errorf("%s is outside every mount", a)
			}
		}
	})
}

func net2(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

func TestStaticPodOptions(t *testing.T) {
	c := asStaticPod(t, "seed-cluster", spec.StaticPod{
		Image: new("registry.example/etcd:3.6.16"), MetricsPort: new(12381), CPURequest: new("250m"), MemoryRequest: new("1Gi"),
		ManifestPath: new("/var/lib/kubelet/static/etcd.yaml"),
	})
	n := c.Nodes[0]
	p := decodePod(t, manifest(t, c, n))
	ct := p.Spec.Containers[0]
	if ct.Image != "registry.example/etcd:3.6.16" || ct.Resources.Requests.Cpu().String() != "250m" || ct.Resources.Requests.Memory().String() != "1Gi" {
		t.Errorf("options ignored: %q %v", ct.Image, ct.Resources.Requests)
	}
	if last := ct.Command[len(ct.Command)-1]; last != "--listen-metrics-urls=http://127.0.0.1:12381" || ct.LivenessProbe.HTTPGet.Port.IntVal != 12381 {
		t.Errorf("metrics port ignored: %q, probe %v", last, ct.LivenessProbe.HTTPGet.Port)
	}
	if got := asStaticPod(t, "seed-cluster", spec.StaticPod{}).Etcd.Runtime.(*model.StaticPodRuntime).ManifestPath; got != "/etc/kubernetes/manifests/etcd.yaml" {
		t.Errorf("default manifest path %q", got)
	}

	t.Run("before 3.5.11", func(t *testing.T) {
		old := loadPatched(t, "seed-cluster", func(c *spec.Cluster) {
			c.Etcd.Version, c.Etcd.Runtime, c.Etcd.StaticPod = "3.5.10", new("static-pod"), spec.StaticPod{}
		})
		ct := decodePod(t, manifest(t, old, n)).Spec.Containers[0]
		const h = "/health?exclude=NOSPACE&serializable=true"
		if ct.LivenessProbe.HTTPGet.Path != h || ct.StartupProbe.HTTPGet.Path != h || ct.ReadinessProbe != nil {
			t.Errorf("probes %+v %+v %+v: 3.5.10 has no /livez", ct.LivenessProbe, ct.StartupProbe, ct.ReadinessProbe)
		}
		if ct.Image != "registry.k8s.io/etcd:3.5.10-0" {
			t.Errorf("image %q", ct.Image)
		}
	})

	// As kubeadm does, the operator's own metrics listener wins and its
	// first URL is probed; a second flag would silently override theirs.
	t.Run("operator metrics URLs", func(t *testing.T) {
		own := loadPatched(t, "seed-cluster", func(c *spec.Cluster) {
			c.Etcd.Runtime, c.Etcd.StaticPod = new("static-pod"), spec.StaticPod{}
			c.Etcd.ExtraFlags = map[string]spec.Scalar{"listen-metrics-urls": {Text: "http://0.0.0.0:12381,http://192.168.0.147:12382", Kind: "string"}}
		})
		ct := decodePod(t, manifest(t, own, n)).Spec.Containers[0]
		if want := append([]string{"etcd"}, generator.EtcdArgs(own, n)...); !slices.Equal(ct.Command, want) {
			t.Errorf("command %q, want %q", ct.Command, want)
		}
		if g := ct.LivenessProbe.HTTPGet; g.Host != "127.0.0.1" || g.Port.IntVal != 12381 {
			t.Errorf("probe %s:%s", g.Host, g.Port.String())
		}
	})
}

// unitValues returns every value of key in a unit file, continuation lines
// joined as systemd does (the backslash becomes a blank).
func unitValues(unit, key string) []string {
	var out []string
	lines := strings.Split(unit, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, `\`) + " " + lines[i]
		}
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// execWords splits a command line the way systemd does: specifiers first
// ("%%" is "%"), then words with C escapes and quotes, then "$$" is "$".
// A lone '%' or '$' would be expanded by systemd: the test fails on them.
func execWords(t *testing.T, v string) (prefix string, words []string) {
	t.Helper()
	for v != "" && strings.ContainsRune("-@:+!", rune(v[0])) {
		prefix, v = prefix+v[:1], v[1:]
	}
	if strings.Contains(strings.ReplaceAll(v, "%%", ""), "%") {
		t.Fatalf("unescaped specifier in %q", v)
	}
	v = strings.ReplaceAll(v, "%%", "%")
	var cur strings.Builder
	inWord, quote := false, byte(0)
	flush := func() {
		if inWord {
			w := cur.String()
			if strings.Contains(strings.ReplaceAll(w, "$$", ""), "$") {
				t.Fatalf("unescaped $ in %q", w)
			}
			words = append(words, strings.ReplaceAll(w, "$$", "$"))
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case quote == 0 && (ch == ' ' || ch == '\t'):
			flush()
		case quote == 0 && (ch == '"' || ch == '\''):
			quote, inWord = ch, true
		case quote != 0 && ch == quote:
			quote = 0
		case ch == '\\':
			r, n := cUnescape(t, v[i+1:])
			cur.WriteString(r)
			i += n
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", v)
	}
	flush()
	return prefix, words
}

// cUnescape decodes the escape after a backslash as systemd's cunescape.
func cUnescape(t *testing.T, s string) (string, int) {
	t.Helper()
	if s == "" {
		t.Fatal("trailing backslash")
	}
	if r, ok := map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v",
		'\\': `\`, '"': `"`, '\'': `'`, 's': " "}[s[0]]; ok {
		return r, 1
	}
	hex := map[byte]int{'x': 2, 'u': 4, 'U': 8}
	if n, ok := hex[s[0]]; ok && len(s) > n {
		c, err := strconv.ParseUint(s[1:1+n], 16, 32)
		if err != nil {
			t.Fatalf("bad escape \\%s", s[:1+n])
		}
		if n == 2 {
			return string([]byte{byte(c)}), 1 + n
		}
		return string(rune(c)), 1 + n
	}
	if len(s) >= 3 && s[0] >= '0' && s[0] <= '7' {
		c, err := strconv.ParseUint(s[:3], 8, 8)
		if err == nil {
			return string([]byte{byte(c)}), 3
		}
	}
	t.Fatalf("unknown escape \\%c", s[0])
	return "", 0
}

func TestExecWordsInvertsQuoting(t *testing.T) {
	_, got := execWords(t, `a "b c" "d\"e\\f" "100%%" "$$HOME" 'g h' "\x41\u00e9\n"`)
	want := []string{"a", "b c", `d"e\f`, "100%", "$HOME", "g h", "Aé\n"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// runWords is the engine's command line: options, image, command.
type runWords struct {
	engine, sub string
	opts        []string
	image       string
	cmd         []string
}

func parseRun(t *testing.T, unit string) runWords {
	t.Helper()
	vals := unitValues(unit, "ExecStart")
	if len(vals) != 1 {
		t.Fatalf("%d ExecStart lines", len(vals))
	}
	prefix, w := execWords(t, vals[0])
	if prefix != "" || len(w) < 4 {
		t.Fatalf("ExecStart %q %q", prefix, w)
	}
	r := runWords{engine: w[0], sub: w[1]}
	i := 2
	for ; i < len(w) && strings.HasPrefix(w[i], "-"); i++ {
		r.opts = append(r.opts, w[i])
	}
	if i == len(w) {
		t.Fatalf("no image in %q", w)
	}
	r.image, r.cmd = w[i], w[i+1:]
	return r
}

func TestContainerUnitCommandLine(t *testing.T) {
	forEachNode(t, func(t *testing.T, name string, c *model.Cluster, n model.Node) {
		for _, e := range engines {
			c := asContainer(t, name, spec.Container{Engine: new(e), Image: officialImage(c.Etcd.Version)})
			unit := containerUnit(t, c, n)
			r := parseRun(t, unit)
			ep := enginePaths[e]
			if r.engine != ep || r.sub != "run" {
				t.Errorf("%s: ExecStart runs %q %q", e, r.engine, r.sub)
			}
			if img := "gcr.io/etcd-development/etcd:v" + c.Etcd.Version; r.image != img {
				t.Errorf("%s: image %q, want %q", e, r.image, img)
			}
			// All engine options must precede the image (the blog's unit has
			// -e after it, where they become etcd's arguments), and each is
			// one --opt=value word, so nothing between them is a value that
			// could be taken for the image.
			for _, o := range r.opts {
				if !strings.HasPrefix(o, "--") || o == "--detach" || strings.HasPrefix(o, "--detach=") {
					t.Errorf("%s: engine option %q", e, o)
				}
			}
			u := c.Etcd.User
			nofile := strconv.Itoa(c.Etcd.LimitNOFILE)
			wantOpts := []string{"--rm", "--name=etcd", "--network=host",
				fmt.Sprintf("--user=%d:%d", u.UID, u.GID), "--ulimit=nofile=" + nofile + ":" + nofile,
				"--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
				"--volume=" + c.Etcd.DataDir + ":" + c.Etcd.DataDir}
			if c.TLS.Enabled {
				wantOpts = append(wantOpts, "--volume="+c.TLS.Dir+":"+c.TLS.Dir+":ro")
			}
			if !slices.Equal(r.opts, wantOpts) {
				t.Errorf("%s: options\n got %q\nwant %q", e, r.opts, wantOpts)
			}
			want := append([]string{"/usr/local/bin/etcd"}, generator.EtcdArgs(c, n)...)
			if !slices.Equal(r.cmd, want) {
				t.Errorf("%s: command after the image\n got %q\nwant %q", e, r.cmd, want)
			}
			checkFlags(t, c, r.cmd[1:])

			checkExec := func(key, wantPrefix string, want ...string) {
				vals := unitValues(unit, key)
				if len(vals) != 1 {
					t.Errorf("%s: %d %s lines", e, len(vals), key)
					return
				}
				p, w := execWords(t, vals[0])
				if p != wantPrefix || !slices.Equal(w, want) {
					t.Errorf("%s: %s=%s%q, want %s%q", e, key, p, w, wantPrefix, want)
				}
			}
			checkExec("ExecStartPre", "-", ep, "rm", "-f", "etcd")
			checkExec("ExecStop", "", ep, "stop", "etcd")
			for key, want := range map[string]string{
				"Type": "exec", "Restart": "always", "RestartSec": "10s", "LimitNOFILE": nofile, "WantedBy": "multi-user.target",
			} {
				if got := unitValues(unit, key); !slices.Equal(got, []string{want}) {
					t.Errorf("%s: %s=%q, want %q", e, key, got, want)
				}
			}
			requires := unitValues(unit, "Requires")
			if e == "docker" && !slices.Equal(requires, []string{"docker.service"}) {
				t.Errorf("docker: Requires=%q", requires)
			}
			if e == "podman" && len(requires) != 0 {
				t.Errorf("podman is daemonless, but Requires=%q", requires)
			}
		}
	})
}

func TestContainerOptions(t *testing.T) {
	c := asContainer(t, "seed-cluster", spec.Container{Engine: new("podman"), Image: new("quay.io/coreos/etcd:v3.6.16"), Name: new("etcd-k8s01")})
	n := c.Nodes[0]
	r := parseRun(t, containerUnit(t, c, n))
	if r.engine != "/usr/bin/podman" || r.image != "quay.io/coreos/etcd:v3.6.16" || !slices.Contains(r.opts, "--name=etcd-k8s01") {
		t.Errorf("options ignored: %+v", r)
	}
	// Without an image the unit runs the one first boot imports.
	d := asContainer(t, "seed-cluster", spec.Container{})
	if r := parseRun(t, containerUnit(t, d, n)); r.engine != "/usr/bin/docker" || r.image != "localhost/etcdimg/etcd:v3.6.16" {
		t.Errorf("default engine %q image %q, want docker and the local image", r.engine, r.image)
	}
}

// TestContainerUnitSystemdVerify has systemd itself load each unit. verify
// insists that every Exec binary exists and that Requires= units exist, so
// the engine becomes /bin/true and docker.service a stub on the unit path;
// warnings exit 0, so any output fails the test.
func TestContainerUnitSystemdVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	forEachNode(t, func(t *testing.T, name string, c *model.Cluster, n model.Node) {
		for _, e := range engines {
			dir := t.TempDir()
			c := asContainer(t, name, spec.Container{Engine: new(e), Image: officialImage(c.Etcd.Version)})
			unit := strings.ReplaceAll(containerUnit(t, c, n), enginePaths[e], "/bin/true")
			p := filepath.Join(dir, "etcd.service")
			if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
			stub := "[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n"
			if err := os.WriteFile(filepath.Join(dir, "docker.service"), []byte(stub), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sa, "verify", "--man=no", p)
			// The trailing ':' keeps the default unit paths after ours.
			cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":", "SYSTEMD_LOG_COLOR=0")
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("%s: systemd-analyze verify: %v\n%s", e, err, out)
			}
		}
	})
}

// TestContainerRunParsesWithDockerCLI hands the unit's run arguments to a
// real docker CLI with no daemon behind it: the CLI parses and checks every
// option (unknown flags, bad --ulimit, ...) before it connects, so "cannot
// connect" means the command line is valid. Podman's run options used here
// are the same, so both units are checked.
func TestContainerRunParsesWithDockerCLI(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed")
	}
	s := goldenSpecs["seed-cluster"]
	c := load(t, s.path, s.opts)
	for _, e := range engines {
		c := asContainer(t, "seed-cluster", spec.Container{Engine: new(e), Image: officialImage(c.Etcd.Version)})
		r := parseRun(t, containerUnit(t, c, c.Nodes[0]))
		args := append(append(append([]string{r.sub}, r.opts...), r.image), r.cmd...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, docker, args...)
		// A private config dir: the CLI reads no one's credentials or contexts.
		tmp := t.TempDir()
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+path.Join(tmp, "no-daemon.sock"), "DOCKER_CONFIG="+tmp, "DOCKER_CONTEXT=")
		out, _ := cmd.CombinedOutput()
		cancel()
		if !strings.Contains(string(out), "Cannot connect to the Docker daemon") {
			t.Errorf("%s: docker CLI rejected the run options:\n%s", e, out)
		}
	}
}
