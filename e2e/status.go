package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The two cloud-init versions the harness boots judge a run differently:
//
//   - 22.4 (bookworm) says "status: done" and exits 0 whatever it logged;
//     its JSON status has "errors" but no "extended_status" nor
//     "recoverable_errors".
//   - 25.1 (trixie) says "status: done" with "extended_status: degraded
//     done" and exits 2 when anything logged a warning or a deprecation,
//     listed by level under "recoverable_errors".
//
// So every field either version offers is read, and an absent one passes:
// the verdict is as strict as the guest's cloud-init can be. The log grep in
// CheckCloudInit covers what 22.4 cannot say.

// Problem is one thing wrong with cloud-init's own verdict.
type Problem struct{ Check, Detail string }

// StatusJSON is `cloud-init status --format json`.
type StatusJSON struct {
	Status            string           `json:"status"`
	ExtendedStatus    string           `json:"extended_status"`
	Errors            []any            `json:"errors"`
	RecoverableErrors map[string][]any `json:"recoverable_errors"`
}

// ParseStatusJSON reads the JSON object of a status section; cloud-init may
// print a notice before it.
func ParseStatusJSON(text string) (*StatusJSON, error) {
	i := strings.Index(text, "{")
	if i < 0 {
		return nil, fmt.Errorf("no JSON object")
	}
	var v StatusJSON
	if err := json.Unmarshal([]byte(text[i:]), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// statusField is the value of a "key: value" line of `cloud-init status --long`.
func statusField(lines []string, key string) string {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CloudInitProblems judges `cloud-init status --wait --long` (long, with its
// exit code) and `cloud-init status --format json` (js; RC -1: not run).
func CloudInitProblems(long, js *Section) []Problem {
	var ps []Problem
	status, extended := statusField(long.Lines, "status"), statusField(long.Lines, "extended_status")
	if long.RC != 0 || status != "done" || (extended != "" && extended != "done") {
		ps = append(ps, Problem{"cloud-init-status", fmt.Sprintf("exit %d, status %q, extended_status %q, want done/0:\n%s",
			long.RC, status, extended, indent(long.Text()))})
	}
	if js == nil || js.RC == -1 {
		return ps
	}
	add := func(format string, a ...any) {
		ps = append(ps, Problem{"cloud-init-status-json", fmt.Sprintf(format, a...)})
	}
	v, err := ParseStatusJSON(js.Text())
	if err != nil {
		add("exit %d, %v:\n%s", js.RC, err, indent(js.Text()))
		return ps
	}
	if js.RC != 0 || v.Status != "done" || (v.ExtendedStatus != "" && v.ExtendedStatus != "done") {
		add("exit %d, status %q, extended_status %q, want done/0", js.RC, v.Status, v.ExtendedStatus)
	}
	for _, e := range v.Errors {
		add("error: %v", e)
	}
	levels := make([]string, 0, len(v.RecoverableErrors))
	for l := range v.RecoverableErrors {
		levels = append(levels, l)
	}
	sort.Strings(levels)
	for _, l := range levels {
		for _, m := range v.RecoverableErrors[l] {
			add("recoverable %s: %v", l, m)
		}
	}
	return ps
}

func firstN(a []string, n int) []string {
	if len(a) > n {
		return append(a[:n:n], "... ("+strconv.Itoa(len(a)-n)+" more)")
	}
	return a
}

func indent(s string) string {
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
