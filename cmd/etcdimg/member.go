package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/etcdimg/etcdimg/etcdclient"
)

func cmdMemberRemove(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("member remove", "DIR NODE [flags]")
	dry := fs.Bool("dry-run", false, "check and say what would be done; change nothing")
	var cf clientFlags
	cf.register(fs)
	if code, ok := parseArgs(fs, args, 2, stdout, stderr); !ok {
		return code
	}
	dir, node := fs.Arg(0), fs.Arg(1)
	c, ok := cf.open("member remove", dir, stderr)
	if !ok {
		return exitSpec
	}
	defer c.Close()
	r, err := c.RemoveMember(ctx, node, etcdclient.RemoveOptions{DryRun: *dry})
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg member remove: %v\n", err)
		if errors.Is(err, etcdclient.ErrRefused) {
			fmt.Fprintln(stderr, "etcdimg member remove: nothing was changed")
		}
		return exitSpec
	}
	if r.AlreadyRemoved {
		fmt.Fprintf(stdout, "%s is not a member of the cluster: already removed; nothing to do (%s)\n", r.Name, plural(r.MembersAfter, "member"))
		return exitOK
	}
	what := "member"
	if r.Learner {
		what = "learner"
	}
	verb, moved, has := "removed", "moved", "has"
	if r.DryRun {
		verb, moved, has = "would remove", "would move", "would have"
	}
	fmt.Fprintf(stdout, "%s %s %s (id %s)", verb, what, r.Name, r.ID)
	switch {
	case r.Leader && r.MovedLeaderTo != "":
		fmt.Fprintf(stdout, ", the leader: leadership %s to %s first", moved, r.MovedLeaderTo)
	case r.Leader:
		fmt.Fprint(stdout, ", the leader: the others elect a new one")
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "the cluster %s %s now (%d voting, quorum %d, %d of them healthy)\n", has, plural(r.MembersAfter, "member"), r.VotersAfter, r.QuorumAfter, r.HealthyVotersAfter)
	if r.DryRun {
		fmt.Fprintln(stdout, "dry run: nothing was changed")
		return exitOK
	}
	fmt.Fprintf(stdout, "next: take %s out of the spec and rebuild; its data dir is no longer a member, so it may only come back with a new join seed\n", r.Name)
	return exitOK
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
