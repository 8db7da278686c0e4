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
	Detail            string           `json:"detail"`
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

// CloudInitStatus is the guest's `cloud-init status --wait --format json`
// (the report's cloud-init-status section); a zero StatusJSON when the
// section holds no JSON. Its Detail names the datasource and the seed
// device ("DataSourceNoCloud [seed=/dev/sr0]...").
func CloudInitStatus(r *Report) StatusJSON {
	v, err := ParseStatusJSON(r.Section("cloud-init-status").Text())
	if err != nil {
		return StatusJSON{}
	}
	return *v
}

// CloudInitProblems judges `cloud-init status --wait --format json` (with
// its exit code). One call answers for both versions: it exits 1 on an
// error, 25.1 also 2 when degraded, and its JSON carries every field the
// tabular --long output has (status, detail, errors; 25.1 extended_status
// and recoverable_errors). The report used to run a second `cloud-init
// status` for the tabular text: each Python start cost the report about 16 s
// with three TCG guests booting (2 Dec 2026).
func CloudInitProblems(js *Section) []Problem {
	var ps []Problem
	add := func(format string, a ...any) {
		ps = append(ps, Problem{"cloud-init-status", fmt.Sprintf(format, a...)})
	}
	v, err := ParseStatusJSON(js.Text())
	if err != nil {
		add("exit %d, %v:\n%s", js.RC, err, indent(js.Text()))
		return ps
	}
	if js.RC != 0 || v.Status != "done" || (v.ExtendedStatus != "" && v.ExtendedStatus != "done") {
		add("exit %d, status %q, extended_status %q, want done/0 (detail %q)", js.RC, v.Status, v.ExtendedStatus, v.Detail)
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
