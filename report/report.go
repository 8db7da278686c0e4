// Package report carries path-addressed findings from every stage of a build.
//
// Stages never stop at the first problem: an operator fixing a spec wants to
// see every mistake at once, each pointing at the field to change. Only
// entries of severity Error stop a build; warnings are printed and the build
// goes on, so they are never returned as Go errors.
package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Severity says whether an entry stops the build.
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Entry is one finding. Path uses the spec's JSON field names with Go-style
// indexing, e.g. "nodes[1].ip", so the operator can find it in the Jsonnet.
type Entry struct {
	Severity Severity
	Path     string
	Message  string
}

// String is one line, whatever the message holds: a line break inside it
// is written as \n, so no part of it can pass for another finding.
func (e Entry) String() string {
	msg := oneLine.Replace(e.Message)
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Severity, msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Severity, oneLine.Replace(e.Path), msg)
}

var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// Report is an ordered list of entries.
type Report struct {
	Entries []Entry
}

// Errorf adds an error at path.
func (r *Report) Errorf(path, format string, args ...any) {
	r.Entries = append(r.Entries, Entry{Error, path, fmt.Sprintf(format, args...)})
}

// Warnf adds a warning at path.
func (r *Report) Warnf(path, format string, args ...any) {
	r.Entries = append(r.Entries, Entry{Warning, path, fmt.Sprintf(format, args...)})
}

// Merge appends all entries of o.
func (r *Report) Merge(o Report) {
	r.Entries = append(r.Entries, o.Entries...)
}

// IsFatal reports whether any entry is an error.
func (r Report) IsFatal() bool {
	for _, e := range r.Entries {
		if e.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the error entries.
func (r Report) Errors() []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if e.Severity == Error {
			out = append(out, e)
		}
	}
	return out
}

// Sort orders entries by path (then severity, then message) so that output
// does not depend on the order in which checks happened to run.
func (r *Report) Sort() {
	sort.SliceStable(r.Entries, func(i, j int) bool {
		a, b := r.Entries[i], r.Entries[j]
		if a.Path != b.Path {
			return pathLess(a.Path, b.Path)
		}
		if a.Severity != b.Severity {
			return a.Severity < b.Severity
		}
		return a.Message < b.Message
	})
}

// pathLess compares paths so that nodes[2] sorts before nodes[10].
func pathLess(a, b string) bool {
	ka, kb := pathKey(a), pathKey(b)
	for i := 0; i < len(ka) && i < len(kb); i++ {
		if ka[i] != kb[i] {
			if isNum(ka[i]) && isNum(kb[i]) {
				if len(ka[i]) != len(kb[i]) {
					return len(ka[i]) < len(kb[i])
				}
			}
			return ka[i] < kb[i]
		}
	}
	return len(ka) < len(kb)
}

func pathKey(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '.' || r == '[' || r == ']' })
}

func isNum(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// String renders every entry on its own line.
func (r Report) String() string {
	var b strings.Builder
	for _, e := range r.Entries {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Error lets a fatal report travel as an error where a caller needs one; it
// lists only errors.
type FatalError struct{ Report Report }

func (f *FatalError) Error() string {
	errs := f.Report.Errors()
	if len(errs) == 1 {
		return errs[0].String()
	}
	return fmt.Sprintf("%d errors, first: %s", len(errs), errs[0])
}

// Join appends a path segment: Join("nodes[1]", "ip") == "nodes[1].ip".
// A key that is not plain (a map key from the spec: blanks, quotes, a
// newline) is quoted, Join("etcd.extraFlags", "a\nb") ==
// `etcd.extraFlags["a\nb"]`, so a report line never breaks in two and no
// key can print something that reads as another finding.
func Join(base, field string) string {
	if !plainKey(field) {
		return base + "[" + strconv.Quote(field) + "]"
	}
	if base == "" {
		return field
	}
	return base + "." + field
}

// plainKey: what is printed bare. '.' stays bare, as flag names such as
// "experimental-foo.bar" read best unquoted.
func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Index appends an index: Index("nodes", 1) == "nodes[1]".
func Index(base string, i int) string {
	return fmt.Sprintf("%s[%d]", base, i)
}
