package pipeline_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/pipeline"
)

// lan builds a small LAN of network namespaces: one per node IP plus one
// for the client, each with a veth into a bridge namespace. Every member
// then talks from its own address, as on the VMs (in one namespace the
// kernel would pick the peer's own IP as source, and etcd would rightly
// refuse the peer certificate). Nothing leaves the namespaces.
func lan(t *testing.T, ips []string, client string) (nodes []string, clientNS string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("iproute2 not installed")
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	prefix := fmt.Sprintf("eit%d", os.Getpid()%100000)
	br := prefix + "br"
	if out, err := exec.Command(ip, "netns", "add", br).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(ip, "netns", "del", br).Run() })
	run("-n", br, "link", "add", "br0", "type", "bridge")
	run("-n", br, "link", "set", "br0", "up")
	for i, a := range append(append([]string{}, ips...), client) {
		ns := fmt.Sprintf("%sn%d", prefix, i)
		run("netns", "add", ns)
		t.Cleanup(func() { exec.Command(ip, "netns", "del", ns).Run() })
		host := fmt.Sprintf("%sv%d", prefix, i)
		run("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
		run("link", "set", host, "netns", br)
		run("-n", br, "link", "set", host, "master", "br0", "up")
		run("-n", ns, "link", "set", "lo", "up")
		run("-n", ns, "addr", "add", a+"/24", "dev", "eth0")
		run("-n", ns, "link", "set", "eth0", "up")
		if i < len(ips) {
			nodes = append(nodes, ns)
		} else {
			clientNS = ns
		}
	}
	return nodes, clientNS
}

