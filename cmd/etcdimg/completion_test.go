package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// completionScript writes `etcdimg completion SHELL` to a file and returns
// its path.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	code, out, errs := runArgs("completion", shell)
	if code != 0 || errs != "" || out == "" {
		t.Fatalf("completion %s: exit %d\n%s", shell, code, errs)
	}
	p := filepath.Join(t.TempDir(), "etcdimg."+shell)
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// completionFixture is a folder with specs, other files and a folder, for
// the shells to complete in.
func completionFixture(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range []string{"cluster.jsonnet", "lib.libsonnet", "notes.txt", "with space.jsonnet", "seeds/cluster.json"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func needTool(t *testing.T, tool string) string {
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s is not installed (make deps installs it)", tool)
	}
	return p
}

// TestCompletionBash sources the script in bash and runs its completion
// function on command lines as bash would (COMP_WORDS split at "=", as
// COMP_WORDBREAKS does), checking the candidates.
func TestCompletionBash(t *testing.T) {
	bash := needTool(t, "bash")
	script := completionScript(t, "bash")
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := exec.Command(sc, "-s", "bash", script).CombinedOutput(); err != nil {
			t.Errorf("shellcheck: %v\n%s", err, out)
		}
	}
	cases := []struct {
		words []string // the last one is the word being completed
		want  string   // the candidates, sorted, joined by spaces
	}{
		{[]string{""}, "attach build certs completion help member render rollout snapshot status validate version"},
		{[]string{"b"}, "build"},
		{[]string{"-"}, "--help --version -h"},
		{[]string{"snapshot", ""}, "save verify"},
		{[]string{"member", "r"}, "remove"},
		{[]string{"build", ""}, "- cluster.jsonnet lib.libsonnet seeds with space.jsonnet"},
		{[]string{"build", "c"}, "cluster.jsonnet"},
		{[]string{"build", "--f"}, "--force --format"},
		{[]string{"build", "--format", ""}, "iso vfat"},
		{[]string{"build", "--format", "=", "v"}, "vfat"},
		{[]string{"build", "cluster.jsonnet", "-o", ""}, "seeds"},
		{[]string{"build", "cluster.jsonnet", "--output", "=", "s"}, "seeds"},
		{[]string{"build", "cluster.jsonnet", "-o", "seeds", ""}, ""}, // SPEC given: nothing more
		{[]string{"build", "-J", "seeds", "--ext-str-file", "sha", "=", "n"}, "notes.txt"},
		{[]string{"render", "--ext"}, "--ext-code --ext-code-file --ext-str --ext-str-file"},
		{[]string{"validate", "--ext-code"}, "--ext-code --ext-code-file"},
		{[]string{"validate", "-o", ""}, "json text"},
		{[]string{"status", "-o", ""}, "json table"},
		{[]string{"status", ""}, "seeds"},
		{[]string{"snapshot", "save", "seeds", "-o", "n"}, "notes.txt"},
		{[]string{"snapshot", "verify", "n"}, "notes.txt"},
		{[]string{"member", "remove", "--d"}, "--dial-timeout --dry-run"},
		{[]string{"attach", "--cd-bus", ""}, "ide scsi"},
		{[]string{"rollout", "seeds", "--via", ""}, "exec libvirt virtualbox"},
		{[]string{"rollout", "-o", ""}, "json text"},
		{[]string{"rollout", ""}, "seeds"},
		{[]string{"completion", ""}, "bash fish zsh"},
		{[]string{"help", "s"}, "snapshot status"},
	}
	var prog strings.Builder
	prog.WriteString("source " + shellWord(script) + "\n")
	prog.WriteString("complete -p etcdimg || exit 1\n")
	prog.WriteString(`c() { COMP_WORDS=(etcdimg "$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _etcdimg; printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | paste -sd' '; }` + "\n")
	for _, c := range cases {
		var q []string
		for _, w := range c.words {
			q = append(q, shellWord(w))
		}
		prog.WriteString("c " + strings.Join(q, " ") + "\n")
	}
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog.String())
	cmd.Dir = completionFixture(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(cases)+1 || lines[0] != "complete -F _etcdimg etcdimg" {
		t.Fatalf("bash printed %d lines for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		if got := lines[i+1]; got != c.want {
			t.Errorf("etcdimg %s<TAB>: %q, want %q", strings.Join(c.words, " "), got, c.want)
		}
	}
}

