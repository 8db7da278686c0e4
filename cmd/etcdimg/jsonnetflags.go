package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/etcdimg/etcdimg/internal/inputfile"
	"github.com/etcdimg/etcdimg/jsonnet"
)

// jsonnetFlags are the jsonnet CLI's flags, taken by every command that
// evaluates a spec (build, render, validate), with the same names, short
// forms and meaning, so a command line written for `jsonnet` works here.
type jsonnetFlags struct {
	jpath []string
	// vars holds every --ext-*/--tla-* flag in command-line order: as in
	// the jsonnet CLI, a later definition of a variable replaces an
	// earlier one, whichever flag gave it.
	vars []varDef
}

// varDef is one --ext-*/--tla-* flag as typed.
type varDef struct {
	flag  string // "--ext-str", …
	value string // var[=value] or var=file
}

// varFlag is a pflag.Value appending to jsonnetFlags.vars, which a plain
// StringArray per flag could not keep in order across flags.
type varFlag struct {
	flag, typ string
	vars      *[]varDef
}

func (v *varFlag) String() string { return "" }
func (v *varFlag) Type() string   { return v.typ }
func (v *varFlag) Set(s string) error {
	*v.vars = append(*v.vars, varDef{v.flag, s})
	return nil
}

func (j *jsonnetFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&j.jpath, "jpath", "J", nil, "add a Jsonnet library search folder (repeatable; the right-most wins, then JSONNET_PATH's folders, the left-most of them first)")
	for _, f := range []struct{ name, short, typ, usage string }{
		{"ext-str", "V", "var[=str]", "external variable as a string (without =str: from the environment)"},
		{"ext-str-file", "", "var=file", "external variable as a string: the file's content"},
		{"ext-code", "", "var[=code]", "external variable as Jsonnet code (without =code: from the environment)"},
		{"ext-code-file", "", "var=file", "external variable as Jsonnet code: the file, as an import (its own imports resolve beside it)"},
		{"tla-str", "A", "var[=str]", "top-level argument as a string (without =str: from the environment)"},
		{"tla-str-file", "", "var=file", "top-level argument as a string: the file's content"},
		{"tla-code", "", "var[=code]", "top-level argument as Jsonnet code (without =code: from the environment)"},
		{"tla-code-file", "", "var=file", "top-level argument as Jsonnet code: the file, as an import"},
	} {
		v := &varFlag{flag: "--" + f.name, typ: f.typ, vars: &j.vars}
		fs.VarP(v, f.name, f.short, fmt.Sprintf("%s (repeatable)", f.usage))
		if strings.HasSuffix(f.name, "-file") {
			setCompletion(fs, f.name, argVarFile)
		}
	}
	setCompletion(fs, "jpath", argDir)
}

// errFlagFile marks a --*-file whose file cannot be read: the operator's
// input, like the spec, so exit 1 rather than a usage error.
var errFlagFile = errors.New("flag file")

// options turns the flags and JSONNET_PATH into jsonnet.Options, reading
// the --*-str-file files. An error wrapping errFlagFile is a file that
// could not be read; any other is a usage error.
func (j *jsonnetFlags) options() (jsonnet.Options, error) {
	o := jsonnet.Options{Stdin: os.Stdin}
	// The jsonnet CLI's order: JSONNET_PATH's folders in reverse, then each
	// -J; go-jsonnet searches the list from its end, so -J folders come
	// first (the right-most wins), then JSONNET_PATH left to right.
	env := filepath.SplitList(os.Getenv("JSONNET_PATH"))
	for i := len(env) - 1; i >= 0; i-- {
		if env[i] != "" {
			o.JPath = append(o.JPath, env[i])
		}
	}
	for _, d := range j.jpath {
		if d == "" {
			return o, fmt.Errorf("-J: empty folder name")
		}
		o.JPath = append(o.JPath, d)
	}
	set := func(m *map[string]string, others []*map[string]string, k, v string) {
		for _, other := range others {
			delete(*other, k)
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = v
	}
	for _, d := range j.vars {
		k, v, hasValue := strings.Cut(d.value, "=")
		if k == "" {
			return o, fmt.Errorf("%s %q: empty variable name", d.flag, d.value)
		}
		file := strings.HasSuffix(d.flag, "-file")
		switch {
		case file && (!hasValue || v == ""):
			return o, fmt.Errorf("%s %s: want var=file", d.flag, d.value)
		case !hasValue:
			env, ok := os.LookupEnv(k)
			if !ok {
				return o, fmt.Errorf("%s %s: no '=' and no environment variable %s", d.flag, d.value, k)
			}
			v = env
		}
		switch d.flag {
		case "--ext-str-file", "--tla-str-file":
			b, err := inputfile.Read(v, inputfile.MaxSpec)
			if err != nil {
				return o, fmt.Errorf("%w: %s %s: %v", errFlagFile, d.flag, d.value, err)
			}
			v = string(b)
		case "--ext-code-file", "--tla-code-file":
			// As the jsonnet CLI does: an import of the file, so that its
			// own relative imports resolve beside it and errors name it.
			// The path is made absolute so that it cannot be found in a
			// library folder instead; the file is checked first like the
			// spec (regular, size-bounded).
			if err := inputfile.Stat(v, inputfile.MaxSpec); err != nil {
				return o, fmt.Errorf("%w: %s %s: %v", errFlagFile, d.flag, d.value, err)
			}
			abs, err := filepath.Abs(v)
			if err != nil {
				return o, fmt.Errorf("%w: %s %s: %v", errFlagFile, d.flag, d.value, err)
			}
			v = jsonnet.ImportCode(abs)
		}
		switch d.flag {
		case "--ext-str", "--ext-str-file":
			set(&o.ExtStr, []*map[string]string{&o.ExtCode}, k, v)
		case "--ext-code", "--ext-code-file":
			set(&o.ExtCode, []*map[string]string{&o.ExtStr}, k, v)
		case "--tla-str", "--tla-str-file":
			set(&o.TLAStr, []*map[string]string{&o.TLACode}, k, v)
		case "--tla-code", "--tla-code-file":
			set(&o.TLACode, []*map[string]string{&o.TLAStr}, k, v)
		}
	}
	return o, nil
}

// resolve is options() for a command: a usage error prints the usage
// (exit 2), an unreadable file only its error (exit 1).
func (j *jsonnetFlags) resolve(fs *pflag.FlagSet, stderr io.Writer) (jsonnet.Options, int, bool) {
	o, err := j.options()
	switch {
	case errors.Is(err, errFlagFile):
		fmt.Fprintf(stderr, "etcdimg %s: %s\n", fs.Name(), strings.TrimPrefix(err.Error(), errFlagFile.Error()+": "))
		return o, exitSpec, false
	case err != nil:
		return o, usageError(fs, stderr, "%v", err), false
	}
	return o, exitOK, true
}

// specName is how messages name the spec: "-" is standard input.
func specName(path string) string {
	if path == jsonnet.Stdin {
		return jsonnet.StdinName
	}
	return path
}

// completion annotations: what a flag's value completes to (completion.go).
const completionKey = "etcdimg-complete"

func setCompletion(fs *pflag.FlagSet, flag string, kind argKind, words ...string) {
	v := []string{fmt.Sprint(int(kind))}
	if err := fs.SetAnnotation(flag, completionKey, append(v, words...)); err != nil {
		panic(err) // a flag name typo: a programming error
	}
}
