package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/pflag"
)

// command is one entry of the CLI: a leaf that runs, or a group (snapshot,
// member) whose subcommands do. The table below is the one list of
// commands: run dispatches from it, the top-level usage, `help COMMAND`
// and the completion scripts are made from it, so none of them can forget
// a command.
type command struct {
	name    string
	aliases []string
	// usage is the synopsis after "etcdimg NAME" in the command list.
	usage   string
	summary string
	// examples are printed under "Examples:" by --help: "# comment"
	// lines and the commands an operator types.
	examples string
	// args say what each positional argument is, for completion; the last
	// one repeats when variadic.
	args     []argKind
	variadic bool
	// optional: the last argument may be left out (certs: DIR or --pki-dir).
	optional bool
	run      func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	subs     []*command
}

// argKind is what a positional argument or a flag value completes to.
type argKind int

const (
	argNone    argKind = iota
	argSpec            // a Jsonnet spec file, or - for standard input
	argDir             // a folder
	argFile            // any file
	argWords           // a fixed set of words (choices)
	argVarFile         // var=file: a file after the =
)

// commands is filled in init: the help command refers to the table.
var commands []*command

func init() {
	commands = []*command{
		{
			name: "build", usage: "SPEC -o DIR [flags]", args: []argKind{argSpec},
			summary: "write DIR/<node>.iso and DIR/<node>/{user-data,meta-data,network-config}",
			examples: `# the seeds of every node, the PKI beside them in out/<cluster>-pki
etcdimg build cluster.jsonnet -o out/seeds --ext-str etcd_sha256=$(cut -d' ' -f1 etcd.tar.gz.sha256)
# a local tarball instead of the spec's path/url; FAT disk images instead of ISOs
etcdimg build cluster.jsonnet -o out/seeds --etcd-release etcd-v3.6.16-linux-amd64.tar.gz --format vfat
# only one node's seed, e.g. after it was added to the spec
etcdimg build cluster.jsonnet -o out/seeds --node k8s04
# a seed that replaces the dead member k8s02 (same name, new member ID)
etcdimg build cluster.jsonnet -o out/seeds --node k8s02 --replace
# the spec from standard input, its library folders from JSONNET_PATH
generate-spec | JSONNET_PATH=lib etcdimg build - -o out/seeds`,
			run: cmdBuild,
		},
		{
			name: "render", usage: "SPEC [-o DIR] [flags]", args: []argKind{argSpec},
			summary: "print (or write) the cloud-init files, no ISOs: needs no tarball and no PKI",
			examples: `# review one node's user-data, meta-data and network-config
etcdimg render cluster.jsonnet --node k8s01
# write them to out/rendered/<node>/ instead
etcdimg render cluster.jsonnet -o out/rendered`,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
				return cmdRender(args, stdout, stderr)
			},
		},
		{
			name: "validate", usage: "SPEC [-o text|json] [flags]", args: []argKind{argSpec},
			summary: "check the spec and report every problem, each with its path",
			examples: `etcdimg validate cluster.jsonnet --ext-str etcd_sha256=$(cut -d' ' -f1 etcd.tar.gz.sha256)
# top-level arguments and external variables as the jsonnet CLI takes them
etcdimg validate cluster.jsonnet -A count=5 -V region=eu --ext-code-file common=common.libsonnet
# every finding as JSON (path, severity, message), for scripts and editors
etcdimg validate cluster.jsonnet -o json | jq -r '.findings[] | select(.severity == "error") | .path'`,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
				return cmdValidate(args, stdout, stderr)
			},
		},
		{
			name: "attach", usage: "DIR [flags]", args: []argKind{argDir},
			summary: "write DIR/<node>.libvirt.sh and DIR/<node>.virtualbox.sh for built seeds",
			examples: `etcdimg attach out/seeds
# where /dev/kvm exists but does not work: plain QEMU
etcdimg attach out/seeds --virt-install-arg=--virt-type=qemu
# system disks of your own naming
etcdimg attach out/seeds --libvirt-disk '/srv/vm/{node}.qcow2' --vbox-disk '/srv/vbox/{node}.vdi'`,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
				return cmdAttach(args, stdout, stderr)
			},
		},
		{
			name: "status", usage: "DIR [-o json]", args: []argKind{argDir},
			summary: "show every member of the running cluster; exit 0 only when all are healthy",
			examples: `etcdimg status out/seeds
# for scripts: exit 0 only when every member is healthy
etcdimg status out/seeds -o json | jq '.members[] | {name, healthy}'`,
			run: cmdStatus,
		},
		{
			name: "snapshot", summary: "save and verify snapshots of the running cluster",
			examples: `etcdimg snapshot save out/seeds -o backup.db
etcdimg snapshot verify backup.db`,
			subs: []*command{
				{
					name: "save", usage: "DIR -o FILE [flags]", args: []argKind{argDir},
					summary: "save a verified snapshot of the running cluster (0600)",
					examples: `etcdimg snapshot save out/seeds -o backup-$(date +%F).db
# from one member in particular
etcdimg snapshot save out/seeds -o backup.db --node k8s02`,
					run: cmdSnapshotSave,
				},
				{
					name: "verify", aliases: []string{"status"}, usage: "FILE", args: []argKind{argFile},
					summary:  "check a snapshot with etcd's integrity check",
					examples: `etcdimg snapshot verify backup.db`,
					run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
						return cmdSnapshotVerify(args, stdout, stderr)
					},
				},
			},
		},
		{
			name: "member", summary: "change the membership of the running cluster",
			examples: `etcdimg member remove out/seeds k8s04 --dry-run`,
			subs: []*command{
				{
					name: "remove", usage: "DIR NODE [--dry-run]", args: []argKind{argDir, argNone},
					summary: "remove a member (name or hex id), refused when it would break quorum",
					examples: `# say what would happen, change nothing
etcdimg member remove out/seeds k8s04 --dry-run
etcdimg member remove out/seeds k8s04
# by member ID, e.g. one that never got a name
etcdimg member remove out/seeds 8e9e05c52164694d`,
					run: cmdMemberRemove,
				},
			},
		},
		{
			name: "certs", summary: "check certificate expiry (files and live endpoints); renew leaves or the CA",
			examples: `etcdimg certs check out/seeds --live
etcdimg certs renew out/seeds --node k8s02`,
			subs: []*command{
				{
					name: "check", usage: "[DIR] [--pki-dir PKI] [flags]", args: []argKind{argDir}, optional: true,
					summary: "every certificate of the PKI with its expiry; --live adds what each endpoint serves; exit 1 within --threshold days",
					examples: `# DIR is an output folder of etcdimg build: its cluster.json names the PKI and the endpoints
etcdimg certs check out/seeds
etcdimg certs check out/seeds --live
etcdimg certs check --pki-dir out/k8s-pki --threshold 60 -o json`,
					run: cmdCertsCheck,
				},
				{
					name: "renew", usage: "[DIR] [--pki-dir PKI] [flags]", args: []argKind{argDir}, optional: true,
					summary: "reissue leaf certificates from the same CA (keys kept unless --new-keys), or --ca: the CA itself with its own key",
					examples: `etcdimg certs renew out/seeds
etcdimg certs renew out/seeds --node k8s02 --new-keys
# a CA near its end: same key, new dates; then the leaves
etcdimg certs renew out/seeds --ca
etcdimg certs renew out/seeds`,
					run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
						return cmdCertsRenew(args, stdout, stderr)
					},
				},
			},
		},
		{
			name: "rollout", usage: "DIR --via libvirt|virtualbox|exec [flags]", args: []argKind{argDir},
			summary: "boot running nodes on their rebuilt seeds, one at a time, each back healthy before the next",
			examples: `# after a rebuild (renewed certificates, a new etcd version): every node whose seed changed, the leader last
etcdimg rollout out/seeds --via libvirt
etcdimg rollout out/seeds --via virtualbox --node-timeout 20m
# these nodes, in this order, whether their seed changed or not
etcdimg rollout out/seeds --via libvirt --nodes k8s02,k8s03
# another hypervisor: a command that swaps the seed and reboots; the node's name is its last argument
etcdimg rollout out/seeds --via exec --exec './reseed-on-proxmox.sh'`,
			run: cmdRollout,
		},
		{
			name: "completion", usage: "bash|zsh|fish", args: []argKind{argWords},
			summary: "print a shell completion script",
			examples: `# bash: for this shell, or for every new one
source <(etcdimg completion bash)
etcdimg completion bash | sudo tee /etc/bash_completion.d/etcdimg >/dev/null
# zsh: a file named _etcdimg in a folder of $fpath (fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc)
mkdir -p ~/.zfunc && etcdimg completion zsh > ~/.zfunc/_etcdimg
# fish
etcdimg completion fish > ~/.config/fish/completions/etcdimg.fish`,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
				return cmdCompletion(args, stdout, stderr)
			},
		},
		{
			name: "version", usage: "", summary: "print the version, VCS revision and Go version of this binary",
			examples: `etcdimg version
etcdimg --version`,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
				return cmdVersion(args, stdout, stderr)
			},
		},
		{
			name: "help", usage: "[COMMAND]", args: []argKind{argWords}, variadic: true,
			summary: "print the usage of etcdimg or of a command",
			examples: `etcdimg help build
etcdimg help snapshot save`,
			run: cmdHelp,
		},
	}
}

