package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/etcdimg/etcdimg/pipeline"
	"github.com/etcdimg/etcdimg/report"
)

// validation is `validate -o json`: one object on stdout, whatever the
// outcome, so a script reads one document (exit codes are those of the
// text output: 0 valid, 1 not, 2 usage).
type validation struct {
	Spec     string    `json:"spec"`
	Valid    bool      `json:"valid"`
	Cluster  string    `json:"cluster,omitempty"`
	Nodes    int       `json:"nodes,omitempty"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
	Findings []finding `json:"findings"`
}

// finding is one report entry. Path is the spec field ("nodes[1].ip"),
// empty for a finding about the spec as a whole (it did not evaluate).
type finding struct {
	Path     string `json:"path"`
	Severity string `json:"severity"` // error or warning
	Message  string `json:"message"`
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "SPEC [flags]")
	output := fs.StringP("output", "o", "text", "output format: text (findings on stderr, one per line) or json (one object on stdout: path, severity, message per finding)")
	setCompletion(fs, "output", argWords, "text", "json")
	var jf jsonnetFlags
	jf.register(fs)
	specPath, code, ok := parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		return usageError(fs, stderr, "-o %s: want text or json", *output)
	}
	var l *pipeline.Loaded
	jo, err := jf.options()
	switch {
	case errors.Is(err, errFlagFile) && *output == "json":
		// an input that cannot be read, like the spec: a finding
		return printValidation(stdout, stderr, specPath, nil, errors.New(strings.TrimPrefix(err.Error(), errFlagFile.Error()+": ")))
	case err != nil:
		_, code, _ := jf.resolve(fs, stderr)
		return code
	}
	l, err = pipeline.Load(specPath, jo)
	if *output == "json" {
		return printValidation(stdout, stderr, specPath, l, err)
	}
	if err != nil {
		return specExit(stderr, err)
	}
	printReport(stderr, l.Report)
	if l.Report.IsFatal() {
		return exitSpec
	}
	// The verdict is a line of its own on stdout; the warnings went to
	// stderr before it, and the count says there were some even where only
	// stdout is read.
	line := fmt.Sprintf("%s: cluster %q with %d nodes is valid", specName(l.SpecPath), l.Cluster.Name, len(l.Cluster.Nodes))
	if n := len(l.Report.Entries); n > 0 {
		line += fmt.Sprintf(" (%s)", plural(n, "warning"))
	}
	fmt.Fprintln(stdout, line)
	return exitOK
}

func printValidation(stdout, stderr io.Writer, specPath string, l *pipeline.Loaded, loadErr error) int {
	v := validation{Spec: specName(specPath), Findings: []finding{}}
	if loadErr != nil {
		// The spec did not evaluate (Jsonnet error, unreadable file): one
		// finding about the whole spec.
		msg := strings.TrimPrefix(loadErr.Error(), pipeline.ErrSpec.Error()+": ")
		v.Findings = append(v.Findings, finding{Severity: report.Error.String(), Message: strings.TrimSpace(msg)})
		v.Errors = 1
	} else {
		for _, e := range l.Report.Entries {
			v.Findings = append(v.Findings, finding{e.Path, e.Severity.String(), e.Message})
			if e.Severity == report.Error {
				v.Errors++
			} else {
				v.Warnings++
			}
		}
		if l.Cluster != nil && !l.Report.IsFatal() {
			v.Valid, v.Cluster, v.Nodes = true, l.Cluster.Name, len(l.Cluster.Nodes)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<stdin>", "<node>" as they are
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "etcdimg validate: %v\n", err)
		return exitSpec
	}
	if !v.Valid {
		return exitSpec
	}
	return exitOK
}