// inNS writes a wrapper that runs bin inside ns, for helpers that exec a
// binary directly.
func inNS(t *testing.T, ns, bin string) string {
	ip, _ := exec.LookPath("ip")
	w := filepath.Join(t.TempDir(), filepath.Base(bin)+"-in-ns")
	if err := os.WriteFile(w, []byte(fmt.Sprintf("#!/bin/sh\nexec %s netns exec %s %s \"$@\"\n", ip, ns, bin)), 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

// execStart reads the etcd command line out of the unit that user-data
// writes: the test runs what the VM would run, not a copy of the logic.
func execStart(t *testing.T, userData []byte) []string {
	t.Helper()
	var words []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(userData)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "ExecStart=") {
			in = true
			line = strings.TrimPrefix(line, "ExecStart=")
		}
		if !in {
			continue
		}
		cont := strings.HasSuffix(line, `\`)
		words = append(words, strings.Fields(strings.TrimSuffix(line, `\`))...)
		if !cont {
			break
		}
	}
	if len(words) < 2 || words[0] != "/usr/local/bin/etcd" {
		t.Fatalf("no etcd ExecStart in user-data")
	}
	return words[1:]
}

func TestSeedsFormRealCluster(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch string
	}{
		{"tls", `{}`},
		{"plain-http", `{tls: {enabled: false}, etcd: {extraClientPorts: [4001]}}`},
		// kubeadm's layout, and kube-apiserver's certificate as the client.
		{"kubeadm", `{kubeadm: {enabled: true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testSeedsFormRealCluster(t, tc.patch, tc.name != "plain-http", tc.name == "kubeadm")
		})
	}
}

func testSeedsFormRealCluster(t *testing.T, patch string, tls, kubeadm bool) {
	rel := etcdtest.Release(t)
	ips := []string{"192.168.0.11", "192.168.0.12", "192.168.0.13"}
	nodeNS, clientNS := lan(t, ips, "192.168.0.250")
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	root := t.TempDir()
	o := pipeline.Options{
		Spec:     writeSpec(t, `std.mergePatch({etcd: {heartbeatIntervalMs: 100, electionTimeoutMs: 1000}}, `+patch+`)`),
		Jsonnet:  jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": hex.EncodeToString(sum[:])}},
		OutDir:   filepath.Join(root, "out"),
		PKIDir:   filepath.Join(root, "pki"),
		CacheDir: filepath.Join(root, "cache"),
	}
	res, err := pipeline.Build(context.Background(), o)
	if err != nil || res.Report.IsFatal() {
		t.Fatalf("build: %v\n%s", err, res.Report)
	}

	var bins etcdtest.Bins
	var endpoints []string
	for i, n := range res.Nodes {
		img, err := isoread.Read(n.ISO)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The etcd we run is the one on the ISO.
			tb := filepath.Join(t.TempDir(), "release.tar.gz")
			os.WriteFile(tb, img.Files["etcdimg/etcd-v3.6.16-linux-amd64.tar.gz"], 0o644)
			bins = etcdtest.Extract(t, tb)
		}
		// What the first-boot script does on the VM, into a temp folder.
		nodeDir := t.TempDir()
		pkiDir := filepath.Join(nodeDir, "pki")
		os.Mkdir(pkiDir, 0o700)
		for p, data := range img.Files {
			if strings.HasPrefix(p, "etcdimg/pki/") {
				os.WriteFile(filepath.Join(pkiDir, filepath.Base(p)), data, 0o600)
			}
		}
		dataDir := filepath.Join(nodeDir, "data")
		os.Mkdir(dataDir, 0o700)
		var args []string
		vmPKI := "/etc/etcd/pki/"
		if kubeadm {
			vmPKI = "/etc/kubernetes/pki/etcd/"
		}
		for _, a := range execStart(t, img.Files["user-data"]) {
			if strings.Contains(a, "/pki/") && !strings.Contains(a, vmPKI) {
				t.Fatalf("%s names a certificate outside %s", a, vmPKI)
			}
			a = strings.ReplaceAll(a, vmPKI, pkiDir+"/")
			if strings.HasPrefix(a, "--data-dir=") {
				a = "--data-dir=" + dataDir
			}
			args = append(args, a)
		}
		etcdtest.Start(t, inNS(t, nodeNS[i], bins.Etcd), args)
		scheme := "http"
		if tls {
			scheme = "https"
		}
		endpoints = append(endpoints, scheme+"://"+ips[i]+":2379")
		if !tls {
			endpoints = append(endpoints, "http://"+ips[i]+":4001") // the blog's legacy port
		}
	}
	ctl := inNS(t, clientNS, bins.Etcdctl)
	var auth []string
	if tls {
		client := "admin"
		if kubeadm {
			client = "apiserver-etcd-client" // what kube-apiserver presents
		}
		auth = []string{"--cacert=" + filepath.Join(o.PKIDir, "ca.crt"), "--cert=" + filepath.Join(o.PKIDir, client+".crt"), "--key=" + filepath.Join(o.PKIDir, client+".key")}
	}
	start := time.Now()
	if err := etcdtest.WaitHealthy(t, ctl, endpoints, auth, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("3 members healthy %v after start", time.Since(start).Round(time.Millisecond))
	out, err := etcdtest.Etcdctl(t, ctl, append([]string{"member", "list", "--endpoints=" + endpoints[0]}, auth...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"etcd01", "etcd02", "etcd03"} {
		if !strings.Contains(out, ", "+n+", ") {
			t.Errorf("member list lacks %s:\n%s", n, out)
		}
	}
	if _, err := etcdtest.Etcdctl(t, ctl, append([]string{"put", "blog", "etcd on first boot", "--endpoints=" + endpoints[0]}, auth...)...); err != nil {
		t.Fatal(err)
	}
	for _, ep := range endpoints {
		got, err := etcdtest.Etcdctl(t, ctl, append([]string{"get", "blog", "--print-value-only", "--endpoints=" + ep}, auth...)...)
		if err != nil || strings.TrimSpace(got) != "etcd on first boot" {
			t.Errorf("read through %s: %q %v", ep, got, err)
		}
	}
	if tls {
		// Without a client certificate the cluster must refuse the client.
		if out, err := etcdtest.Etcdctl(t, ctl, "get", "blog", "--endpoints="+endpoints[1], "--cacert="+filepath.Join(o.PKIDir, "ca.crt"), "--dial-timeout=3s", "--command-timeout=5s"); err == nil {
			t.Errorf("a client without a certificate was served: %s", out)
		}
	}
}
