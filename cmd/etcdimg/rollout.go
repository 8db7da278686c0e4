package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/rollout"
)

// rolloutPhases are the columns of the text report, in order.
var rolloutPhases = []string{
	rollout.PhaseGate, rollout.PhaseHandover, rollout.PhaseReseed, rollout.PhaseDown, rollout.PhaseHealthy,
	rollout.PhaseVoting, rollout.PhaseVersion, rollout.PhaseCert, rollout.PhaseCluster,
}

func cmdRollout(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("rollout", "DIR --via libvirt|virtualbox|exec [flags]")
	via := fs.String("via", "", "how a node is reseeded: libvirt or virtualbox (DIR/<node>.libvirt.sh or .virtualbox.sh reseed, written by etcdimg attach), or exec (--exec)")
	execCmd := fs.String("exec", "", "with --via exec: a shell command run once per node with the node's name appended as its last argument; it must swap the node's seed for DIR's rebuilt one and reboot it")
	nodes := fs.StringSlice("nodes", nil, "deliver these nodes, in this order, whether their seed changed or not (default: every node whose seed changed since the last rollout, the leader last)")
	timeout := fs.Duration("node-timeout", rollout.DefaultNodeTimeout, "how long one node may take to come back as a healthy voting member; the rollout stops at the first that does not")
	output := fs.StringP("output", "o", "text", "output format: text or json")
	setCompletion(fs, "via", argWords, "libvirt", "virtualbox", "exec")
	setCompletion(fs, "output", argWords, "text", "json")
	var cf clientFlags
	cf.register(fs)
	dir, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case *output != "text" && *output != "json":
		return usageError(fs, stderr, "-o %s: want text or json", *output)
	case *via == "":
		return usageError(fs, stderr, "--via is required: libvirt, virtualbox or exec")
	case *via != "libvirt" && *via != "virtualbox" && *via != "exec":
		return usageError(fs, stderr, "--via %s: want libvirt, virtualbox or exec", *via)
	case *via == "exec" && strings.TrimSpace(*execCmd) == "":
		return usageError(fs, stderr, "--via exec needs --exec CMD")
	case *via != "exec" && *execCmd != "":
		return usageError(fs, stderr, "--exec is only used with --via exec")
	case *timeout <= 0:
		return usageError(fs, stderr, "--node-timeout %s: want a positive duration", *timeout)
	}
	for _, n := range *nodes {
		if n == "" {
			return usageError(fs, stderr, "--nodes: an empty node name")
		}
	}
	c, err := outdir.Read(dir)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg rollout: %v\n", err)
		return exitSpec
	}
	reseed, err := reseeder(dir, c, *via, *execCmd, *nodes, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg rollout: %v\n", err)
		return exitSpec
	}
	o := rollout.Options{
		Dir: dir, Nodes: *nodes, Reseed: reseed, NodeTimeout: *timeout,
		Client: etcdclient.Options{DialTimeout: cf.dialTimeout, RequestTimeout: cf.timeout},
		Log: func(format string, args ...any) {
			fmt.Fprintf(stderr, "%s etcdimg rollout: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
		},
	}
	res, err := rollout.Run(ctx, o)
	if *output == "json" {
		printRolloutJSON(stdout, res, err)
	} else {
		printRollout(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg rollout: %v\n", err)
		if res != nil && len(res.Remaining) > 0 {
			again := "run the same command again: it continues there"
			if len(*nodes) > 0 {
				// Listed nodes are delivered whatever the record says.
				again = "continue with --nodes " + strings.Join(res.Remaining, ",")
			}
			if len(res.Remaining) > 1 {
				fmt.Fprintf(stderr, "etcdimg rollout: not touched: %s\n", strings.Join(res.Remaining[1:], ", "))
			}
			fmt.Fprintf(stderr, "etcdimg rollout: fix %s, then %s\n", res.Remaining[0], again)
		}
		return exitSpec
	}
	return exitOK
}

// reseeder is the hypervisor part: a script beside cluster.json (what
// etcdimg attach writes) or the operator's command. The scripts of every
// node that may be delivered must exist before anything starts.
func reseeder(dir string, c *outdir.Cluster, via, cmd string, nodes []string, stderr io.Writer) (func(context.Context, string) error, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		for _, n := range c.Nodes {
			if seed, _ := n.Seed(); seed != "" {
				nodes = append(nodes, n.Name)
			}
		}
	}
	// A shell command, so that it may carry its own arguments; the node
	// comes last, as "$1" of the command line.
	argv := func(node string) []string {
		return []string{"/bin/sh", "-c", cmd + ` "$@"`, "etcdimg-rollout", node}
	}
	desc := func(node string) string { return fmt.Sprintf("--exec %q %s", cmd, node) }
	if via != "exec" {
		var missing []string
		for _, n := range nodes {
			if _, ok := c.Node(n); !ok {
				continue // rollout.Run names it
			}
			p := filepath.Join(abs, n+"."+via+".sh")
			if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("no %s script %s: write them with etcdimg attach %s (nothing was touched)", via, strings.Join(missing, ", "), dir)
		}
		argv = func(node string) []string { return []string{filepath.Join(abs, node+"."+via+".sh"), "reseed"} }
		desc = func(node string) string { return strings.Join(argv(node), " ") }
	}
	return func(ctx context.Context, node string) error {
		a := argv(node)
		x := exec.CommandContext(ctx, a[0], a[1:]...)
		x.Dir = abs
		// What a reseed command for another hypervisor needs to know.
		seed := ""
		if n, ok := c.Node(node); ok {
			if s, _ := n.Seed(); s != "" {
				seed = filepath.Join(abs, s)
			}
		}
		x.Env = append(os.Environ(), "ETCDIMG_DIR="+abs, "ETCDIMG_NODE="+node, "ETCDIMG_SEED="+seed)
		// The script's own lines go with the progress, to stderr: stdout
		// is the report (JSON with -o json).
		x.Stdout, x.Stderr = stderr, stderr
		if err := x.Run(); err != nil {
			return fmt.Errorf("%s: %w", desc(node), err)
		}
		return nil
	}, nil
}

