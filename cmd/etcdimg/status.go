package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/etcdimg/etcdimg/etcdclient"
)

// clientFlags are the flags of every command that talks to a running
// cluster.
type clientFlags struct {
	dialTimeout, timeout time.Duration
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.DurationVar(&f.dialTimeout, "dial-timeout", etcdclient.DefaultDialTimeout, "how long to wait for a member to accept a connection")
	fs.DurationVar(&f.timeout, "timeout", etcdclient.DefaultRequestTimeout, "how long to wait for one request to a member or the cluster")
}

// open connects to the cluster of output folder dir with the admin
// certificate; the error is printed.
func (f *clientFlags) open(cmd, dir string, stderr io.Writer) (*etcdclient.Client, bool) {
	c, err := etcdclient.Open(dir, etcdclient.Options{DialTimeout: f.dialTimeout, RequestTimeout: f.timeout})
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg %s: %v\n", cmd, err)
		return nil, false
	}
	return c, true
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "DIR [flags]")
	output := fs.StringP("output", "o", "table", "output format: table or json")
	setCompletion(fs, "output", argWords, "table", "json")
	var cf clientFlags
	cf.register(fs)
	dir, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if *output != "table" && *output != "json" {
		return usageError(fs, stderr, "-o %s: want table or json", *output)
	}
	c, ok := cf.open("status", dir, stderr)
	if !ok {
		return exitSpec
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg status: %v\n", err)
		return exitSpec
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintf(stderr, "etcdimg status: %v\n", err)
			return exitSpec
		}
	} else {
		printStatus(stdout, st, time.Now())
	}
	if !st.Healthy {
		return exitSpec
	}
	return exitOK
}

// printStatus writes the table an operator reads: one line for the
// cluster, one row per member, then alarms and every problem in full (the
// table keeps errors short so it stays readable).
func printStatus(w io.Writer, st *etcdclient.Status, now time.Time) {
	health := "healthy"
	if !st.Healthy {
		health = "UNHEALTHY"
	}
	members := 0
	for _, m := range st.Members {
		if m.Member {
			members++
		}
	}
	fmt.Fprintf(w, "cluster %s  id %s  leader %s  %s  %s\n\n", st.Cluster, dash(st.ClusterID), dash(st.Leader), plural(members, "member"), health)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tROLE\tHEALTH\tTERM\tINDEX\tAPPLIED\tDB SIZE\tIN USE\tQUOTA\tVERSION\tCERT EXPIRES\tPEER URLS\tCLIENT URLS")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			dash(m.Name), dash(m.ID), role(m), memberHealth(m),
			num(m.RaftTerm), num(m.RaftIndex), num(m.RaftAppliedIndex),
			size(m.DBSize), inUse(m), quota(m), dash(m.Version), certExpiry(m.Cert, now),
			dash(strings.Join(m.PeerURLs, ",")), dash(strings.Join(m.ClientURLs, ",")))
	}
	tw.Flush()
	if len(st.Alarms) == 0 {
		fmt.Fprintln(w, "\nalarms: none")
	} else {
		fmt.Fprintln(w, "\nalarms:")
		for _, a := range st.Alarms {
			fmt.Fprintf(w, "  %s on %s (%s)\n", a.Alarm, dash(a.Member), a.MemberID)
		}
	}
	if len(st.Problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, p := range st.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	for _, n := range st.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func role(m etcdclient.MemberStatus) string {
	switch {
	case !m.Member:
		return "not a member"
	case m.Learner && m.Progress != nil:
		return fmt.Sprintf("learner %.0f%%", m.Progress.Percent)
	case m.Learner:
		return "learner"
	case m.Leader:
		return "leader"
	case m.Reachable:
		return "follower"
	}
	return "-"
}

func memberHealth(m etcdclient.MemberStatus) string {
	switch {
	case !m.Member:
		return "-"
	case m.Healthy:
		return "healthy"
	case len(m.Alarms) > 0:
		return "alarm " + strings.Join(m.Alarms, ",")
	case !m.Reachable:
		return "unreachable"
	}
	return "unhealthy"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func num(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

// size prints bytes in binary units with three significant digits, as
// etcd's own quota (2 GiB) is written.
func size(b int64) string {
	if b <= 0 {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(b)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", b)
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}

func inUse(m etcdclient.MemberStatus) string {
	if m.DBSizeInUse <= 0 {
		return "-"
	}
	return size(m.DBSizeInUse)
}

// quota shows the quota and how full the db is against it: a db past the
// quota raises NOSPACE and the cluster refuses every write.
func quota(m etcdclient.MemberStatus) string {
	if m.Quota <= 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%.0f%%)", size(m.Quota), 100*float64(m.DBSize)/float64(m.Quota))
}

func certExpiry(c *etcdclient.Cert, now time.Time) string {
	if c == nil {
		return "-"
	}
	left := c.NotAfter.Sub(now)
	s := c.NotAfter.UTC().Format("2006-01-02")
	switch {
	case left <= 0:
		s += " EXPIRED"
	case left < 48*time.Hour:
		s += fmt.Sprintf(" (%dh)", int(left.Hours()))
	default:
		s += fmt.Sprintf(" (%dd)", int(left.Hours()/24))
	}
	if c.Error != "" && left > 0 {
		s += " INVALID"
	}
	return s
}
