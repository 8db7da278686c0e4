package etcdtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeTarball writes a release-shaped tarball whose "binaries" are shell
// scripts, so the helper's plumbing is tested without a real etcd.
func fakeTarball(t *testing.T, scripts map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	dir := "etcd-v3.6.16-linux-amd64/"
	if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"etcd", "etcdctl", "etcdutl"} {
		body := scripts[name]
		if body == "" {
			body = "#!/bin/sh\necho " + name + " fake\n"
		}
		if err := tw.WriteHeader(&tar.Header{Name: dir + name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	// An upstream-style symlink must not be followed out of the temp dir.
	tw.WriteHeader(&tar.Header{Name: dir + "link", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink})
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "etcd-v3.6.16-linux-amd64.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtract(t *testing.T) {
	bins := Extract(t, fakeTarball(t, nil))
	for name, p := range map[string]string{"etcd": bins.Etcd, "etcdctl": bins.Etcdctl, "etcdutl": bins.Etcdutl} {
		if filepath.Base(p) != name || filepath.Base(filepath.Dir(p)) != "etcd-v3.6.16-linux-amd64" {
			t.Errorf("%s extracted to %s", name, p)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode = %v, want 0755", name, fi.Mode().Perm())
		}
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(bins.Etcd), "link")); err == nil {
		t.Error("symlink entry was extracted")
	}
	out, err := Etcdctl(t, bins.Etcdctl, "version")
	if err != nil || out != "etcdctl fake\n" {
		t.Errorf("Etcdctl = %q, %v", out, err)
	}
}

func TestWaitHealthyTimesOutWithLastOutput(t *testing.T) {
	bins := Extract(t, fakeTarball(t, map[string]string{
		"etcdctl": "#!/bin/sh\necho \"$@\"\necho 'is unhealthy: failed to commit proposal' >&2\nexit 1\n",
	}))
	start := time.Now()
	err := WaitHealthy(t, bins.Etcdctl, []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, []string{"--cacert=/x"}, 700*time.Millisecond)
	if err == nil {
		t.Fatal("WaitHealthy succeeded against a failing etcdctl")
	}
	for _, want := range []string{"is unhealthy", "--endpoints=http://127.0.0.1:1,http://127.0.0.1:2", "--cacert=/x"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("WaitHealthy took %v for a 700ms timeout", d)
	}
}

func TestStartEnvAndCleanup(t *testing.T) {
	t.Setenv("ETCD_NAME", "from-env")
	t.Setenv("ETCDCTL_ENDPOINTS", "http://elsewhere")
	dir := t.TempDir()
	var pids []int
	t.Run("run", func(t *testing.T) {
		// The shell leaves a grandchild behind, as a crashed etcd wrapper
		// could; killing the group must take it too.
		script := fmt.Sprintf(`sleep 300 & echo $$ $! > %s/pids; wait`, dir)
		p := Start(t, "/bin/sh", []string{"-c", script, "--name", "m1"})
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(dir, "pids"))
			if f := strings.Fields(string(b)); len(f) == 2 {
				for _, s := range f {
					n, _ := strconv.Atoi(s)
					pids = append(pids, n)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("script did not start; log:\n%s", p.Tail(10))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if pids[0] != p.Pid() {
			t.Errorf("shell pid %d, Proc.Pid %d", pids[0], p.Pid())
		}
		if filepath.Base(p.LogPath) != "m1.log" {
			t.Errorf("log is %s, want it named after --name", p.LogPath)
		}
	})
	// SIGKILL to the group is delivered asynchronously to the grandchild,
	// which nobody here waits for, so give it a moment to die.
	for _, pid := range pids {
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("pid %d still alive after cleanup", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	p := Start(t, "/bin/sh", []string{"-c", "env | grep -E '^ETCD(CTL)?_' || echo no-etcd-env"})
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("sh did not exit")
	}
	if got := p.Tail(5); got != "no-etcd-env" {
		t.Errorf("child saw ETCD variables: %q", got)
	}
}

// alive treats zombies as dead: in a container the reaper of an orphaned
// grandchild may be slow or absent.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestStop(t *testing.T) {
	p := Start(t, "/bin/sh", []string{"-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done"})
	// A SIGTERM sent before the trap is set would kill the shell silently.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Tail(1), "ready") {
		if time.Now().After(deadline) {
			t.Fatal("shell never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Tail(5), "got-term") {
		t.Errorf("log %q: SIGTERM did not reach the process", p.Tail(5))
	}
}

func TestFlagValue(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "a"}, "a"},
		{[]string{"--name=b"}, "b"},
		{[]string{"-name", "c"}, "c"},
		{[]string{"--data-dir", "/x", "--name=d", "--names", "e"}, "d"},
		{[]string{"--name"}, ""},
		{nil, ""},
	} {
		if got := flagValue(tt.args, "name"); got != tt.want {
			t.Errorf("flagValue(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

// TestThreeMemberCluster boots a static 3-member plain-HTTP cluster on three
// loopback addresses, as three VMs would, and checks that it replicates.
func TestThreeMemberCluster(t *testing.T) {
	bins := Extract(t, Release(t))

	type member struct{ name, ip, client, peer string }
	var ms []member
	var initial []string
	for i, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
		m := member{
			name:   fmt.Sprintf("m%d", i+1),
			ip:     ip,
			client: fmt.Sprintf("http://%s:%d", ip, FreePort(t, ip)),
			peer:   fmt.Sprintf("http://%s:%d", ip, FreePort(t, ip)),
		}
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peer)
	}

	var endpoints []string
	for _, m := range ms {
		dataDir := t.TempDir()
		Start(t, bins.Etcd, []string{
			"--name", m.name,
			"--data-dir", dataDir,
			"--initial-advertise-peer-urls", m.peer,
			"--listen-peer-urls", m.peer,
			"--listen-client-urls", m.client,
			"--advertise-client-urls", m.client,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", "etcdtest-" + strconv.Itoa(os.Getpid()),
			"--initial-cluster-state", "new",
			"--heartbeat-interval", "100",
			"--election-timeout", "1000",
		})
		endpoints = append(endpoints, m.client)
	}

	if err := WaitHealthy(t, bins.Etcdctl, endpoints, nil, 60*time.Second); err != nil {
		t.Fatal(err)
	}

	out, err := Etcdctl(t, bins.Etcdctl, "--endpoints="+endpoints[0], "member", "list", "-w", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Members []struct {
			Name       string   `json:"name"`
			PeerURLs   []string `json:"peerURLs"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("member list output %q: %v", out, err)
	}
	if len(list.Members) != 3 {
		t.Fatalf("member list has %d members, want 3:\n%s", len(list.Members), out)
	}
	got := map[string]string{}
	for _, m := range list.Members {
		if len(m.PeerURLs) != 1 || len(m.ClientURLs) != 1 {
			t.Errorf("member %s has peer URLs %v and client URLs %v, want one each", m.Name, m.PeerURLs, m.ClientURLs)
			continue
		}
		got[m.Name] = m.PeerURLs[0] + " " + m.ClientURLs[0]
	}
	for _, m := range ms {
		if want := m.peer + " " + m.client; got[m.name] != want {
			t.Errorf("member %s: %q, want %q", m.name, got[m.name], want)
		}
	}

	if _, err := Etcdctl(t, bins.Etcdctl, "--endpoints="+endpoints[0], "put", "/etcdimg/probe", "written-via-m1"); err != nil {
		t.Fatal(err)
	}
	// A linearizable read (the default) through another member proves the
	// write went through raft, not just into m1's store.
	out, err = Etcdctl(t, bins.Etcdctl, "--endpoints="+endpoints[2], "get", "/etcdimg/probe", "--print-value-only")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "written-via-m1" {
		t.Errorf("get via m3 = %q, want %q", out, "written-via-m1")
	}
}
