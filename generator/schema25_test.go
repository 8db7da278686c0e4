package generator_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/etcdimg/etcdimg/internal/cloudinit"
)

// TestCloudInitSchemaAllVersions checks every golden seed with every
// cloud-init a node may boot: Debian 12's 22.4 (the host's package) and
// Debian 13's 25.1 (the trixie root of scripts/trixie-root.sh). 25.1 reports
// `status: degraded done` on any warning or deprecation, so a seed passes only
// when both versions call it valid and say nothing else. 22.4 has no
// network-config check; 25.1 checks it with netplan's parser and with its own
// v2 schema (see cloudinit.Checker).
func TestCloudInitSchemaAllVersions(t *testing.T) {
	checkers := cloudinit.Available(t)
	dir := t.TempDir()
	type seed struct{ name, userData, networkConfig string }
	var seeds []seed
	for spec, files := range renderAll(t) {
		for _, nf := range files {
			s := seed{name: spec + "/" + nf.Node.Name}
			d := filepath.Join(dir, spec, nf.Node.Name)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			s.userData = filepath.Join(d, "user-data")
			s.networkConfig = filepath.Join(d, "network-config")
			if err := os.WriteFile(s.userData, nf.UserData, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.networkConfig, nf.NetworkConfig, 0o644); err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, s)
		}
	}
	networkChecked := false
	for _, c := range checkers {
		networkChecked = networkChecked || c.CanCheckNetworkConfig()
	}
	if !networkChecked {
		t.Log("network-config not checked: no cloud-init here has `schema -t network-config` (scripts/trixie-root.sh brings 25.1)")
	}
	for _, c := range checkers {
		t.Run(c.Name, func(t *testing.T) {
			for _, s := range seeds {
				t.Run(s.name, func(t *testing.T) {
					// Each check is a python start-up in its own process:
					// run them side by side.
					t.Parallel()
					if err := c.UserData(s.userData); err != nil {
						t.Errorf("user-data: %v", err)
					}
					switch err := c.NetworkConfig(s.networkConfig); {
					case errors.Is(err, cloudinit.ErrUnsupported):
					case err != nil:
						t.Errorf("network-config: %v", err)
					}
				})
			}
		})
	}
}
