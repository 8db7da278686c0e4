package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/etcdimg/etcdimg/snapshot"
)

func cmdSnapshotSave(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("snapshot save", "DIR -o FILE [flags]")
	out := fs.StringP("output", "o", "", "the snapshot file to write (replaced only by a complete, verified snapshot)")
	node := fs.String("node", "", "take the snapshot from this member (default: the first healthy voting member)")
	endpoint := fs.String("endpoint", "", "take the snapshot from this client URL (default: see --node)")
	setCompletion(fs, "output", argFile)
	var cf clientFlags
	cf.register(fs)
	dir, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case *out == "":
		return usageError(fs, stderr, "no output file; pass -o FILE")
	case *node != "" && *endpoint != "":
		return usageError(fs, stderr, "--node and --endpoint name the same thing; pass one")
	}
	c, ok := cf.open("snapshot save", dir, stderr)
	if !ok {
		return exitSpec
	}
	defer c.Close()
	o := snapshot.SaveOptions{Endpoint: *endpoint}
	if *node != "" {
		n, found := c.Cluster.Node(*node)
		if !found {
			fmt.Fprintf(stderr, "etcdimg snapshot save: no node %q in %s\n", *node, filepath.Join(dir, "cluster.json"))
			return exitSpec
		}
		o.Endpoint = n.Endpoint()
	}
	var p *byteProgress
	if isTerminal(stderr) {
		p = &byteProgress{w: stderr, start: time.Now()}
		o.Progress = p.update
	}
	saved, err := snapshot.Save(ctx, c, *out, o)
	if p != nil {
		p.clear()
	}
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg snapshot save: %v\n", err)
		fmt.Fprintf(stderr, "etcdimg snapshot save: nothing was written to %s\n", *out)
		return exitSpec
	}
	from := saved.Endpoint
	for _, n := range c.Cluster.Nodes {
		if n.Endpoint() == saved.Endpoint {
			from = n.Name + " (" + saved.Endpoint + ")"
		}
	}
	fmt.Fprintf(stdout, "saved %s\n", saved.Path)
	fmt.Fprintf(stdout, "  from      %s\n", from)
	fmt.Fprintf(stdout, "  revision  %d\n", saved.Revision)
	fmt.Fprintf(stdout, "  keys      %d\n", saved.TotalKeys)
	fmt.Fprintf(stdout, "  size      %s (%d bytes)\n", size(saved.FileSize), saved.FileSize)
	fmt.Fprintf(stdout, "  sha256    %s\n", saved.SHA256)
	fmt.Fprintf(stdout, "  took      %v\n", saved.Duration.Round(time.Millisecond))
	return exitOK
}

func cmdSnapshotVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("snapshot verify", "FILE")
	file, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	info, err := snapshot.Verify(file)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg snapshot verify: %v\n", err)
		return exitSpec
	}
	fmt.Fprintf(stdout, "ok %s\n", info.Path)
	fmt.Fprintf(stdout, "  revision  %d\n", info.Revision)
	fmt.Fprintf(stdout, "  keys      %d\n", info.TotalKeys)
	fmt.Fprintf(stdout, "  hash      %d\n", info.Hash)
	fmt.Fprintf(stdout, "  size      %s (%d bytes)\n", size(info.FileSize), info.FileSize)
	fmt.Fprintf(stdout, "  sha256    %s\n", info.SHA256)
	return exitOK
}

// byteProgress keeps one line on a terminal up to date with the bytes
// received; a log or a pipe gets only the summary.
type byteProgress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	drawn time.Time
	width int
}

func (p *byteProgress) update(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.drawn) < redrawEvery {
		return
	}
	p.drawn = now
	line := fmt.Sprintf("receiving snapshot: %s", size(n))
	if el := now.Sub(p.start).Seconds(); el > 0.5 {
		line += fmt.Sprintf(" (%s/s)", size(int64(float64(n)/el)))
	}
	pad := max(0, p.width-len(line))
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%*s", line, pad, "")
}

func (p *byteProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.width, "")
	}
}