// rolloutNode is one node's line of the report.
type rolloutNode struct {
	Node   string                         `json:"node"`
	Phases map[string]etcdclient.Duration `json:"phases"`
	Took   etcdclient.Duration            `json:"took"`
}

func rolloutNodes(res *rollout.Result) []*rolloutNode {
	var out []*rolloutNode
	by := map[string]*rolloutNode{}
	for _, s := range res.Steps {
		n := by[s.Node]
		if n == nil {
			n = &rolloutNode{Node: s.Node, Phases: map[string]etcdclient.Duration{}}
			by[s.Node] = n
			out = append(out, n)
		}
		n.Phases[s.Phase] = etcdclient.Duration(s.Took)
		n.Took += etcdclient.Duration(s.Took)
	}
	return out
}

func printRollout(w io.Writer, res *rollout.Result) {
	if res == nil {
		return
	}
	rows := rolloutNodes(res)
	if len(rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tGATE\tHANDOVER\tRESEED\tDOWN\tHEALTHY\tVOTING\tVERSION\tCERT\tCLUSTER\tTOTAL\tRESULT")
		for _, r := range rows {
			fmt.Fprint(tw, r.Node)
			for _, p := range rolloutPhases {
				d, ok := r.Phases[p]
				if !ok {
					fmt.Fprint(tw, "\t-")
					continue
				}
				fmt.Fprintf(tw, "\t%s", time.Duration(d).Round(time.Millisecond))
			}
			result := "FAILED"
			for _, d := range res.Delivered {
				if d == r.Node {
					result = "delivered"
				}
			}
			fmt.Fprintf(tw, "\t%s\t%s\n", time.Duration(r.Took).Round(time.Millisecond), result)
		}
		tw.Flush()
	}
	if len(res.Delivered) > 0 {
		fmt.Fprintf(w, "delivered etcd %s seeds to %s\n", res.Version, strings.Join(res.Delivered, ", "))
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(w, "skipped (already booted on their current seed): %s\n", strings.Join(res.Skipped, ", "))
	}
	if len(res.Delivered) == 0 && len(res.Remaining) == 0 && len(rows) == 0 && len(res.Skipped) > 0 {
		fmt.Fprintln(w, "nothing to deliver")
	}
}

func printRolloutJSON(w io.Writer, res *rollout.Result, err error) {
	out := struct {
		OK        bool           `json:"ok"`
		Error     string         `json:"error,omitempty"`
		Version   string         `json:"etcdVersion,omitempty"`
		Nodes     []*rolloutNode `json:"nodes"`
		Delivered []string       `json:"delivered"`
		Skipped   []string       `json:"skipped"`
		Remaining []string       `json:"remaining"`
	}{OK: err == nil, Nodes: []*rolloutNode{}, Delivered: []string{}, Skipped: []string{}, Remaining: []string{}}
	if err != nil {
		out.Error = err.Error()
	}
	if res != nil {
		out.Version = res.Version
		out.Nodes = append(out.Nodes, rolloutNodes(res)...)
		out.Delivered = append(out.Delivered, res.Delivered...)
		out.Skipped = append(out.Skipped, res.Skipped...)
		out.Remaining = append(out.Remaining, res.Remaining...)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}