// findCommand returns the command a path of words names ("snapshot",
// "save"), and how many words it used.
func findCommand(words []string) (*command, int) {
	var found *command
	list := commands
	n := 0
	for _, w := range words {
		var next *command
		for _, c := range list {
			if c.name == w || slices.Contains(c.aliases, w) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		found, list, n = next, next.subs, n+1
	}
	return found, n
}

// dispatch runs the command args[0] of list; parent is the words before
// ("" at the top, "snapshot" for its subcommands).
func dispatch(ctx context.Context, parent string, list []*command, args []string, stdout, stderr io.Writer) int {
	usage := func(w io.Writer) { groupUsage(w, parent, list) }
	prefix := "etcdimg"
	if parent != "" {
		prefix += " " + parent
	}
	what := "command"
	if parent != "" {
		what = "subcommand"
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "%s: missing %s\n\n", prefix, what)
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range list {
		if c.name != args[0] && !slices.Contains(c.aliases, args[0]) {
			continue
		}
		if c.subs != nil {
			return dispatch(ctx, strings.TrimSpace(parent+" "+c.name), c.subs, args[1:], stdout, stderr)
		}
		return c.run(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: unknown %s %q\n\n", prefix, what, args[0])
	usage(stderr)
	return exitUsage
}

// groupUsage lists the commands of a group (or of etcdimg itself).
func groupUsage(w io.Writer, parent string, list []*command) {
	name := "etcdimg"
	if parent != "" {
		name += " " + parent
	}
	if parent == "" {
		fmt.Fprintln(w, "etcdimg compiles a Jsonnet etcd cluster spec into cloud-init seed ISOs, and talks to the cluster they form.")
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Usage: %s COMMAND ...\n\nCommands:\n", name)
	type line struct{ left, right string }
	var lines []line
	var walk func(prefix string, cs []*command)
	walk = func(prefix string, cs []*command) {
		for _, c := range cs {
			if c.subs != nil {
				walk(prefix+c.name+" ", c.subs)
				continue
			}
			lines = append(lines, line{strings.TrimSpace(prefix + c.name + " " + c.usage), c.summary})
		}
	}
	walk("", list)
	width := 0
	for _, l := range lines {
		width = max(width, len(l.left))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %s %-*s  %s\n", name, width, l.left, l.right)
	}
	var ex []string
	if parent == "" {
		ex = []string{
			"etcdimg validate cluster.jsonnet --ext-str etcd_sha256=$(cut -d' ' -f1 etcd.tar.gz.sha256)",
			"etcdimg build cluster.jsonnet -o out/seeds --etcd-release out/etcd-release/etcd-v3.6.16-linux-amd64.tar.gz",
			"etcdimg render cluster.jsonnet --node k8s01",
			"etcdimg status out/seeds",
			"etcdimg snapshot save out/seeds -o backup.db",
		}
	} else if c, _ := findCommand(strings.Fields(parent)); c != nil {
		ex = strings.Split(c.examples, "\n")
	}
	printExamples(w, ex)
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags and examples.\n", name)
}

// printExamples writes an Examples section, indented, if there are any.
func printExamples(w io.Writer, lines []string) {
	if len(lines) == 0 || (len(lines) == 1 && lines[0] == "") {
		return
	}
	fmt.Fprintln(w, "\nExamples:")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

// commandUsage is a leaf command's --help: synopsis, summary, flags and
// examples. newFlagSet installs it as the flag set's Usage.
func commandUsage(fs *pflag.FlagSet, synopsis string) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s\n", strings.TrimSpace("etcdimg "+fs.Name()+" "+synopsis))
	c, n := findCommand(strings.Fields(fs.Name()))
	if c != nil && n == len(strings.Fields(fs.Name())) {
		fmt.Fprintf(w, "\n%s.\n", upperFirst(c.summary))
	}
	fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	if c != nil {
		printExamples(w, strings.Split(c.examples, "\n"))
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// cmdHelp is `etcdimg help [COMMAND...]`: what `etcdimg COMMAND --help`
// prints, on stdout.
func cmdHelp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("help", "[COMMAND [SUBCOMMAND]]")
	if code, ok := parseArgs(fs, args, anyArgs, stdout, stderr); !ok {
		return code
	}
	args = fs.Args()
	if len(args) == 0 {
		groupUsage(stdout, "", commands)
		return exitOK
	}
	c, n := findCommand(args)
	if c == nil || n != len(args) {
		fmt.Fprintf(stderr, "etcdimg help: unknown command %q\n\n", strings.Join(args, " "))
		groupUsage(stderr, "", commands)
		return exitUsage
	}
	if c.subs != nil {
		groupUsage(stdout, strings.Join(args, " "), c.subs)
		return exitOK
	}
	return c.run(ctx, []string{"--help"}, stdout, stderr)
}

// inspecting, while set, makes parseArgs hand the command's complete flag
// set to it instead of parsing: the completion scripts ask each command
// for the flags it really parses, so they cannot drift apart. It is
// process-wide: only `etcdimg completion` and tests set it, never while a
// command runs.
// Only flagsOf sets it, one at a time.
var (
	inspectMu  sync.Mutex
	inspecting atomic.Pointer[func(*pflag.FlagSet)]
)

// flagsOf returns the flag set of the leaf command c (path names it).
func flagsOf(path []string) *pflag.FlagSet {
	c, n := findCommand(path)
	if c == nil || n != len(path) || c.run == nil {
		return nil
	}
	inspectMu.Lock()
	defer inspectMu.Unlock()
	var got *pflag.FlagSet
	hook := func(fs *pflag.FlagSet) { got = fs }
	inspecting.Store(&hook)
	defer inspecting.Store(nil)
	c.run(context.Background(), nil, io.Discard, io.Discard)
	return got
}
