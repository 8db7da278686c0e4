package main

import (
	"context"
	"strings"
	"testing"
)

// leafPaths lists every runnable command of the table, as word paths.
func leafPaths() [][]string {
	var out [][]string
	var walk func(prefix []string, list []*command)
	walk = func(prefix []string, list []*command) {
		for _, c := range list {
			p := append(append([]string(nil), prefix...), c.name)
			if c.subs != nil {
				walk(p, c.subs)
			} else {
				out = append(out, p)
			}
		}
	}
	walk(nil, commands)
	return out
}

func runArgs(args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestEveryCommandHelp: issue 14.4. `etcdimg COMMAND --help` and
// `etcdimg help COMMAND` print the same usage on stdout, exit 0, with an
// Examples section that uses the command; an unknown flag prints the error
// and the usage on stderr, exit 2, nothing on stdout.
func TestEveryCommandHelp(t *testing.T) {
	paths := leafPaths()
	if len(paths) < 10 {
		t.Fatalf("only %d commands in the table: %v", len(paths), paths)
	}
	for _, p := range paths {
		name := strings.Join(p, " ")
		t.Run(name, func(t *testing.T) {
			for _, h := range []string{"--help", "-h"} {
				code, out, errs := runArgs(append(append([]string(nil), p...), h)...)
				if code != 0 || errs != "" {
					t.Fatalf("%s %s: exit %d, stderr %q", name, h, code, errs)
				}
				if l := firstLine(out); l != "Usage: etcdimg "+name && !strings.HasPrefix(l, "Usage: etcdimg "+name+" ") {
					t.Errorf("%s %s: usage starts %q", name, h, firstLine(out))
				}
				if !strings.Contains(out, "\nFlags:\n") {
					t.Errorf("%s %s: no Flags section:\n%s", name, h, out)
				}
				ex, ok := strings.CutPrefix(out[strings.Index(out, "\nExamples:\n")+1:], "Examples:\n")
				if !ok || !strings.Contains(ex, "  etcdimg "+name) {
					t.Errorf("%s %s: no example of the command:\n%s", name, h, out)
				}
				code, helpOut, helpErr := runArgs(append([]string{"help"}, p...)...)
				if code != 0 || helpErr != "" || helpOut != out {
					t.Errorf("help %s: exit %d, differs from %s %s:\n%s%s", name, code, name, h, helpOut, helpErr)
				}
			}
			code, out, errs := runArgs(append(append([]string(nil), p...), "--no-such-flag")...)
			want := "etcdimg " + name + ": unknown flag: --no-such-flag\n\nUsage: etcdimg " + name
			if code != 2 || out != "" || !strings.HasPrefix(errs, want) {
				t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr:\n%s", name, code, out, errs)
			}
		})
	}
}

// TestExamplesParse: every example line of every command parses with that
// command's flags and takes the number of arguments it wants, so --help
// never shows a command line etcdimg refuses.
func TestExamplesParse(t *testing.T) {
	n := 0
	for _, p := range leafPaths() {
		c, _ := findCommand(p)
		for _, line := range strings.Split(c.examples, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			// the etcdimg part of a pipeline
			words := shellSplit(line)
			for i, w := range words {
				if w == "etcdimg" {
					words = words[i:]
					break
				}
			}
			for i, w := range words {
				if w == "|" || w == ">" || w == ">/dev/null" {
					words = words[:i]
					break
				}
			}
			if len(words) == 0 || words[0] != "etcdimg" {
				continue
			}
			args := words[1:]
			if strings.HasPrefix(strings.Join(args, " "), "--version") {
				continue
			}
			ec, used := findCommand(args)
			if ec == nil || ec.run == nil {
				t.Errorf("%s: example %q names no command", strings.Join(p, " "), line)
				continue
			}
			fs := flagsOf(args[:used])
			if err := fs.Parse(args[used:]); err != nil {
				t.Errorf("example %q: %v", line, err)
				continue
			}
			want := len(ec.args)
			if ec.variadic || (ec.optional && fs.NArg() == want-1) {
				want = fs.NArg()
			}
			if fs.NArg() != want {
				t.Errorf("example %q: %d arguments, want %d", line, fs.NArg(), want)
			}
			n++
		}
	}
	if n < 20 {
		t.Errorf("only %d examples checked", n)
	}
}

// shellSplit splits an example line into words: quotes and $(…) stay in
// one word; > and | end up as words of their own.
func shellSplit(s string) []string {
	var words []string
	var cur strings.Builder
	in := false
	quote, depth := byte(0), 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
			continue
		case depth > 0:
			cur.WriteByte(ch)
			if ch == '(' {
				depth++
			} else if ch == ')' {
				depth--
			}
			continue
		case ch == '\'' || ch == '"':
			quote, in = ch, true
			continue
		case ch == '$' && i+1 < len(s) && s[i+1] == '(':
			cur.WriteString("$(")
			i++
			depth, in = 1, true
			continue
		case ch == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
			continue
		}
		cur.WriteByte(ch)
		in = true
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestGroupsAndTopLevel: a missing or unknown command, at the top or in a
// group, is a usage error with the list on stderr; --help and help print
// the list on stdout.
func TestGroupsAndTopLevel(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		code        int
		stdout, err string
	}{
		{nil, 2, "", "etcdimg: missing command\n\netcdimg compiles"},
		{[]string{"frobnicate"}, 2, "", "etcdimg: unknown command \"frobnicate\"\n\n"},
		{[]string{"--help"}, 0, "etcdimg compiles", ""},
		{[]string{"help"}, 0, "etcdimg compiles", ""},
		{[]string{"help", "frobnicate"}, 2, "", "etcdimg help: unknown command \"frobnicate\"\n\n"},
		{[]string{"help", "snapshot", "nope"}, 2, "", "etcdimg help: unknown command \"snapshot nope\""},
		{[]string{"snapshot"}, 2, "", "etcdimg snapshot: missing subcommand\n\nUsage: etcdimg snapshot COMMAND"},
		{[]string{"snapshot", "restore"}, 2, "", "etcdimg snapshot: unknown subcommand \"restore\"\n\nUsage: etcdimg snapshot COMMAND"},
		{[]string{"snapshot", "--help"}, 0, "Usage: etcdimg snapshot COMMAND", ""},
		{[]string{"help", "snapshot"}, 0, "Usage: etcdimg snapshot COMMAND", ""},
		{[]string{"member"}, 2, "", "etcdimg member: missing subcommand"},
		{[]string{"member", "-h"}, 0, "Usage: etcdimg member COMMAND", ""},
		{[]string{"completion"}, 2, "", "etcdimg completion: want exactly one argument, got 0"},
		{[]string{"completion", "tcsh"}, 2, "", "etcdimg completion: unknown shell \"tcsh\": want bash, zsh or fish\n\nUsage: etcdimg completion"},
	} {
		code, out, errs := runArgs(tc.args...)
		if code != tc.code || !strings.HasPrefix(out, tc.stdout) || !strings.HasPrefix(errs, tc.err) ||
			(tc.stdout == "") != (out == "") || (tc.err == "") != (errs == "") {
			t.Errorf("etcdimg %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, out, errs)
		}
	}
	// The top-level list names every command.
	_, out, _ := runArgs("--help")
	for _, p := range leafPaths() {
		if !strings.Contains(out, "\n  etcdimg "+strings.Join(p, " ")) {
			t.Errorf("etcdimg --help does not list %q:\n%s", strings.Join(p, " "), out)
		}
	}
}
