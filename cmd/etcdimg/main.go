// Command etcdimg compiles a Jsonnet etcd cluster spec into cloud-init
// NoCloud seed ISOs, one per node.
//
// The command stays thin: flags become options, one library call does the
// work, the report is printed and the exit code says how it went
// (0 ok, 1 spec or build error, 2 usage error).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/etcdimg/etcdimg/attach"
	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/pipeline"
	"github.com/etcdimg/etcdimg/report"
)

const (
	exitOK    = 0
	exitSpec  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--version" {
		return cmdVersion(args[1:], stdout, stderr)
	}
	return dispatch(ctx, "", commands, args, stdout, stderr)
}

// parseArgs is every command's flag and argument handling, so that they all
// behave alike (and a new command gets it by calling it):
//   - --help/-h prints the command's usage to stdout: exit 0;
//   - an unknown flag, a bad flag value or a wrong number of arguments
//     prints the error and the usage to stderr: exit 2.
//
// nargs is the number of positional arguments the command takes (anyArgs:
// any number). ok is false when the command must return code now.
func parseArgs(fs *pflag.FlagSet, args []string, nargs int, stdout, stderr io.Writer) (code int, ok bool) {
	// Defined, not left to pflag, so that the usage lists it (last).
	help := fs.BoolP("help", "h", false, "print this usage, the flags and examples")
	if hook := inspecting.Load(); hook != nil {
		(*hook)(fs)
		return exitOK, false
	}
	// pflag prints nothing itself with ContinueOnError, except through
	// Usage; the output is chosen here, per case.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return usageError(fs, stderr, "%v", err), false
	}
	if *help {
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, false
	}
	if nargs != anyArgs && fs.NArg() != nargs {
		want := "no arguments"
		switch nargs {
		case 0:
		case 1:
			want = "exactly one argument"
		default:
			want = fmt.Sprintf("%d arguments", nargs)
		}
		return usageError(fs, stderr, "want %s, got %d (%s)", want, fs.NArg(), strings.Join(fs.Args(), " ")), false
	}
	return exitOK, true
}

// usageError prints "etcdimg CMD: message" and the command's usage to
// stderr and returns the usage exit code (2).
func usageError(fs *pflag.FlagSet, stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "etcdimg %s: %s\n\n", fs.Name(), strings.TrimSpace(fmt.Sprintf(format, args...)))
	fs.SetOutput(stderr)
	fs.Usage()
	return exitUsage
}

// parse parses a command's flags and returns its one argument (the spec or
// the output folder).
func parse(fs *pflag.FlagSet, args []string, stdout, stderr io.Writer) (string, int, bool) {
	code, ok := parseArgs(fs, args, 1, stdout, stderr)
	if !ok {
		return "", code, false
	}
	return fs.Arg(0), exitOK, true
}

// anyArgs as parseArgs' nargs takes any number of arguments.
const anyArgs = -1

// newFlagSet makes a command's flag set; its usage (--help) has the
// synopsis, the command's summary, its flags and its examples (commands.go).
func newFlagSet(name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() { commandUsage(fs, synopsis) }
	return fs
}

func printReport(w io.Writer, r report.Report) {
	for _, e := range r.Entries {
		fmt.Fprintln(w, e)
	}
}

// specExit prints a failure to evaluate or build the spec (exit 1).
func specExit(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "etcdimg: %v\n", err)
	return exitSpec
}

// loadSpec parses a command's flags (fs already has the command's own),
// evaluates and validates the spec and prints the report. ok is false when
// the command must stop with code.
func loadSpec(fs *pflag.FlagSet, args []string, stdout, stderr io.Writer) (l *pipeline.Loaded, code int, ok bool) {
	var jf jsonnetFlags
	jf.register(fs)
	specPath, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return nil, code, false
	}
	jo, code, ok := jf.resolve(fs, stderr)
	if !ok {
		return nil, code, false
	}
	l, err := pipeline.Load(specPath, jo)
	if err != nil {
		return nil, specExit(stderr, err), false
	}
	printReport(stderr, l.Report)
	if l.Report.IsFatal() {
		return nil, exitSpec, false
	}
	return l, exitOK, true
}

