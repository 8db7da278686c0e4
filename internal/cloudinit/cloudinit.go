// Package cloudinit runs real cloud-init installations over the files a seed
// carries: the host's package, and the cloud-init of another Debian release
// kept as a root directory and run with chroot. A seed must be valid for every
// cloud-init a node may boot with, and must draw no warning and no
// deprecation from any: Debian 13's cloud-init (25.1) turns either into
// `status: degraded done` and exit code 2 from `cloud-init status`.
package cloudinit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUnsupported is returned by NetworkConfig when the installation has no
// network-config schema check: Debian 12's 22.4 has no
// `schema -t network-config`. It matches errors.ErrUnsupported too.
var ErrUnsupported = fmt.Errorf("cloud-init cannot check network-config: %w", errors.ErrUnsupported)

// Checker runs `cloud-init schema` of one installation.
type Checker struct {
	Name    string // "host-bookworm", "chroot-trixie": what a subtest is named after
	Version string // cloud-init's own, e.g. "25.1.4"

	bin  string // the host's cloud-init; empty for a chroot
	root string // the root cloud-init runs in; empty for the host

	// schemaType: `cloud-init schema` takes -t network-config.
	schemaType bool
	// ownV2Schema: a v2 network-config is checked twice, with netplan's
	// parser and with cloud-init's own v2 schema. cloud-init 25.1 picks
	// one by the node's image: netplan's parser where python3-netplan is
	// installed (netplan images), its own schema where netplan is absent
	// altogether (ifupdown images, such as e2e's). The root has the parser
	// but no netplan binary, so hiding the parser reaches the other path.
	ownV2Schema bool
}

// Where the netplan Python API lives in a Debian root; hidden by an empty
// read-only tmpfs to make cloud-init fall back to its own v2 schema.
const netplanModule = "usr/lib/python3/dist-packages/netplan"

// Host is the host's cloud-init.
func Host() (*Checker, error) {
	bin, err := exec.LookPath("cloud-init")
	if err != nil {
		return nil, fmt.Errorf("host: no cloud-init (apt-get install cloud-init): %w", err)
	}
	c := &Checker{Name: "host", bin: bin}
	if codename := osCodename("/"); codename != "" {
		c.Name += "-" + codename
	}
	if err := c.probe(); err != nil {
		return nil, err
	}
	return c, nil
}

// Chroot is the cloud-init installed in root, a Debian root directory such as
// scripts/trixie-root.sh builds. Each run happens in a private mount
// namespace (unshare --mount --propagation private) where fresh tmpfs
// mounts cover root/run and root/tmp and a proc is mounted on root/proc: they
// vanish with the namespace, so nothing leaks to the host, no state carries
// from one run to the next, and there is nothing to clean up.
func Chroot(root string) (*Checker, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/cloud-init")); err != nil {
		return nil, fmt.Errorf("chroot %s: no cloud-init in it: %w", root, err)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("chroot %s: needs root (mount namespace, chroot)", root)
	}
	for _, tool := range []string{"unshare", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("chroot %s: %s missing (util-linux, coreutils): %w", root, tool, err)
		}
	}
	c := &Checker{Name: "chroot", root: root}
	if codename := osCodename(root); codename != "" {
		c.Name += "-" + codename
	}
	if err := c.probe(); err != nil {
		return nil, err
	}
	_, errAPI := os.Stat(filepath.Join(root, netplanModule))
	_, errBin1 := os.Stat(filepath.Join(root, "usr/sbin/netplan"))
	_, errBin2 := os.Stat(filepath.Join(root, "sbin/netplan"))
	c.ownV2Schema = c.schemaType && errAPI == nil && errBin1 != nil && errBin2 != nil
	return c, nil
}

// probe fills Version and what `schema` accepts, and proves the installation
// runs at all.
func (c *Checker) probe() error {
	out, err := c.run("", false, "--version")
	if err != nil {
		return fmt.Errorf("%s: cloud-init --version: %v\n%s", c.Name, err, out)
	}
	// "/usr/bin/cloud-init 25.1.4"
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return fmt.Errorf("%s: cloud-init --version printed nothing", c.Name)
	}
	c.Version = f[len(f)-1]
	out, err = c.run("", false, "schema", "--help")
	if err != nil {
		return fmt.Errorf("%s: cloud-init schema --help: %v\n%s", c.Name, err, out)
	}
	c.schemaType = bytes.Contains(out, []byte("--schema-type"))
	return nil
}

