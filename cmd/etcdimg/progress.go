package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/etcdimg/etcdimg/pipeline"
)

// progress shows a build's finished nodes. On a terminal it keeps one line
// up to date, so a 100-node build does not scroll the summary and any
// warning away; anywhere else (a log, a pipe, CI) it prints one line per
// node, which is what a later reader of the log wants.
type progress struct {
	w     io.Writer
	live  bool
	total int // nodes the build will make; 0 when not known
	now   func() time.Time

	done  int
	bytes int64
	// start is when the earliest finished node began: the rate is about
	// writing seeds, not about evaluating the spec or checking the release.
	start time.Time
	drawn time.Time // last redraw, to cap redraws on fast builds
	width int       // runes of the last line, so a shorter one blanks its tail
	dirty bool      // a node finished since the last redraw
}

// redrawEvery caps the live line's redraws: a fast build of many small
// seeds would otherwise spend its time in terminal output.
const redrawEvery = 100 * time.Millisecond

func newProgress(w io.Writer, live bool, total int) *progress {
	return &progress{w: w, live: live, total: total, now: time.Now}
}

// node records one finished node. build calls it from one goroutine at a
// time, so it needs no lock.
func (p *progress) node(r pipeline.NodeResult) {
	now := p.now()
	if began := now.Add(-r.Duration); p.start.IsZero() || began.Before(p.start) {
		p.start = began
	}
	p.done++
	p.bytes += r.ISOSize
	if !p.live {
		if r.ISO != "" {
			fmt.Fprintf(p.w, "%s: %s (%d bytes) in %s\n", r.Name, r.ISO, r.ISOSize, r.Duration.Round(time.Millisecond))
		} else {
			fmt.Fprintf(p.w, "%s: %s\n", r.Name, r.Dir)
		}
		return
	}
	p.dirty = true
	if p.done == p.total || now.Sub(p.drawn) >= redrawEvery {
		p.draw(now)
	}
}

// finish ends the live line, so whatever is printed next (the summary, a
// warning, an error naming a node) starts on a line of its own.
func (p *progress) finish() {
	if p == nil || !p.live || p.done == 0 {
		return
	}
	if p.dirty {
		p.draw(p.now())
	}
	fmt.Fprintln(p.w)
	p.live = false // once is enough: finish runs on every way out
}

func (p *progress) draw(now time.Time) {
	var b strings.Builder
	if p.total > 0 {
		fmt.Fprintf(&b, "%d/%d nodes", p.done, p.total)
	} else {
		fmt.Fprintf(&b, "%d nodes", p.done)
	}
	if p.bytes > 0 {
		fmt.Fprintf(&b, ", %s written", mib(p.bytes))
		if d := now.Sub(p.start); d > 0 {
			fmt.Fprintf(&b, ", %s/s", mib(int64(float64(p.bytes)/d.Seconds())))
		}
	}
	line := b.String()
	n := len([]rune(line))
	pad := ""
	if n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.width, p.drawn, p.dirty = n, now, false
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// isTerminal says whether w is a terminal, without a dependency: a
// character device that is not /dev/null (output thrown away wants no
// redraws either).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}

// begin learns how many nodes the build makes, before the first one.
func (p *progress) begin(nodes int) {
	if p != nil {
		p.total = nodes
	}
}
