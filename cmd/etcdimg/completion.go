package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// The completion scripts are static: made from the command table and each
// command's real flag set (flagsOf), they need no etcdimg at completion
// time and complete commands, subcommands, every flag of the command at
// hand, the values of flags with a fixed set (--format iso|vfat), folders
// and files where a command takes them, and Jsonnet files (or -) for SPEC.

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("completion", "bash|zsh|fish")
	shell, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	cmds := completionModel()
	switch shell {
	case "bash":
		writeBash(stdout, cmds)
	case "zsh":
		writeZsh(stdout, cmds)
	case "fish":
		writeFish(stdout, cmds)
	default:
		return usageError(fs, stderr, "unknown shell %q: want bash, zsh or fish", shell)
	}
	return exitOK
}

// compCommand is one command as the completion scripts see it.
type compCommand struct {
	path     []string
	summary  string
	children []*compCommand // a group's subcommands
	flags    []compFlag
	args     []argKind
	variadic bool
	words    []string // values of an argWords positional
}

type compFlag struct {
	long, short string
	value       bool // takes a value
	repeat      bool
	kind        argKind
	words       []string
	usage       string
}

func (c *compCommand) key() string { return strings.Join(c.path, " ") }

func completionModel() []*compCommand {
	var walk func(prefix []string, list []*command) []*compCommand
	walk = func(prefix []string, list []*command) []*compCommand {
		var out []*compCommand
		for _, c := range list {
			cc := &compCommand{path: append(append([]string(nil), prefix...), c.name), summary: c.summary}
			if c.subs != nil {
				cc.children = walk(cc.path, c.subs)
				out = append(out, cc)
				continue
			}
			cc.args, cc.variadic = c.args, c.variadic
			switch c.name {
			case "completion":
				cc.words = []string{"bash", "zsh", "fish"}
			case "help":
				for _, t := range commands {
					cc.words = append(cc.words, t.name)
				}
			}
			if fs := flagsOf(cc.path); fs != nil {
				fs.VisitAll(func(f *pflag.Flag) { cc.flags = append(cc.flags, newCompFlag(f)) })
			}
			out = append(out, cc)
		}
		return out
	}
	return walk(nil, commands)
}

func newCompFlag(f *pflag.Flag) compFlag {
	_, usage := pflag.UnquoteUsage(f)
	cf := compFlag{long: f.Name, short: f.Shorthand, value: f.NoOptDefVal == "", usage: shortUsage(usage)}
	_, isVar := f.Value.(*varFlag)
	cf.repeat = isVar || strings.HasSuffix(f.Value.Type(), "Array") || strings.HasSuffix(f.Value.Type(), "Slice")
	if a := f.Annotations[completionKey]; len(a) > 0 {
		n, _ := strconv.Atoi(a[0])
		cf.kind, cf.words = argKind(n), a[1:]
	}
	return cf
}

// shortUsage keeps a flag's usage to its first clause: a completion menu
// shows one line per flag.
func shortUsage(s string) string {
	if i := strings.Index(s, "; "); i >= 12 {
		s = s[:i]
	}
	const max = 72
	if len(s) > max {
		cut := strings.LastIndex(s[:max], " ")
		if i := strings.LastIndex(s[:max], " ("); i >= 12 {
			cut = i
		}
		s = strings.TrimRight(s[:cut], ",:") + "..."
	}
	return s
}

func leaves(cmds []*compCommand) []*compCommand {
	var out []*compCommand
	for _, c := range cmds {
		if c.children != nil {
			out = append(out, leaves(c.children)...)
		} else {
			out = append(out, c)
		}
	}
	return out
}

func groups(cmds []*compCommand) []*compCommand {
	var out []*compCommand
	for _, c := range cmds {
		if c.children != nil {
			out = append(out, c)
			out = append(out, groups(c.children)...)
		}
	}
	return out
}

func names(cmds []*compCommand) []string {
	var n []string
	for _, c := range cmds {
		n = append(n, c.path[len(c.path)-1])
	}
	return n
}

