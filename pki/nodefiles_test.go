package pki

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestNodeFilesAreWhatIsIssued: the node files name exactly the CA
// certificate and each issued node certificate and key, with the content
// Ensure returns and writes.
func TestNodeFilesAreWhatIsIssued(t *testing.T) {
	cfg := testConfig(t)
	p := mustEnsure(t, cfg)
	n := cfg.Nodes[0].Name
	seen := map[string]bool{}
	for _, f := range NodeFiles() {
		if seen[f.Name] {
			t.Errorf("%s listed twice", f.Name)
		}
		seen[f.Name] = true
		data := p.FileData(n, f)
		if len(data) == 0 {
			t.Errorf("%s: no data", f.Name)
			continue
		}
		onDisk := filepath.Join(cfg.Dir, "nodes", n, f.Name)
		if f.Profile == ProfileCA {
			onDisk = filepath.Join(cfg.Dir, "ca.crt")
		}
		if b, err := os.ReadFile(onDisk); err != nil || !bytes.Equal(b, data) {
			t.Errorf("%s: data differs from %s (%v)", f.Name, onDisk, err)
		}
		if f.Key != bytes.Contains(data, []byte("PRIVATE KEY")) {
			t.Errorf("%s: key %v but content says otherwise", f.Name, f.Key)
		}
		if f.Key && (f.SeedMode&0o077 != 0 || f.Mode&0o077 != 0) {
			t.Errorf("%s: a key readable by others (%o on the seed, %o on the VM)", f.Name, f.SeedMode, f.Mode)
		}
	}
	for profile := range p.Nodes[n] {
		for _, key := range []bool{false, true} {
			found := false
			for _, f := range NodeFiles() {
				found = found || f.Profile == profile && f.Key == key
			}
			if !found {
				t.Errorf("profile %s (key %v) is issued but no node carries it", profile, key)
			}
		}
	}
}
