package generator_test

import (
	"slices"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

type userDataDoc struct {
	Bootcmd    []any `yaml:"bootcmd"`
	Runcmd     []any `yaml:"runcmd"`
	Users      []any `yaml:"users"`
	WriteFiles []struct {
		Path  string `yaml:"path"`
		Defer bool   `yaml:"defer"`
	} `yaml:"write_files"`
}

// TestOwnedPathsCoverWrites holds model.OwnedPath (what a spec's files may
// not touch) to every path the generator writes, for every golden spec.
func TestOwnedPathsCoverWrites(t *testing.T) {
	for name, s := range goldenSpecs {
		c := load(t, s.path, s.opts)
		var extra []string
		for _, f := range c.Extra.Files {
			extra = append(extra, f.Path)
		}
		files := renderAll(t)[name]
		for _, nf := range files {
			var doc userDataDoc
			if err := yaml.Unmarshal(nf.UserData, &doc); err != nil {
				t.Fatal(err)
			}
			for _, f := range doc.WriteFiles {
				if slices.Contains(extra, f.Path) {
					continue
				}
				if c.OwnedPath(f.Path) == "" {
					t.Errorf("%s/%s: generator writes %s, which model.OwnedPath does not claim: a spec's files could overwrite it", name, nf.Node.Name, f.Path)
				}
			}
		}
	}
}

// TestExtraMerged checks the merge rules on the extra golden: etcdimg's
// list entries first, the operator's after, files last, defer kept.
func TestExtraMerged(t *testing.T) {
	nf := renderAll(t)["extra"][0]
	var doc userDataDoc
	if err := yaml.Unmarshal(nf.UserData, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Bootcmd) != 2 || len(doc.Runcmd) != 3 || len(doc.Users) != 3 {
		t.Fatalf("bootcmd %d, runcmd %d, users %d entries; want 2, 3, 3", len(doc.Bootcmd), len(doc.Runcmd), len(doc.Users))
	}
	if first := doc.Runcmd[0].([]any); first[0] != "/usr/local/sbin/etcdimg-firstboot" {
		t.Errorf("runcmd starts with %v, want etcdimg's first-boot script", first)
	}
	if doc.Users[0] != "default" || doc.Users[2].(map[string]any)["name"] != "backup" {
		t.Errorf("users %v", doc.Users)
	}
	last := doc.WriteFiles[len(doc.WriteFiles)-1]
	if last.Path != "/home/backup/.config/target" || !last.Defer {
		t.Errorf("last write_files entry %+v, want the deferred extra file", last)
	}
}
