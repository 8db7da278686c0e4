package build_test

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

	"github.com/etcdimg/etcdimg/build"
	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/jsonnet"
)

// netns makes a network namespace holding the node IPs on its loopback, so
// real etcd processes can listen on exactly the addresses the seeds name.
// Nothing leaves the namespace.
func netns(t *testing.T, ips []string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("iproute2 not installed")
	}
	ns := fmt.Sprintf("etcdimg-test-%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(ip, "netns", "del", ns).Run() })
	run := func(args ...string) {
		if out, err := exec.Command(ip, append([]string{"netns", "exec", ns, ip}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	run("link", "set", "lo", "up")
	for _, a := range ips {
		run("addr", "add", a+"/32", "dev", "lo")
	}
	return ns
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			testSeedsFormRealCluster(t, tc.patch, tc.name == "tls")
		})
	}
}

func testSeedsFormRealCluster(t *testing.T, patch string, tls bool) {
	rel := etcdtest.Release(t)
	ips := []string{"192.168.0.11", "192.168.0.12", "192.168.0.13"}
	ns := netns(t, ips)
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	root := t.TempDir()
	o := build.Options{
		Spec:    writeSpec(t, `std.mergePatch({etcd: {heartbeatIntervalMs: 100, electionTimeoutMs: 1000}}, `+patch+`)`),
		Jsonnet: jsonnet.Options{ExtStr: map[string]string{"release": rel, "sha": hex.EncodeToString(sum[:])}},
		OutDir:  filepath.Join(root, "out"),
		PKIDir:  filepath.Join(root, "pki"),
	}
	res, err := build.Build(context.Background(), o)
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
		for _, a := range execStart(t, img.Files["user-data"]) {
			a = strings.ReplaceAll(a, "/etc/etcd/pki/", pkiDir+"/")
			if strings.HasPrefix(a, "--data-dir=") {
				a = "--data-dir=" + dataDir
			}
			args = append(args, a)
		}
		etcdtest.Start(t, inNS(t, ns, bins.Etcd), args)
		scheme := "http"
		if tls {
			scheme = "https"
		}
		endpoints = append(endpoints, scheme+"://"+ips[i]+":2379")
		if !tls {
			endpoints = append(endpoints, "http://"+ips[i]+":4001") // the blog's legacy port
		}
	}
	ctl := inNS(t, ns, bins.Etcdctl)
	var auth []string
	if tls {
		auth = []string{"--cacert=" + filepath.Join(o.PKIDir, "ca.crt"), "--cert=" + filepath.Join(o.PKIDir, "admin.crt"), "--key=" + filepath.Join(o.PKIDir, "admin.key")}
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
