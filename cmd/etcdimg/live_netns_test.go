package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/internal/etcdtest"
	"github.com/etcdimg/etcdimg/internal/isoread"
	"github.com/etcdimg/etcdimg/snapshot"
)

// netLAN builds a LAN of network namespaces, one per node IP plus one for
// the client, each with a veth into a bridge namespace, so every member
// talks from its own address as on the VMs. Nothing leaves the
// namespaces. (The same shape as the pipeline's seed test.)
func netLAN(t *testing.T, ips []string, client string) (nodes []string, clientNS string) {
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
	prefix := fmt.Sprintf("eic%d", os.Getpid()%100000)
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

// inNetNS runs argv inside ns and returns its exit code and output.
func inNetNS(t *testing.T, ns string, argv ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return code, out.String(), errb.String()
}

// unitArgs reads the etcd command line out of the unit user-data writes,
// so the member runs what the VM would run.
func unitArgs(t *testing.T, userData []byte) []string {
	t.Helper()
	var words []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(userData)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			in, line = true, v
		}
		if !in {
			continue
		}
		words = append(words, strings.Fields(strings.TrimSuffix(line, `\`))...)
		if !strings.HasSuffix(line, `\`) {
			break
		}
	}
	if len(words) < 2 || words[0] != "/usr/local/bin/etcd" {
		t.Fatal("no etcd ExecStart in user-data")
	}
	return words[1:]
}

// TestClientCommandsOnBuiltSeeds is the whole host-side story on what
// `etcdimg build` really writes: the CLI builds seeds for three nodes, each
// member runs in its own network namespace from its seed's files and unit
// line, and the CLI, run in a client namespace as an operator's machine on
// the LAN, reads the output folder: status, snapshot save, then one member
// dies — status says so, a removal that would break quorum is refused, the
// dead member is removed, and status is healthy again.
func TestClientCommandsOnBuiltSeeds(t *testing.T) {
	rel := etcdtest.Release(t)
	ips := []string{"10.77.0.11", "10.77.0.12", "10.77.0.13"}
	nodeNS, clientNS := netLAN(t, ips, "10.77.0.250")
	self, err := exec.LookPath("etcdimg") // testscript.Main put the CLI on PATH
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	root := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(root, "cache"))
	spec := filepath.Join(root, "cluster.jsonnet")
	os.WriteFile(spec, []byte(`
local etcdimg = import 'etcdimg.libsonnet';
{
  name: 'live',
  domain: 'example.internal',
  network: { cidr: '10.77.0.0/24', gateway: '10.77.0.1' },
  etcd: { version: '3.6.16', release: { path: std.extVar('release'), sha256: std.extVar('sha') },
          heartbeatIntervalMs: 100, electionTimeoutMs: 1000 },
  nodes: etcdimg.nodes('etcd', ['10.77.0.11', '10.77.0.12', '10.77.0.13']),
}`), 0o644)
	out, pkiDir := filepath.Join(root, "out"), filepath.Join(root, "pki")
	if code, o, e := runCmd(t, "build", spec, "-o", out, "--pki-dir", pkiDir, "-q", "--ext-str", "release="+rel, "--ext-str", "sha="+hex.EncodeToString(sum[:])); code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, o, e)
	}

	var bins etcdtest.Bins
	procs := map[string]*etcdtest.Proc{}
	for i, name := range []string{"etcd01", "etcd02", "etcd03"} {
		img, err := isoread.Read(filepath.Join(out, name+".iso"))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			tb := filepath.Join(t.TempDir(), "release.tar.gz")
			os.WriteFile(tb, img.Files["etcdimg/etcd-v3.6.16-linux-amd64.tar.gz"], 0o644)
			bins = etcdtest.Extract(t, tb)
		}
		nodeDir := t.TempDir()
		nodePKI := filepath.Join(nodeDir, "pki")
		os.Mkdir(nodePKI, 0o700)
		for p, data := range img.Files {
			if strings.HasPrefix(p, "etcdimg/pki/") {
				os.WriteFile(filepath.Join(nodePKI, filepath.Base(p)), data, 0o600)
			}
		}
		dataDir := filepath.Join(nodeDir, "data")
		os.Mkdir(dataDir, 0o700)
		var args []string
		for _, a := range unitArgs(t, img.Files["user-data"]) {
			a = strings.ReplaceAll(a, "/etc/etcd/pki/", nodePKI+"/")
			if strings.HasPrefix(a, "--data-dir=") {
				a = "--data-dir=" + dataDir
			}
			args = append(args, a)
		}
		w := filepath.Join(t.TempDir(), "etcd-in-ns")
		os.WriteFile(w, []byte(fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", nodeNS[i], bins.Etcd)), 0o755)
		procs[name] = etcdtest.Start(t, w, args)
	}

	status := func() (int, etcdclient.Status, string) {
		t.Helper()
		code, o, e := inNetNS(t, clientNS, self, "status", out, "-o", "json")
		var st etcdclient.Status
		if err := json.Unmarshal([]byte(o), &st); err != nil {
			t.Fatalf("status -o json: exit %d, %v\n%s%s", code, err, o, e)
		}
		return code, st, e
	}
	var code int
	var st etcdclient.Status
	for deadline := time.Now().Add(60 * time.Second); ; {
		if code, st, _ = status(); code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code != 0 || len(st.Members) != 3 {
		t.Fatalf("status of the new cluster: exit %d %+v", code, st)
	}
	for i, m := range st.Members {
		crt, _ := os.ReadFile(filepath.Join(pkiDir, "nodes", m.Name, "server.crt"))
		blk, _ := pem.Decode(crt)
		var want time.Time
		if blk != nil {
			c, _ := x509.ParseCertificate(blk.Bytes)
			want = c.NotAfter
		}
		if m.Endpoint != "https://"+ips[i]+":2379" || m.Cert == nil || !m.Cert.NotAfter.Equal(want) || m.Version != "3.6.16" {
			t.Errorf("%s: endpoint %s cert %+v (want notAfter %v) version %s", m.Name, m.Endpoint, m.Cert, want, m.Version)
		}
	}
	code, table, _ := inNetNS(t, clientNS, self, "status", out)
	t.Logf("etcdimg status %s:\n%s", out, table)

	// Data written with etcdctl, configured only by the build's etcdctl.env.
	env, err := os.ReadFile(filepath.Join(out, "etcdctl.env"))
	if err != nil {
		t.Fatal(err)
	}
	etcdctl := []string{"env"}
	for _, l := range strings.Split(string(env), "\n") {
		if strings.HasPrefix(l, "ETCDCTL_") {
			etcdctl = append(etcdctl, l)
		}
	}
	etcdctl = append(etcdctl, bins.Etcdctl)
	for i := range 3 {
		if code, o, e := inNetNS(t, clientNS, append(etcdctl, "put", fmt.Sprintf("k%d", i), "v")...); code != 0 {
			t.Fatalf("etcdctl put: %s%s", o, e)
		}
	}

	backup := filepath.Join(root, "backup.db")
	code, o, e := inNetNS(t, clientNS, self, "snapshot", "save", out, "-o", backup)
	t.Logf("etcdimg snapshot save:\n%s", o)
	if code != 0 {
		t.Fatalf("snapshot save: exit %d\n%s%s", code, o, e)
	}
	if info, err := snapshot.Verify(backup); err != nil || info.Revision != 4 || info.TotalKeys != 3 {
		t.Errorf("saved snapshot: %+v %v", info, err)
	}

	procs["etcd03"].Kill()
	code, st, _ = status()
	var down etcdclient.MemberStatus
	for _, m := range st.Members {
		if m.Name == "etcd03" {
			down = m
		}
	}
	if code != 1 || down.Reachable || !strings.Contains(down.Error, "connection refused") {
		t.Errorf("status with etcd03 down: exit %d, row %+v", code, down)
	}
	code, o, e = inNetNS(t, clientNS, self, "member", "remove", out, "etcd01")
	if code != 1 || !strings.Contains(e, "refused: removing etcd01 would leave 2 voting members, of which 1 healthy") {
		t.Errorf("remove a healthy member with etcd03 down: exit %d\n%s%s", code, o, e)
	}
	code, o, e = inNetNS(t, clientNS, self, "member", "remove", out, "etcd03")
	if code != 0 || !regexp.MustCompile(`^removed member etcd03 \(id [0-9a-f]+\)\nthe cluster has 2 members now`).MatchString(o) {
		t.Errorf("remove dead etcd03: exit %d\n%s%s", code, o, e)
	}
	code, table, _ = inNetNS(t, clientNS, self, "status", out)
	t.Logf("etcdimg status after removing etcd03:\n%s", table)
	if code != 0 || !regexp.MustCompile(`(?m)^etcd03 +- +not a member `).MatchString(table) {
		t.Errorf("status after the removal: exit %d", code)
	}
}
