// Package etcdtest runs real etcd processes from a release tarball on
// loopback for tests, so that what the seed ISO ships (binaries, flags,
// certificates) is exercised as etcd itself sees it rather than through a
// fake or an embedded server.
//
// Tests that need it call Release to get the tarball named by the
// ETCDIMG_RELEASE environment variable, and are skipped when it is unset.
package etcdtest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdimg/etcdimg/release"
)

// EnvRelease names the environment variable that points at an etcd
// linux-amd64 release tarball, such as the one scripts/etcd-release.sh
// writes.
const EnvRelease = "ETCDIMG_RELEASE"

// Release returns the absolute path of the tarball named by ETCDIMG_RELEASE
// and skips the test when it is unset. A relative value is taken from the
// root of the Go module, because go test runs each package in its own
// folder.
func Release(t testing.TB) string {
	t.Helper()
	p := os.Getenv(EnvRelease)
	if p == "" {
		t.Skipf("%s is not set; run scripts/etcd-release.sh and set %s to the tarball it writes (e.g. out/etcd-release/etcd-v3.6.16-linux-amd64.tar.gz)", EnvRelease, EnvRelease)
	}
	if !filepath.IsAbs(p) {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("%s=%s is relative and %v", EnvRelease, p, err)
		}
		p = filepath.Join(root, p)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v; run scripts/etcd-release.sh to build it", EnvRelease, err)
	}
	return p
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Bins are the paths of the binaries unpacked from a release tarball.
type Bins struct{ Etcd, Etcdctl, Etcdutl string }

// Extract unpacks the release tarball into a fresh t.TempDir and returns the
// paths of etcd, etcdctl and etcdutl. It does not check the checksum: tests
// that care use release.Open first.
func Extract(t testing.TB, tarball string) Bins {
	t.Helper()
	dest := t.TempDir()
	if err := extract(tarball, dest); err != nil {
		t.Fatalf("extract %s: %v", tarball, err)
	}
	var bins Bins
	for name, p := range map[string]*string{"etcd": &bins.Etcd, "etcdctl": &bins.Etcdctl, "etcdutl": &bins.Etcdutl} {
		found, err := findBinary(dest, name)
		if err != nil {
			t.Fatalf("extract %s: %v", tarball, err)
		}
		*p = found
	}
	return bins
}

func extract(tarball, dest string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := release.CleanEntryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		target := filepath.Join(dest, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeFile(target, tr, os.FileMode(hdr.Mode)&0o777); err != nil {
				return err
			}
		default:
			// Links and devices have no business in an etcd release, and
			// following a symlink could write outside dest.
		}
	}
}

func writeFile(path string, r io.Reader, mode os.FileMode) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// findBinary accepts the binary in the single top folder, as upstream and
// our script lay it out, or at the root of a flat archive.
func findBinary(dest, name string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(dest, "*", name))
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(filepath.Join(dest, name)); err == nil && fi.Mode().IsRegular() {
		matches = append(matches, filepath.Join(dest, name))
	}
	var regular []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
			regular = append(regular, m)
		}
	}
	switch len(regular) {
	case 0:
		return "", fmt.Errorf("no %s binary in the archive", name)
	case 1:
		return regular[0], nil
	default:
		return "", fmt.Errorf("several %s binaries in the archive: %v", name, regular)
	}
}

// Proc is an etcd (or other) process started by Start.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string // stdout and stderr of the process

	done    chan struct{}
	waitErr error
}

// Start launches bin with args, exactly as a systemd ExecStart would pass
// them, with stdout and stderr in a log file under t.TempDir. The process
// runs in its own process group; cleanup kills the group and, when the test
// failed, logs the tail of the log.
//
// Create the --data-dir with t.TempDir before calling Start: cleanups run
// last-registered first, so the process is dead before its data dir is
// removed.
func Start(t testing.TB, bin string, args []string) *Proc {
	t.Helper()
	name := flagValue(args, "name")
	if name == "" {
		name = filepath.Base(bin)
	}
	name = strings.ReplaceAll(name, "/", "_")
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy of the descriptor

	cmd, err := startRetry(func() *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Stdout = logf
		cmd.Stderr = logf
		cmd.Env = hermeticEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Setpgid: true,
			// If the test binary dies without running cleanups (go test
			// -timeout panics, a Ctrl-C), the kernel still kills etcd, so a
			// later run does not find the ports taken.
			Pdeathsig: syscall.SIGKILL,
		}
		return cmd
	})
	if err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &Proc{Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s (pid %d, %s) %s; last lines of %s:\n%s", name, cmd.Process.Pid, bin, p.state(), logPath, p.Tail(60))
		}
	})
	return p
}

