package attach

import (
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func umask(m int) int { return syscall.Umask(m) }

var assignRE = regexp.MustCompile(`^([a-z]+)=`)

// shellVars evaluates the script's top-level assignments with bash and
// returns their values.
func shellVars(t *testing.T, script string) map[string]string {
	t.Helper()
	var prog strings.Builder
	var names []string
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, "() {") {
			break
		}
		if m := assignRE.FindStringSubmatch(l); m != nil {
			prog.WriteString(l + "\n")
			names = append(names, m[1])
		}
	}
	for _, n := range names {
		prog.WriteString(`printf '%s=%s\0' ` + n + ` "$` + n + `"` + "\n")
	}
	cmd := exec.Command("bash", "-c", prog.String())
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, prog.String())
	}
	vars := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return vars
}

// command is one simple command of a script: its words after quote removal
// and expansion of the script's own variables, and the line it starts on.
type command struct {
	words []string
	line  int
}

// commands finds every simple command that runs prog in script. It knows
// the shell the scripts are written in: quotes, backslash-newline, $var and
// "$var", and the operators that end a command. $(...) is kept as one word,
// unexpanded.
func commands(t *testing.T, script, prog string) []command {
	t.Helper()
	vars := shellVars(t, script)
	var out []command
	lines := strings.Split(script, "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		l := lines[i]
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = l[:len(l)-1] + lines[i]
		}
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for _, cmd := range splitCommands(t, l, vars) {
			if len(cmd) > 0 && cmd[0] == prog {
				out = append(out, command{cmd, start + 1})
			}
		}
	}
	return out
}

// splitCommands tokenizes one logical line into simple commands.
func splitCommands(t *testing.T, l string, vars map[string]string) [][]string {
	var cmds [][]string
	var subs []string // the insides of $(...), split after the line
	var cur []string
	var word strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			cur = append(cur, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		flushWord()
		// Keywords that open a compound command are not the command.
		for len(cur) > 0 && (cur[0] == "if" || cur[0] == "then" || cur[0] == "else" || cur[0] == "!" || cur[0] == "elif" || cur[0] == "do" || cur[0] == "while") {
			cur = cur[1:]
		}
		if len(cur) > 0 {
			cmds = append(cmds, cur)
		}
		cur = nil
	}
	expand := func(s string, i int) (string, int) {
		// s[i] == '$'
		j := i + 1
		if j < len(s) && s[j] == '(' {
			depth := 0
			for k := j; k < len(s); k++ {
				switch s[k] {
				case '(':
					depth++
				case ')':
					depth--
					if depth == 0 {
						subs = append(subs, s[j+1:k])
						return s[i : k+1], k + 1
					}
				}
			}
			t.Fatalf("unbalanced $( in %q", s)
		}
		if j < len(s) && s[j] == '{' {
			k := strings.IndexByte(s[j:], '}')
			return "${" + s[j+1:j+k] + "}", j + k + 1
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		name := s[j:k]
		if v, ok := vars[name]; ok {
			return v, k
		}
		return "$" + name, k
	}
	for i := 0; i < len(l); {
		c := l[i]
		switch {
		case c == '\'':
			k := strings.IndexByte(l[i+1:], '\'')
			word.WriteString(l[i+1 : i+1+k])
			inWord = true
			i += k + 2
		case c == '"':
			inWord = true
			i++
			for i < len(l) && l[i] != '"' {
				switch {
				case l[i] == '\\' && i+1 < len(l) && strings.IndexByte("\\\"$`", l[i+1]) >= 0:
					word.WriteByte(l[i+1])
					i += 2
				case l[i] == '$':
					v, k := expand(l, i)
					word.WriteString(v)
					i = k
				default:
					word.WriteByte(l[i])
					i++
				}
			}
			i++
		case c == '$':
			v, k := expand(l, i)
			word.WriteString(v)
			inWord = true
			i = k
		case c == '\\' && i+1 < len(l):
			word.WriteByte(l[i+1])
			inWord = true
			i += 2
		case c == ' ' || c == '\t':
			flushWord()
			i++
		case c == '#' && !inWord:
			i = len(l)
		case strings.HasPrefix(l[i:], "2>"), c == '>', c == '<':
			// A redirection ends the words of the command; its target is
			// skipped with the rest of the line's redirections.
			endCmd()
			for i < len(l) && l[i] != ';' && l[i] != '|' && l[i] != '&' {
				i++
			}
		case c == ';' || c == '|' || c == '&':
			endCmd()
			for i < len(l) && (l[i] == ';' || l[i] == '|' || l[i] == '&') {
				i++
			}
		default:
			word.WriteByte(c)
			inWord = true
			i++
		}
	}
	endCmd()
	for _, sub := range subs {
		cmds = append(cmds, splitCommands(t, sub, vars)...)
	}
	return cmds
}
