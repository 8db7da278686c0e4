package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/etcdimg/etcdimg/report"
)

// Decode parses evaluated Jsonnet output strictly into a Cluster. Unknown
// keys and wrong types are reported with their paths, all of them, instead
// of stopping at the first: encoding/json's DisallowUnknownFields names
// neither the path nor more than one key.
func Decode(data []byte) (*Cluster, report.Report) {
	var r report.Report
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		r.Errorf("", "spec is not valid JSON: %v", err)
		return nil, r
	}
	if _, ok := raw.(map[string]any); !ok {
		r.Errorf("", "spec must evaluate to an object, got %s; did the file forget to call etcdimg.cluster({...})?", JSONKind(raw))
		return nil, r
	}
	var c Cluster
	decodeValue(raw, reflect.ValueOf(&c).Elem(), "", &r)
	r.Sort()
	return &c, r
}

var scalarType = reflect.TypeOf(Scalar{})

func decodeValue(raw any, v reflect.Value, path string, r *report.Report) {
	if raw == nil {
		// null means "not set": Jsonnet specs use it to drop a default.
		return
	}
	if v.Type() == scalarType {
		switch x := raw.(type) {
		case string:
			v.Set(reflect.ValueOf(Scalar{Text: x, Kind: "string"}))
		case json.Number:
			v.Set(reflect.ValueOf(Scalar{Text: x.String(), Kind: "number"}))
		case bool:
			v.Set(reflect.ValueOf(Scalar{Text: fmt.Sprint(x), Kind: "bool"}))
		default:
			r.Errorf(path, "expected a string, number or boolean, got %s", JSONKind(raw))
		}
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		// Free-form values (cloudConfig) stay as decoded JSON, numbers as
		// json.Number; model checks them.
		v.Set(reflect.ValueOf(raw))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		decodeValue(raw, p.Elem(), path, r)
		v.Set(p)
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			r.Errorf(path, "expected a string, got %s", JSONKind(raw))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			r.Errorf(path, "expected true or false, got %s", JSONKind(raw))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		n, ok := raw.(json.Number)
		if !ok {
			r.Errorf(path, "expected an integer, got %s", JSONKind(raw))
			return
		}
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				r.Errorf(path, "expected an integer, got %s", n)
				return
			}
			i = int64(f)
		}
		v.SetInt(i)
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			r.Errorf(path, "expected an array, got %s", JSONKind(raw))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(arr), len(arr))
		for i, e := range arr {
			decodeValue(e, s.Index(i), report.Index(path, i), r)
		}
		v.Set(s)
	case reflect.Map:
		obj, ok := raw.(map[string]any)
		if !ok {
			r.Errorf(path, "expected an object, got %s", JSONKind(raw))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(obj))
		for _, k := range sortedKeys(obj) {
			e := reflect.New(v.Type().Elem()).Elem()
			decodeValue(obj[k], e, report.Join(path, k), r)
			m.SetMapIndex(reflect.ValueOf(k), e)
		}
		v.Set(m)
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			r.Errorf(path, "expected an object, got %s", JSONKind(raw))
			return
		}
		fields := structFields(v.Type())
		for _, k := range sortedKeys(obj) {
			idx, ok := fields[k]
			if !ok {
				msg := "unknown field"
				if s := suggest(k, fields); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				} else {
					msg += fmt.Sprintf("; known fields here: %s", strings.Join(sortedKeys(fields), ", "))
				}
				r.Errorf(report.Join(path, k), "%s", msg)
				continue
			}
			decodeValue(obj[k], v.Field(idx), report.Join(path, k), r)
		}
	default:
		panic("spec: unsupported field kind " + v.Kind().String())
	}
}

func structFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// JSONKind names the kind of a decoded JSON value for an error message
// ("got string \"x\"", "got a list").
func JSONKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + x.String()
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// suggest returns the known field closest to k when the typo is small.
func suggest(k string, fields map[string]int) string {
	best, bestD := "", 3
	for _, f := range sortedKeys(fields) {
		if d := Levenshtein(strings.ToLower(k), strings.ToLower(f)); d < bestD || (d <= bestD && strings.EqualFold(k, f)) {
			best, bestD = f, d
		}
	}
	return best
}

// Levenshtein is the edit distance between a and b, counting a swap of two
// neighbours as one edit (optimal string alignment), the commonest typo.
func Levenshtein(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