func (c *Checker) String() string { return c.Name + " (cloud-init " + c.Version + ")" }

// UserData checks a user-data file: valid cloud-config, and not one warning
// or deprecation in cloud-init's output.
func (c *Checker) UserData(path string) error {
	return c.schema(path, false)
}

// CanCheckNetworkConfig tells whether NetworkConfig does anything but return
// ErrUnsupported.
func (c *Checker) CanCheckNetworkConfig() bool { return c.schemaType }

// NetworkConfig checks a network-config file the way UserData checks
// user-data, with every validator this cloud-init version applies at boot
// (see Checker.ownV2Schema). ErrUnsupported where the version has none.
func (c *Checker) NetworkConfig(path string) error {
	if !c.schemaType {
		return fmt.Errorf("%s: %w", c, ErrUnsupported)
	}
	err := c.schema(path, false, "-t", "network-config")
	if c.ownV2Schema {
		if err != nil {
			err = fmt.Errorf("with netplan's parser: %w", err)
		}
		if err2 := c.schema(path, true, "-t", "network-config"); err2 != nil {
			err = errors.Join(err, fmt.Errorf("with cloud-init's own v2 schema (no netplan on the node): %w", err2))
		}
	}
	return err
}

// flagged are words that must not appear in the output of a check: any of
// them means a node would log a WARNING or DEPRECATED and report degraded,
// or that nothing was checked at all. libnetplan prints its deprecations as
// "** (process:N): WARNING **" on stderr, so stderr is read too.
var flagged = []string{"deprecat", "warning", "skipping", "error", "invalid"}

func (c *Checker) schema(path string, hideNetplan bool, extra ...string) error {
	args := append([]string{"schema"}, extra...)
	args = append(args, "-c", "")
	cmdline := "cloud-init " + strings.Join(args[:len(args)-1], " ") + " " + path
	out, err := c.run(path, hideNetplan, args...)
	if err != nil {
		return fmt.Errorf("%s: %s: %v\n%s", c, cmdline, err, out)
	}
	// The file's name is echoed back; a word in it (a test's temp dir is
	// named after the test) must not count as a finding.
	text := strings.ReplaceAll(string(out), path, "FILE")
	text = strings.ReplaceAll(text, "/tmp/"+filepath.Base(path), "FILE")
	lower := strings.ToLower(text)
	for _, w := range flagged {
		if strings.Contains(lower, w) {
			return fmt.Errorf("%s: %s: output has %q:\n%s", c, cmdline, w, out)
		}
	}
	// 22.4: "Valid cloud-config: FILE"; 25.1: "Valid schema FILE".
	valid := false
	for _, line := range strings.Split(text, "\n") {
		valid = valid || strings.HasPrefix(line, "Valid ")
	}
	if !valid {
		return fmt.Errorf("%s: %s: no \"Valid\" verdict:\n%s", c, cmdline, out)
	}
	return nil
}

// runScript runs inside the new mount namespace, so its mounts die with it.
// Arguments: ROOT, the file to copy into ROOT/tmp ("" for none), the netplan
// module to hide ("" for none), then the command. The file is copied rather
// than bind-mounted so cloud-init sees a plain file under a tmpfs /tmp.
const runScript = `set -eu
root=$1 file=$2 hide=$3
shift 3
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m etcdimg-run "$root/run"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m etcdimg-tmp "$root/tmp"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
[ -z "$hide" ] || mount -t tmpfs -o ro,size=4k etcdimg-no-netplan "$root/$hide"
[ -z "$file" ] || cp "$file" "$root/tmp/"
exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root "$@"
`

// run runs cloud-init with args; an empty argument stands for file as seen
// by that cloud-init. Output is stdout and stderr together: both carry
// warnings.
func (c *Checker) run(file string, hideNetplan bool, args ...string) ([]byte, error) {
	inside := file
	if c.root != "" && file != "" {
		inside = "/tmp/" + filepath.Base(file)
	}
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == "" {
			args[i] = inside
		}
	}
	var cmd *exec.Cmd
	if c.root == "" {
		cmd = exec.Command(c.bin, args...)
	} else {
		hide := ""
		if hideNetplan {
			hide = netplanModule
		}
		sh := append([]string{"--mount", "--propagation", "private", "--fork", "--",
			"/bin/sh", "-c", runScript, "sh", c.root, file, hide, "cloud-init"}, args...)
		cmd = exec.Command("unshare", sh...)
	}
	return cmd.CombinedOutput()
}

func osCodename(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "etc/os-release"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
