package jsonnet_test

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/jsonnet"
	"github.com/etcdimg/etcdimg/spec"
)

// readmeRow is one row of README.md's defaults table: the fields it names
// and its default cell.
type readmeRow struct {
	fields []string
	def    string
}

var backticked = regexp.MustCompile("`([^`]*)`")

func readmeDefaults(t *testing.T) []readmeRow {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| field | default | meaning |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README.md has no defaults table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var rows []readmeRow
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 2 {
			t.Fatalf("README row %q", line)
		}
		var r readmeRow
		parent := ""
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			f := m[1]
			if strings.HasPrefix(f, ".") { // "`etcd.release.path` / `.url`": a sibling
				f = parent + f
			} else if i := strings.LastIndex(f, "."); i > 0 {
				parent = f[:i]
			}
			r.fields = append(r.fields, f)
		}
		r.def = strings.TrimSpace(cells[1])
		rows = append(rows, r)
	}
	return rows
}

// leaves flattens a JSON object into path → value ("etcd.user.uid").
func leaves(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			leaves(p, x, out)
		}
		return
	}
	out[prefix] = v
}

// TestREADMEDefaultsTable holds the README's defaults table to the
// generated etcdimg.defaults both ways: every default the table states is
// the library's value, every field the table calls required, none or
// derived has no value there, and every default the library holds is in
// the table.
func TestREADMEDefaultsTable(t *testing.T) {
	v := eval(t, `local e = import 'etcdimg.libsonnet'; { d: e.defaults }`, jsonnet.Options{})
	lib := map[string]any{}
	leaves("", v["d"], lib)
	// The library's object is exactly the Go defaults, nothing hand-written.
	goDefaults := map[string]any{}
	b, _ := json.Marshal(spec.DefaultsJSON())
	var gd any
	json.Unmarshal(b, &gd)
	leaves("", gd, goDefaults)
	if !reflect.DeepEqual(lib, goDefaults) {
		t.Errorf("etcdimg.defaults %v differs from spec.Defaults %v", lib, goDefaults)
	}

	covered := map[string]bool{}
	for _, r := range readmeDefaults(t) {
		switch {
		case r.def == "required" || r.def == "none":
			for _, f := range r.fields {
				for p := range lib {
					if p == f || strings.HasPrefix(p, f+".") {
						t.Errorf("README says %s has no default (%s), etcdimg.defaults has %s = %v", f, r.def, p, lib[p])
					}
				}
			}
		case strings.HasPrefix(r.def, "`{"):
			// An object default, in Jsonnet: the library's subtree exactly.
			if len(r.fields) != 1 {
				t.Fatalf("object default for %v", r.fields)
			}
			obj := eval(t, "{ o: "+strings.Trim(r.def, "`")+" }", jsonnet.Options{})
			want := map[string]any{}
			leaves(r.fields[0], obj["o"], want)
			for p, x := range want {
				if !reflect.DeepEqual(lib[p], x) {
					t.Errorf("README: %s = %v, etcdimg.defaults: %v", p, x, lib[p])
				}
				covered[p] = true
			}
			for p := range lib {
				if strings.HasPrefix(p, r.fields[0]+".") && !covered[p] {
					t.Errorf("etcdimg.defaults has %s = %v, README's %s default does not", p, lib[p], r.fields[0])
				}
			}
		default:
			vals := strings.Split(r.def, ", ")
			if len(vals) != len(r.fields) {
				t.Errorf("README row %v: %d defaults %q", r.fields, len(vals), r.def)
				continue
			}
			for i, f := range r.fields {
				val := strings.Trim(vals[i], "`")
				if _, derived := spec.DerivedDefaults[f]; derived {
					if _, ok := lib[f]; ok {
						t.Errorf("%s follows from %s, but etcdimg.defaults has %v", f, val, lib[f])
					}
					covered[f] = true
					continue
				}
				var want any = val
				if !strings.HasPrefix(vals[i], "`") {
					if err := json.Unmarshal([]byte(val), &want); err != nil {
						t.Errorf("README default of %s: %q is neither `code` nor a number or boolean", f, val)
					}
				}
				if !reflect.DeepEqual(lib[f], want) {
					t.Errorf("README: %s defaults to %v (%T), etcdimg.defaults: %v (%T)", f, want, want, lib[f], lib[f])
				}
				covered[f] = true
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(lib)) {
		if !covered[p] {
			t.Errorf("etcdimg.defaults has %s = %v; README's table does not list it", p, lib[p])
		}
	}
	for f := range spec.DerivedDefaults {
		if !covered[f] && !strings.HasSuffix(f, ".image") { // the images are described under their runtime
			t.Errorf("derived default %s is not in README's table", f)
		}
	}
}