func kindName(k argKind) string {
	switch k {
	case argSpec:
		return "spec"
	case argDir:
		return "dir"
	case argFile:
		return "file"
	case argWords:
		return "words"
	case argVarFile:
		return "varfile"
	}
	return "none"
}

// argAt is the kind of positional argument i (from 0), and its words.
func (c *compCommand) argAt(i int) argKind {
	switch {
	case i < len(c.args):
		return c.args[i]
	case c.variadic && len(c.args) > 0:
		return c.args[len(c.args)-1]
	}
	return argNone
}

// ---- bash

func writeBash(w io.Writer, cmds []*compCommand) {
	var b strings.Builder
	b.WriteString(`# bash completion for etcdimg; made by 'etcdimg completion bash'.
# Load it in this shell:   source <(etcdimg completion bash)
# or for every new shell:  etcdimg completion bash | sudo tee /etc/bash_completion.d/etcdimg >/dev/null

# _etcdimg_children PATH: the subcommands of the command PATH ("" is etcdimg).
_etcdimg_children() {
    case $1 in
`)
	fmt.Fprintf(&b, "    '') echo %s ;;\n", shellWord(strings.Join(names(cmds), " ")))
	for _, g := range groups(cmds) {
		fmt.Fprintf(&b, "    %s) echo %s ;;\n", shellWord(g.key()), shellWord(strings.Join(names(g.children), " ")))
	}
	b.WriteString(`    esac
}

# _etcdimg_flags PATH: every flag of the command PATH.
_etcdimg_flags() {
    case $1 in
`)
	for _, c := range leaves(cmds) {
		var fl []string
		for _, f := range c.flags {
			fl = append(fl, "--"+f.long)
			if f.short != "" {
				fl = append(fl, "-"+f.short)
			}
		}
		fmt.Fprintf(&b, "    %s) echo %s ;;\n", shellWord(c.key()), shellWord(strings.Join(fl, " ")))
	}
	for _, g := range groups(cmds) {
		fmt.Fprintf(&b, "    %s) echo '--help -h' ;;\n", shellWord(g.key()))
	}
	b.WriteString(`    '') echo '--help -h --version' ;;
    esac
}

# _etcdimg_value PATH FLAG: what the value of FLAG completes to ("dir",
# "file", "words W...", "none"); nothing when FLAG takes no value.
_etcdimg_value() {
    case "$1|$2" in
`)
	for _, c := range leaves(cmds) {
		for _, f := range c.flags {
			if !f.value {
				continue
			}
			pat := shellWord(c.key() + "|--" + f.long)
			if f.short != "" {
				pat += "|" + shellWord(c.key()+"|-"+f.short)
			}
			fmt.Fprintf(&b, "    %s) echo %s ;;\n", pat, shellWord(strings.TrimSpace(kindName(f.kind)+" "+strings.Join(f.words, " "))))
		}
	}
	b.WriteString(`    esac
}

# _etcdimg_arg PATH N: what positional argument N (from 0) completes to.
_etcdimg_arg() {
    case "$1|$2" in
`)
	for _, c := range leaves(cmds) {
		for i := range c.args {
			pat := shellWord(c.key() + "|" + strconv.Itoa(i))
			if c.variadic && i == len(c.args)-1 {
				pat = shellWord(c.key()+"|") + "*"
			}
			fmt.Fprintf(&b, "    %s) echo %s ;;\n", pat, shellWord(strings.TrimSpace(kindName(c.args[i])+" "+strings.Join(c.words, " "))))
		}
	}
	b.WriteString(`    *) echo none ;;
    esac
}

# _etcdimg_complete "KIND [WORDS...]": fill COMPREPLY for the word $cur.
_etcdimg_complete() {
    local kind=${1%% *} words="" g
    [[ $1 == *" "* ]] && words=${1#* }
    case $kind in
    words)
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur") ;;
    dir)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    file)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    spec)
        # Jsonnet files and folders to reach them; - reads standard input.
        compopt -o filenames 2>/dev/null
        COMPREPLY=()
        for g in '*.jsonnet' '*.libsonnet' '*.json'; do
            mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -X "!$g" -- "$cur")
        done
        mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -d -- "$cur")
        [[ -z $cur ]] && COMPREPLY+=(-) ;;
    *)
        COMPREPLY=() ;;
    esac
}

_etcdimg() {
    local cur=${COMP_WORDS[COMP_CWORD]} flag="" path="" w i=1 n=0 v
    COMPREPLY=()
    # COMP_WORDBREAKS splits --flag=value at "=": "--flag" "=" "value".
    if [[ $cur == "=" ]]; then
        flag=${COMP_WORDS[COMP_CWORD-1]}
        cur=""
    elif (( COMP_CWORD > 1 )) && [[ ${COMP_WORDS[COMP_CWORD-1]} == "=" ]]; then
        flag=${COMP_WORDS[COMP_CWORD-2]}
    fi
    # --ext-str-file var=FILE: "--ext-str-file" "var" "=" "FILE".
    local varfile=""
    if [[ -n $flag && $flag != -* ]] && (( COMP_CWORD > 2 )); then
        varfile=${COMP_WORDS[COMP_CWORD-3]}
        [[ $cur == "" && ${COMP_WORDS[COMP_CWORD]} == "=" ]] && varfile=${COMP_WORDS[COMP_CWORD-2]}
    fi
    # The command words come first: etcdimg [GROUP] COMMAND.
    while (( i < COMP_CWORD )); do
        w=${COMP_WORDS[i]}
        [[ " $(_etcdimg_children "$path") " == *" $w "* ]] || break
        path=${path:+$path }$w
        i=$((i + 1))
    done
    if [[ -n $(_etcdimg_children "$path") ]]; then
        if (( i == COMP_CWORD )); then
            if [[ $cur == -* ]]; then
                _etcdimg_complete "words $(_etcdimg_flags "$path")"
            else
                _etcdimg_complete "words $(_etcdimg_children "$path")"
            fi
        fi
        return 0
    fi
    # The flags and arguments before the word being completed: count the
    # positional arguments, skipping flag values.
    local dashdash=""
    while (( i < COMP_CWORD )); do
        w=${COMP_WORDS[i]}
        i=$((i + 1))
        if [[ -n $dashdash || $w != -?* ]]; then
            [[ $w == "=" ]] && continue
            n=$((n + 1))
            continue
        fi
        if [[ $w == -- ]]; then
            dashdash=1
            continue
        fi
        if [[ -n $(_etcdimg_value "$path" "$w") ]]; then
            # its value is the next word, or the one after a split "="
            if [[ ${COMP_WORDS[i]} == "=" ]]; then
                i=$((i + 2))
            elif (( i < COMP_CWORD )); then
                i=$((i + 1))
            else
                flag=$w # the word being completed is its value
            fi
        fi
    done
    if [[ -n $varfile && $(_etcdimg_value "$path" "$varfile") == varfile ]]; then
        _etcdimg_complete file
        return 0
    fi
    if [[ -n $flag ]]; then
        v=$(_etcdimg_value "$path" "$flag")
        [[ -n $v ]] && _etcdimg_complete "$v"
        return 0
    fi
    if [[ -z $dashdash && $cur == -* && $cur != - ]]; then
        _etcdimg_complete "words $(_etcdimg_flags "$path")"
        return 0
    fi
    _etcdimg_complete "$(_etcdimg_arg "$path" "$n")"
}

complete -F _etcdimg etcdimg
`)
	io.WriteString(w, b.String())
}