func cmdRender(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("render", "SPEC [-o DIR] [--node NAME] [flags]")
	out := fs.StringP("output", "o", "", "write DIR/<node>/{user-data,meta-data,network-config} instead of printing")
	setCompletion(fs, "output", argDir)
	nodes := fs.StringArray("node", nil, "render only this node (repeatable)")
	force := fs.Bool("force", false, "with -o: write into an existing folder that etcdimg did not create")
	l, code, ok := loadSpec(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	files, err := generator.Render(l.Cluster)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg render: %v\n", err)
		return exitSpec
	}
	var unknown []string
	for _, n := range *nodes {
		if _, ok := l.Cluster.Node(n); !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		fmt.Fprintf(stderr, "etcdimg render: --node %s: not in the spec\n", strings.Join(unknown, ", "))
		return exitSpec
	}
	if *out != "" {
		var sel []generator.NodeFiles
		for _, nf := range files {
			if len(*nodes) == 0 || slices.Contains(*nodes, nf.Node.Name) {
				sel = append(sel, nf)
			}
		}
		if err := pipeline.WriteRendered(*out, sel, *force); err != nil {
			fmt.Fprintf(stderr, "etcdimg render: %v\n", err)
			return exitSpec
		}
		return exitOK
	}
	for _, nf := range files {
		if len(*nodes) > 0 && !slices.Contains(*nodes, nf.Node.Name) {
			continue
		}
		for _, f := range []struct {
			name string
			data []byte
		}{{"user-data", nf.UserData}, {"meta-data", nf.MetaData}, {"network-config", nf.NetworkConfig}} {
			fmt.Fprintf(stdout, "# ==> %s/%s <==\n%s", nf.Node.Name, f.name, f.data)
		}
	}
	return exitOK
}

func cmdBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("build", "SPEC -o DIR [flags]")
	var o pipeline.Options
	fs.StringVarP(&o.OutDir, "output", "o", "", "output folder (required); created if missing")
	fs.StringArrayVar(&o.Nodes, "node", nil, "build only this node (repeatable)")
	fs.BoolVar(&o.Replace, "replace", false, "give the --node(s) a replacement seed: on first boot it removes the dead member of that name and joins anew")
	fs.StringVar(&o.Release, "etcd-release", "", "use this local etcd release tarball instead of the spec's path/url (its sha256 must match the spec)")
	fs.StringVar(&o.PKIDir, "pki-dir", "", "PKI folder (default: <cluster>-pki beside the output folder)")
	fs.StringVar(&o.RestoreFrom, "restore-from", "", "etcd snapshot file: each bootstrap seed's first boot restores it (a new cluster with its keys, new token; needs a PKI folder that records no other cluster); checked before anything is written")
	fs.BoolVar(&o.Force, "force", false, "write into an existing folder that etcdimg did not create")
	fs.BoolVarP(&o.NoISO, "no-iso", "", false, "write only the cloud-init files")
	fs.StringVar(&o.Format, "format", pipeline.FormatISO, "seed format: iso (a CD-ROM) or vfat (a disk image, DIR/<node>.img)")
	quiet := fs.BoolP("quiet", "q", false, "print nothing but warnings and errors")
	setCompletion(fs, "output", argDir)
	setCompletion(fs, "etcd-release", argFile)
	setCompletion(fs, "pki-dir", argDir)
	setCompletion(fs, "format", argWords, pipeline.FormatISO, pipeline.FormatVFAT)
	var jf jsonnetFlags
	jf.register(fs)
	specPath, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if o.OutDir == "" {
		return usageError(fs, stderr, "-o DIR is required")
	}
	if err := pipeline.CheckFormat(o.Format); err != nil {
		return usageError(fs, stderr, "--format: %v", err)
	}
	if o.Jsonnet, code, ok = jf.resolve(fs, stderr); !ok {
		return code
	}
	var err error
	if o.Epoch, err = sourceDateEpoch(); err == nil && !o.NoISO {
		err = pipeline.CheckEpoch(o.Epoch, o.Format)
	}
	if err != nil {
		// An environment setting, but the operator's input like a flag:
		// a usage error, before any work.
		return usageError(fs, stderr, "SOURCE_DATE_EPOCH: %v", err)
	}
	o.Spec = specPath
	o.OnWait = func(folder string) {
		fmt.Fprintf(stderr, "etcdimg build: waiting for %s: another etcdimg run is using it\n", folder)
	}
	var prog *progress
	if !*quiet {
		prog = newProgress(stdout, isTerminal(stdout), 0)
		o.OnStart = prog.begin
		o.OnNode = prog.node
	}
	start := time.Now()
	res, err := pipeline.Build(ctx, o)
	prog.finish()
	if err != nil {
		return specExit(stderr, err)
	}
	printReport(stderr, res.Report)
	if res.Report.IsFatal() {
		fmt.Fprintln(stderr, "etcdimg build: nothing was written")
		return exitSpec
	}
	if !*quiet {
		for _, ev := range res.PKIEvents {
			// Reuse is the quiet normal case; say what changed.
			if ev.Kind == "issued" || ev.Kind == "reissued" {
				fmt.Fprintf(stdout, "pki: %s\n", ev)
			}
		}
		if r := res.Cluster.Restore; r != nil {
			fmt.Fprintf(stdout, "restore: snapshot %s (%d bytes, revision %d, %d keys, sha256 %s) on every bootstrap seed; new cluster token %s\n",
				o.RestoreFrom, r.Size, r.Revision, r.Keys, r.SHA256, r.Token)
		}
		fmt.Fprintf(stdout, "built %d node(s) of cluster %q into %s in %s\n", len(res.Nodes), res.Cluster.Name, o.OutDir, time.Since(start).Round(time.Millisecond))
		if res.PKIDir != "" {
			fmt.Fprintf(stdout, "PKI in %s (keep it: rebuilds reuse it); etcdctl settings in %s/etcdctl.env\n", res.PKIDir, o.OutDir)
		}
		if res.KubeadmFile != "" {
			fmt.Fprintf(stdout, "kubeadm: the ClusterConfiguration that makes this cluster kubeadm's external etcd (also in %s); copy the files its comments name from %s:\n%s", res.KubeadmFile, res.PKIDir, res.Kubeadm)
		}
	}
	return exitOK
}

