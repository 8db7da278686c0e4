package generator_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/generator"
	yaml "go.yaml.in/yaml/v3"
)

// seedCheckFiles returns what user-data writes for the seed check, by path.
func writeFilesOf(t *testing.T, userData []byte) map[string]string {
	t.Helper()
	var cc struct {
		SSHDeleteKeys *bool `yaml:"ssh_deletekeys"`
		WriteFiles    []struct {
			Path    string `yaml:"path"`
			Content string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(userData, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.SSHDeleteKeys == nil || *cc.SSHDeleteKeys {
		t.Errorf("user-data: ssh_deletekeys is not false: a newer seed would give the node new host keys")
	}
	out := map[string]string{}
	for _, f := range cc.WriteFiles {
		out[f.Path] = f.Content
	}
	return out
}

// TestSeedCheckFilesInEveryUserData: every seed installs manual_cache_clean,
// the script, its unit and the drop-in that pulls it in before cloud-init's
// local stage.
func TestSeedCheckFilesInEveryUserData(t *testing.T) {
	for name, files := range renderAll(t) {
		for _, nf := range files {
			wf := writeFilesOf(t, nf.UserData)
			if !strings.Contains(wf[generator.CloudCfgPath], "\nmanual_cache_clean: true\n") {
				t.Errorf("%s/%s: %s does not set manual_cache_clean", name, nf.Node.Name, generator.CloudCfgPath)
			}
			if !strings.Contains(wf[generator.SeedCheckUnitPath], "Before=cloud-init-main.service cloud-init-local.service") ||
				!strings.Contains(wf[generator.SeedCheckUnitPath], "ExecStart="+generator.SeedCheckPath) {
				t.Errorf("%s/%s: seed check unit:\n%s", name, nf.Node.Name, wf[generator.SeedCheckUnitPath])
			}
			if !strings.Contains(wf[generator.SeedCheckDropInPath], "Wants=etcdimg-seed-check.service") {
				t.Errorf("%s/%s: no drop-in pulling the seed check in", name, nf.Node.Name)
			}
			if !strings.HasPrefix(wf[generator.SeedCheckPath], "#!/bin/sh\n") {
				t.Errorf("%s/%s: no seed check script", name, nf.Node.Name)
			}
			p := filepath.Join(t.TempDir(), "seed-check.sh")
			os.WriteFile(p, []byte(wf[generator.SeedCheckPath]), 0o755)
			if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
				t.Errorf("%s/%s: sh -n: %v\n%s", name, nf.Node.Name, err, out)
			}
			if sc, err := exec.LookPath("shellcheck"); err == nil {
				if out, err := exec.Command(sc, "-s", "sh", p).CombinedOutput(); err != nil {
					t.Errorf("%s/%s: shellcheck: %v\n%s", name, nf.Node.Name, err, out)
				}
			}
		}
	}
}

// TestSeedCheckScript runs the seed check for real, as root in a private
// mount namespace: a tmpfs over /var/lib holds a cloud-init state, a stand-in
// blkid (bind-mounted over the real one) names a real filesystem image with
// label cidata, or nothing. The instance link must go exactly when the seed names another
// instance-id.
func TestSeedCheckScript(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mount namespace, loop mounts")
	}
	for _, tool := range []string{"unshare", "mkfs.ext4", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	blkid, _ := exec.LookPath("blkid")
	blkid, _ = filepath.EvalSymlinks(blkid)
	var script string
	for _, files := range renderAll(t) {
		script = writeFilesOf(t, files[0].UserData)[generator.SeedCheckPath]
		break
	}
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "etcdimg-seed-check")
	if err := os.WriteFile(scriptPath, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	iso := func(name, metaData string) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "meta-data"), []byte(metaData), 0o644)
		os.WriteFile(filepath.Join(d, "user-data"), []byte("#cloud-config\n"), 0o644)
		// ext4 rather than ISO9660: the filesystem does not matter to the
		// script, and a container's kernel may lack iso9660.
		out := d + ".img"
		if b, err := exec.Command("mkfs.ext4", "-q", "-L", "cidata", "-d", d, out, "4M").CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v\n%s", err, b)
		}
		return out
	}
	for _, tc := range []struct {
		name, seed, want string
		linkKept         bool
	}{
		{"no seed", "", "no seed attached; cloud-init keeps instance etcdimg-c-n1", true},
		{"same seed", iso("same", "instance-id: etcdimg-c-n1\nlocal-hostname: n1\n"), "is instance etcdimg-c-n1, the current one", true},
		{"same seed, quoted", iso("quoted", "instance-id: 'etcdimg-c-n1'\r\nlocal-hostname: n1\n"), "the current one", true},
		{"newer seed", iso("newer", "local-hostname: n1\ninstance-id: etcdimg-c-n1-2\n"), "is instance etcdimg-c-n1-2, newer than etcdimg-c-n1: cache cleared", false},
		{"seed without instance-id", iso("noiid", "local-hostname: n1\n"), "has no instance-id", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := filepath.Join(t.TempDir(), "blkid")
			body := "#!/bin/sh\nexit 2\n"
			if tc.seed != "" {
				body = "#!/bin/sh\ncase \"$*\" in *LABEL=cidata*) echo " + tc.seed + ";; *) exit 2;; esac\n"
			}
			os.WriteFile(fake, []byte(body), 0o755)
			out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-ec", `
mount -t tmpfs tmpfs /var/lib
mkdir -p /var/lib/cloud/data /var/lib/cloud/instances/etcdimg-c-n1
echo etcdimg-c-n1 >/var/lib/cloud/data/instance-id
ln -s /var/lib/cloud/instances/etcdimg-c-n1 /var/lib/cloud/instance
mount --bind "$1" "$2"
"$3"
if [ -L /var/lib/cloud/instance ]; then echo LINK-KEPT; else echo LINK-GONE; fi
test -d /var/lib/cloud/instances/etcdimg-c-n1 && echo INSTANCE-DIR-KEPT
`, "sh", fake, blkid, scriptPath).CombinedOutput()
			got := string(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, got)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, got)
			}
			if want := map[bool]string{true: "LINK-KEPT", false: "LINK-GONE"}[tc.linkKept]; !strings.Contains(got, want) {
				t.Errorf("want %s:\n%s", want, got)
			}
			if !strings.Contains(got, "INSTANCE-DIR-KEPT") {
				t.Errorf("the old instance's folder went:\n%s", got)
			}
		})
	}
}