// shellWord quotes s for sh: a single-quoted word.
func shellWord(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ---- zsh

func writeZsh(w io.Writer, cmds []*compCommand) {
	var b strings.Builder
	b.WriteString(`#compdef etcdimg
# zsh completion for etcdimg; made by 'etcdimg completion zsh'.
# Install: etcdimg completion zsh > "${fpath[1]}/_etcdimg" (a folder of $fpath, before compinit runs),
# or load it in this shell after compinit: source <(etcdimg completion zsh)

_etcdimg_spec() {
  _alternative 'files:Jsonnet spec:_files -g "*.(jsonnet|libsonnet|json)(-.)"' 'stdin:standard input:(-)'
}
`)
	var group func(c *compCommand, fn string, list []*compCommand)
	group = func(c *compCommand, fn string, list []*compCommand) {
		fmt.Fprintf(&b, "\n%s() {\n  local curcontext=\"$curcontext\" state state_descr line ret=1\n  typeset -A opt_args\n", fn)
		fmt.Fprintf(&b, "  _arguments -C '(- *)'{-h,--help}'[print the usage]' ")
		if c == nil {
			b.WriteString("'(- *)--version[print the version]' ")
		}
		b.WriteString("'1: :->command' '*:: :->argument' && ret=0\n  case $state in\n  command)\n    local -a cmds\n    cmds=(\n")
		for _, s := range list {
			fmt.Fprintf(&b, "      %s\n", shellWord(s.path[len(s.path)-1]+":"+s.summary))
		}
		b.WriteString("    )\n    _describe -t commands 'etcdimg command' cmds && ret=0\n    ;;\n  argument)\n    curcontext=\"${curcontext%:*:*}:" + strings.TrimPrefix(fn, "_") + "-$words[1]:\"\n    case $words[1] in\n")
		for _, s := range list {
			fmt.Fprintf(&b, "    %s) %s_%s && ret=0 ;;\n", s.path[len(s.path)-1], fn, s.path[len(s.path)-1])
		}
		b.WriteString("    esac\n    ;;\n  esac\n  return ret\n}\n")
		for _, s := range list {
			name := fn + "_" + s.path[len(s.path)-1]
			if s.children != nil {
				group(s, name, s.children)
				continue
			}
			fmt.Fprintf(&b, "\n%s() {\n  _arguments -s -S \\\n", name)
			for _, f := range s.flags {
				fmt.Fprintf(&b, "    %s \\\n", zshFlag(f))
			}
			for i := range s.args {
				pos := strconv.Itoa(i + 1)
				if s.variadic && i == len(s.args)-1 {
					pos = "*"
				}
				fmt.Fprintf(&b, "    %s \\\n", shellWord(pos+":"+argLabel(s, i)+":"+zshAction(s.args[i], s.words)))
			}
			b.WriteString("    && return 0\n  return 1\n}\n")
		}
	}
	group(nil, "_etcdimg", cmds)
	b.WriteString(`
if [[ $funcstack[1] == _etcdimg ]]; then
  _etcdimg "$@"
else
  compdef _etcdimg etcdimg
fi
`)
	io.WriteString(w, b.String())
}

// argLabel names positional argument i from the command's synopsis.
func argLabel(c *compCommand, i int) string {
	cmd, _ := findCommand(c.path)
	var labels []string
	if cmd != nil {
		for _, f := range strings.Fields(cmd.usage) {
			if strings.HasPrefix(f, "-") || strings.HasPrefix(f, "[") {
				break
			}
			labels = append(labels, f)
		}
	}
	if i < len(labels) {
		return strings.ReplaceAll(labels[i], ":", "")
	}
	return kindName(c.argAt(i))
}

func zshAction(k argKind, words []string) string {
	switch k {
	case argSpec:
		return "_etcdimg_spec"
	case argDir:
		return "_files -/"
	case argFile:
		return "_files"
	case argWords:
		return "(" + strings.Join(words, " ") + ")"
	case argVarFile:
		// the variable name, then a file after its =
		return "{compset -P '*='; _files}"
	}
	return " "
}

var zshDesc = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`)

func zshFlag(f compFlag) string {
	desc := "[" + zshDesc.Replace(f.usage) + "]"
	suffix := ""
	if f.value {
		suffix = ":" + strings.ToUpper(strings.ReplaceAll(f.long, "-", "_")) + ":" + zshAction(f.kind, f.words)
	}
	long, short := "--"+f.long, "-"+f.short
	if f.value {
		long += "="
		short += "+"
	}
	if f.long == "help" {
		return `'(- *)'{-h,--help}'` + desc + `'`
	}
	star := ""
	if f.repeat {
		star = "*"
	}
	if f.short == "" {
		return shellWord(star + long + desc + suffix)
	}
	excl := "(-" + f.short + " --" + f.long + ")"
	if f.repeat {
		excl = ""
	}
	return shellWord(excl+star) + "{" + short + "," + long + "}" + shellWord(desc+suffix)
}

// ---- fish

func writeFish(w io.Writer, cmds []*compCommand) {
	var b strings.Builder
	b.WriteString(`# fish completion for etcdimg; made by 'etcdimg completion fish'.
# Install: etcdimg completion fish > ~/.config/fish/completions/etcdimg.fish

# __etcdimg_is WORD...: the command line so far starts with etcdimg WORD...
function __etcdimg_is
    set -l tokens (commandline -opc)
    set -e tokens[1]
    test (count $tokens) -ge (count $argv); or return 1
    for i in (seq (count $argv))
        test "$tokens[$i]" = "$argv[$i]"; or return 1
    end
end

# __etcdimg_next WORD...: the word being completed comes right after them.
function __etcdimg_next
    set -l tokens (commandline -opc)
    test (count $tokens) -eq (math (count $argv) + 1); or return 1
    __etcdimg_is $argv
end

complete -c etcdimg -f
complete -c etcdimg -n '__etcdimg_next' -l version -d 'print the version'
`)
	var walk func(prefix []string, list []*compCommand)
	walk = func(prefix []string, list []*compCommand) {
		cond := "__etcdimg_next " + strings.Join(prefix, " ")
		for _, c := range list {
			fmt.Fprintf(&b, "complete -c etcdimg -n %s -a %s -d %s\n", fishWord(strings.TrimSpace(cond)), fishWord(c.path[len(c.path)-1]), fishWord(c.summary))
		}
		for _, c := range list {
			if c.children != nil {
				walk(c.path, c.children)
				continue
			}
			is := fishWord("__etcdimg_is " + c.key())
			for _, f := range c.flags {
				fmt.Fprintf(&b, "complete -c etcdimg -n %s", is)
				if f.short != "" {
					fmt.Fprintf(&b, " -s %s", f.short)
				}
				fmt.Fprintf(&b, " -l %s", f.long)
				if f.value {
					b.WriteString(" -r" + fishAction(f.kind, f.words))
				}
				fmt.Fprintf(&b, " -d %s\n", fishWord(f.usage))
			}
			for _, k := range uniqueKinds(c.args) {
				// Anywhere after the command: fish offers flags only for a
				// word starting with -, so files and folders do not hide
				// them. A fixed word list only right after the command.
				cond := "__etcdimg_is " + c.key()
				if k == argWords && !c.variadic {
					cond = "__etcdimg_next " + c.key()
				}
				if a := fishAction(k, c.words); a != "" {
					fmt.Fprintf(&b, "complete -c etcdimg -n %s%s\n", fishWord(cond), a)
				}
			}
		}
	}
	walk(nil, cmds)
	io.WriteString(w, b.String())
}

func fishAction(k argKind, words []string) string {
	switch k {
	case argSpec:
		return " -F -a " + fishWord("-")
	case argDir:
		return " -f -a " + fishWord("(__fish_complete_directories (commandline -ct))")
	case argFile:
		return " -F"
	case argWords:
		return " -f -a " + fishWord(strings.Join(words, " "))
	case argVarFile:
		return " -F"
	}
	return ""
}

func uniqueKinds(ks []argKind) []argKind {
	var out []argKind
	for _, k := range ks {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

var fishEscape = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

func fishWord(s string) string { return "'" + fishEscape.Replace(s) + "'" }