func cmdAttach(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("attach", "DIR [flags]")
	var o attach.Options
	fs.StringVar(&o.Network, "network", attach.DefaultNetwork, "libvirt network the NICs join")
	fs.StringVar(&o.CDBus, "cd-bus", attach.DefaultCDBus, "libvirt bus of the seed CD-ROM: scsi (q35 + virtio-scsi) or ide (pc); never SATA, which Debian 12's cloud kernel cannot see")
	fs.IntVar(&o.MemoryMiB, "memory", attach.DefaultMemoryMiB, "MiB of memory per VM")
	fs.IntVar(&o.VCPUs, "vcpus", attach.DefaultVCPUs, "vCPUs per VM")
	fs.StringVar(&o.OSInfo, "osinfo", "", "virt-install --osinfo (default debian12, or debian11 where the host does not know debian12)")
	fs.StringVar(&o.VBoxHostOnly, "vbox-hostonly", attach.DefaultVBoxHostOnly, "VirtualBox host-only network")
	fs.StringVar(&o.VBoxNATNetwork, "vbox-natnetwork", "", "VirtualBox NAT network instead of host-only (plain NAT gives every VM 10.0.2.15)")
	fs.StringArrayVar(&o.VirtInstallArgs, "virt-install-arg", nil, "one more virt-install word after the script's own, e.g. --virt-install-arg=--virt-type=qemu where /dev/kvm does not work (repeatable)")
	libvirtDisk := fs.String("libvirt-disk", "", "libvirt system disk per node, {node} for its name (default /var/lib/libvirt/images/{node}.qcow2)")
	vboxDisk := fs.String("vbox-disk", "", "VirtualBox system disk per node (VDI, VMDK, VHD), {node} for its name (default DIR/{node}.vdi)")
	setCompletion(fs, "cd-bus", argWords, "scsi", "ide")
	setCompletion(fs, "libvirt-disk", argFile)
	setCompletion(fs, "vbox-disk", argFile)
	dir, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	for _, d := range []struct {
		flag, template string
		set            *func(string) string
	}{{"--libvirt-disk", *libvirtDisk, &o.DiskPath}, {"--vbox-disk", *vboxDisk, &o.VBoxDiskPath}} {
		if d.template == "" {
			continue
		}
		f, err := attach.NodePath(d.template)
		if err != nil {
			return usageError(fs, stderr, "%s: %v", d.flag, err)
		}
		*d.set = f
	}
	cluster, nodes, err := attach.ReadCluster(dir)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg attach: %v\n", err)
		return exitSpec
	}
	o.Cluster = cluster
	paths, err := attach.Write(dir, nodes, o)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg attach: %v\n", err)
		return exitSpec
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, p)
	}
	return exitOK
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org); unset
// means images' fixed default, never the current time.
func sourceDateEpoch() (time.Time, error) {
	s, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("%q is not a count of seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
