package generator

import (
	"bytes"

	yaml "go.yaml.in/yaml/v3"
)

// marshal encodes v as YAML that PyYAML (YAML 1.1, what cloud-init reads)
// parses to the same values: yaml.v3 quotes strings such as "on", "no" and
// "0644" that YAML 1.1 would turn into booleans or numbers.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
