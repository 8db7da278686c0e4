package generator_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultRouteRendered runs cloud-init's own renderers (`cloud-init
// devel net-convert`, Debian's) over every golden network-config and checks
// the default route comes out the way each renderer sets it natively:
// ifupdown's `gateway` line (never `post-up route add`, which needs
// net-tools), networkd's Gateway=, netplan's gateway or default route.
func TestDefaultRouteRendered(t *testing.T) {
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Skip("cloud-init not installed (apt-get install cloud-init)")
	}
	dir := t.TempDir()
	checked := 0
	for spec, files := range renderAll(t) {
		// The nodes of a spec differ only in address and MAC: one each.
		for _, nf := range files[:1] {
			in := filepath.Join(dir, spec+"-"+nf.Node.Name+".yaml")
			if err := os.WriteFile(in, nf.NetworkConfig, 0o644); err != nil {
				t.Fatal(err)
			}
			gw := gatewayOf(t, nf.NetworkConfig)
			for _, r := range []struct{ renderer, want string }{
				{"eni", "    gateway " + gw + "\n"},
				{"networkd", "Gateway=" + gw + "\n"},
				// 22.4 writes gateway4/gateway6, 25.1 a route to default
				{"netplan", ""},
			} {
				out := filepath.Join(dir, spec+"-"+nf.Node.Name+"-"+r.renderer)
				cmd := exec.Command(ci, "devel", "net-convert", "-p", in, "-k", "yaml", "-d", out, "-D", "debian", "-O", r.renderer)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s/%s: net-convert -O %s: %v\n%s", spec, nf.Node.Name, r.renderer, err, b)
					continue
				}
				rendered := readTree(t, out)
				if strings.Contains(rendered, "route add") {
					t.Errorf("%s/%s: %s renders a route command (needs net-tools):\n%s", spec, nf.Node.Name, r.renderer, rendered)
				}
				if gw != "" && r.renderer == "netplan" && !strings.Contains(rendered, "gateway4: "+gw+"\n") &&
					!strings.Contains(rendered, "gateway6: "+gw+"\n") && !strings.Contains(rendered, "via: "+gw+"\n") {
					t.Errorf("%s/%s: netplan output has no default route via %s:\n%s", spec, nf.Node.Name, gw, rendered)
				}
				if gw != "" && r.renderer != "netplan" && !strings.Contains(rendered, r.want) {
					t.Errorf("%s/%s: %s output lacks %q:\n%s", spec, nf.Node.Name, r.renderer, r.want, rendered)
				}
				checked++
			}
		}
	}
	t.Logf("%d renders checked", checked)
}

func gatewayOf(t *testing.T, nc []byte) string {
	t.Helper()
	for _, l := range strings.Split(string(nc), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && k == "gateway" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func readTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		b.WriteString("# " + p + "\n" + string(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