// TestCompletionZsh checks the script parses, registers for etcdimg once
// compinit ran, and completes in a real interactive zsh (a pty).
func TestCompletionZsh(t *testing.T) {
	zsh := needTool(t, "zsh")
	script := completionScript(t, "zsh")
	if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	out, err := exec.Command(zsh, "-f", "-c", "autoload -U compinit && compinit -u -D && source "+shellWord(script)+" && print -r -- $_comps[etcdimg]").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_etcdimg" {
		t.Fatalf("zsh: compdef: %v\n%s", err, out)
	}
	// As installed: a file _etcdimg in $fpath, autoloaded by compinit.
	fpath := t.TempDir()
	b, _ := os.ReadFile(script)
	os.WriteFile(filepath.Join(fpath, "_etcdimg"), b, 0o644)
	fixture := completionFixture(t)
	cases := []struct {
		line string
		want []string // in the redrawn line or the listing
	}{
		{"etcdimg sn", []string{"etcdimg snapshot "}},
		{"etcdimg build --fo", []string{"etcdimg build --for"}},
		{"etcdimg build --format ", []string{"iso", "vfat"}},
		{"etcdimg status -o ", []string{"json", "table"}},
		{"etcdimg build cl", []string{"etcdimg build cluster.jsonnet "}},
		{"etcdimg snapshot save se", []string{"etcdimg snapshot save seeds/"}},
		{"etcdimg member remove --d", []string{"--dry-run", "--dial-timeout"}},
	}
	var lines []string
	for _, c := range cases {
		lines = append(lines, c.line)
	}
	got := zshComplete(t, zsh, fpath, fixture, lines)
	for i, c := range cases {
		for _, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("zsh: %q<TAB>: no %q in\n%q", c.line, w, got[i])
			}
		}
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]|[\r\a]|.\x08`)

// zshComplete types each line and TAB into one interactive zsh in a pty
// (then ^U) and returns what it drew for each, without terminal escapes.
func zshComplete(t *testing.T, zsh, fpath, dir string, lines []string) []string {
	t.Helper()
	driver := `zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PS1="%% "; RPROMPT=""'
zpty -w z "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D; cd ${(q)2}"
zpty -w z 'LISTMAX=1000; echo RE""ADY'
zpty -r z out '*READY*'
shift 2
local line all chunk idle
for line; do
  zpty -n -w z "$line"$'\t'
  all="" idle=0
  # what zsh draws, until it has been quiet for 0.2 s
  while (( idle < 4 )); do
    sleep 0.05
    if zpty -r -t z chunk; then
      all+=$chunk idle=0
      while zpty -r -t z chunk; do all+=$chunk; done
    elif [[ -n $all ]]; then
      (( idle++ ))
    fi
  done
  print -r -- "$all"
  print -r -- "<<<END>>>"
  zpty -n -w z $'\C-u'