// Pid is the process id, which is also its process group id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the exit error of the process; call it only after Done is closed.
func (p *Proc) Err() error { return p.waitErr }

// Stop asks the process group to exit with SIGTERM, as systemd does, and
// kills it when it has not exited within timeout.
func (p *Proc) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("pid %d did not exit within %v of SIGTERM; killed it", p.Pid(), timeout)
	}
}

// Kill kills the whole process group with SIGKILL and waits until the
// process is reaped.
func (p *Proc) Kill() {
	// The group is killed even after the leader exited, in case it left
	// children behind holding ports.
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
}

func (p *Proc) state() string {
	select {
	case <-p.done:
		if p.waitErr != nil {
			return "exited: " + p.waitErr.Error()
		}
		return "exited"
	default:
		return "running"
	}
}

// Tail returns the last n lines of the process log.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// flagValue finds --name=value, --name value or -name value, the spellings
// etcd accepts.
func flagValue(args []string, name string) string {
	for i, a := range args {
		for _, prefix := range []string{"--" + name, "-" + name} {
			if v, ok := strings.CutPrefix(a, prefix+"="); ok {
				return v
			}
			if a == prefix && i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return ""
}

// hermeticEnv drops ETCD_* and ETCDCTL_* variables: etcd and etcdctl read
// them as flags, and one left in a developer's shell would silently change
// what the test runs.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "ETCDCTL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startRetry retries on ETXTBSY: a binary Extract just wrote can still be
// open for writing in a child forked at that moment by a parallel test
// (golang/go#22315), which makes exec fail briefly.
func startRetry(newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	for i := 0; ; i++ {
		// An exec.Cmd cannot be started twice, hence a fresh one each try.
		cmd := newCmd()
		err := cmd.Start()
		if err == nil {
			return cmd, nil
		}
		if !errors.Is(err, syscall.ETXTBSY) || i == 20 {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitHealthy runs `etcdctl endpoint health` against endpoints, with extra
// flags such as --cacert/--cert/--key, until every endpoint is healthy or
// timeout passes. The error carries the last output.
func WaitHealthy(t testing.TB, etcdctl string, endpoints []string, extra []string, timeout time.Duration) error {
	t.Helper()
	args := []string{"endpoint", "health", "--endpoints=" + strings.Join(endpoints, ","),
		"--dial-timeout=2s", "--command-timeout=3s"}
	// Later flags win in etcdctl, so the caller's extra can override ours.
	args = append(args, extra...)
	deadline := time.Now().Add(timeout)
	var out string
	var err error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("etcd %s not healthy after %v: %v\n%s", strings.Join(endpoints, ","), timeout, err, out)
		}
		o, e := run(etcdctl, args, min(left, 15*time.Second))
		if e == nil {
			return nil
		}
		// An attempt cut short by the deadline says less about why the
		// cluster is unhealthy than the full attempt before it.
		if out == "" || strings.TrimSpace(o) != "" {
			out, err = o, e
		}
		time.Sleep(min(250*time.Millisecond, max(time.Until(deadline), 0)))
	}
}

// Etcdctl runs etcdctl with args and returns its combined output. It gives
// up after a minute, so a wedged cluster fails the test instead of hanging
// it until go test's global timeout.
func Etcdctl(t testing.TB, etcdctl string, args ...string) (string, error) {
	t.Helper()
	out, err := run(etcdctl, args, time.Minute)
	if err != nil {
		return out, fmt.Errorf("etcdctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

func run(bin string, args []string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []byte
	var err error
	for i := 0; i < 20; i++ {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = hermeticEnv()
		out, err = cmd.CombinedOutput()
		if !errors.Is(err, syscall.ETXTBSY) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (gave up after %v)", err, timeout)
	}
	return string(out), err
}

// FreePort returns a TCP port that is free on host right now. Tests use it
// rather than fixed ports because go test runs packages in parallel and
// several of them may start clusters on the same loopback addresses. The
// port could in theory be taken before etcd binds it; ports come from the
// kernel's ephemeral range, where that is rare.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("find a free port on %s: %v", host, err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