done
zpty -d z
`
	cmd := exec.Command(zsh, append([]string{"-f", "-c", driver, "zsh", fpath, dir}, lines...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	parts := strings.Split(ansi.ReplaceAllString(string(out), ""), "<<<END>>>")
	if len(parts) != len(lines)+1 {
		t.Fatalf("zsh: %d answers for %d lines:\n%s", len(parts)-1, len(lines), out)
	}
	return parts[:len(lines)]
}

// TestCompletionFish checks the script parses and asks fish itself what it
// completes (complete -C).
func TestCompletionFish(t *testing.T) {
	fish := needTool(t, "fish")
	script := completionScript(t, "fish")
	if out, err := exec.Command(fish, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("fish -n: %v\n%s", err, out)
	}
	fixture := completionFixture(t)
	for _, c := range []struct {
		line string
		want []string // candidates (before the tab and description)
		not  []string
	}{
		{"etcdimg ", []string{"build", "snapshot", "member", "completion", "version"}, []string{"save", "cluster.jsonnet"}},
		{"etcdimg snapshot ", []string{"save", "verify"}, []string{"build"}},
		{"etcdimg build --fo", []string{"--force", "--format"}, nil},
		{"etcdimg build --format ", []string{"iso", "vfat"}, nil},
		{"etcdimg build --format=", []string{"--format=iso", "--format=vfat"}, nil},
		{"etcdimg build ", []string{"cluster.jsonnet", "-", "seeds/"}, nil},
		{"etcdimg build cluster.jsonnet -o ", []string{"seeds/"}, []string{"notes.txt"}},
		{"etcdimg validate -o ", []string{"text", "json"}, nil},
		{"etcdimg build --ext-str-file sha=n", []string{"sha=notes.txt"}, nil},
		{"etcdimg build -", []string{"-V", "-A", "-J", "--tla-code-file"}, []string{"--dry-run"}},
		{"etcdimg member remove -", []string{"--dry-run"}, []string{"--format"}},
		{"etcdimg completion ", []string{"bash", "zsh", "fish"}, nil},
	} {
		cmd := exec.Command(fish, "--no-config", "-c", "source "+shellWord(script)+"; complete -C "+shellWord(c.line))
		cmd.Dir = fixture
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		got := map[string]bool{}
		for _, l := range strings.Split(string(out), "\n") {
			cand, _, _ := strings.Cut(l, "\t")
			got[cand] = true
		}
		for _, w := range c.want {
			if !got[w] {
				t.Errorf("fish: %q<TAB>: no %q in\n%s", c.line, w, out)
			}
		}
		for _, w := range c.not {
			if got[w] {
				t.Errorf("fish: %q<TAB>: %q offered:\n%s", c.line, w, out)
			}
		}
	}
}

// TestCompletionFlagsAreReal: the scripts list exactly the flags each
// command parses, and every command hands its flag set to the completion
// (it goes through parseArgs).
func TestCompletionFlagsAreReal(t *testing.T) {
	model := map[string]*compCommand{}
	for _, c := range leaves(completionModel()) {
		model[c.key()] = c
	}
	for _, p := range leafPaths() {
		fs := flagsOf(p)
		if fs == nil {
			t.Errorf("%s: its flag set is not reachable (does it call parseArgs?)", strings.Join(p, " "))
			continue
		}
		c := model[strings.Join(p, " ")]
		if c == nil {
			t.Errorf("%s: not in the completion model", strings.Join(p, " "))
			continue
		}
		if len(c.flags) != countFlags(fs) || fs.Lookup("help") == nil {
			t.Errorf("%s: %d flags in the completion, %d parsed (with --help)", strings.Join(p, " "), len(c.flags), countFlags(fs))
		}
	}
	// The jsonnet flags are where a spec is evaluated, nowhere else.
	for _, cmd := range []string{"build", "render", "validate"} {
		fs := flagsOf([]string{cmd})
		for _, f := range []string{"jpath", "ext-str", "ext-str-file", "ext-code", "ext-code-file", "tla-str", "tla-str-file", "tla-code", "tla-code-file"} {
			if fs.Lookup(f) == nil {
				t.Errorf("%s: no --%s", cmd, f)
			}
		}
		for short, long := range map[string]string{"J": "jpath", "V": "ext-str", "A": "tla-str"} {
			if f := fs.ShorthandLookup(short); f == nil || f.Name != long {
				t.Errorf("%s: -%s is not --%s", cmd, short, long)
			}
		}
	}
}

func countFlags(fs *pflag.FlagSet) int {
	n := 0
	fs.VisitAll(func(*pflag.Flag) { n++ })
	return n
}
