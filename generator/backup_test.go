package generator_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/generator"
	"github.com/etcdimg/etcdimg/model"
	yaml "go.yaml.in/yaml/v3"
)

// withRestore makes c what `build --restore-from` makes of it.
func withRestore(c *model.Cluster) {
	sum := strings.Repeat("7f", 32)
	c.Restore = &model.Restore{SHA256: sum, Size: 1 << 20, Path: "/nonexistent/snapshot.db", Token: model.RestoreToken(c.Token, sum)}
	c.Token = c.Restore.Token
}

func userDataFiles(t *testing.T, ud []byte) map[string]string {
	t.Helper()
	var cc struct {
		WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(ud, &cc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range cc.WriteFiles {
		out[f.Path] = f.Content
	}
	return out
}

// TestMaintenanceUnitsSystemdVerify has systemd load every snapshot and
// defragmentation service and timer the goldens hold; warnings exit 0, so
// any output fails. verify wants ExecStart to exist: the script goes into
// the temp folder and the unit points there.
func TestMaintenanceUnitsSystemdVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	checked := 0
	for name, files := range renderAll(t) {
		for _, nf := range files {
			wf := userDataFiles(t, nf.UserData)
			dir := t.TempDir()
			var units []string
			for _, u := range []struct{ unit, script string }{{generator.BackupUnit, generator.BackupScriptPath}, {generator.DefragUnit, generator.DefragScriptPath}} {
				svc, ok := wf["/etc/systemd/system/"+u.unit+".service"]
				if !ok {
					continue
				}
				script := filepath.Join(dir, filepath.Base(u.script))
				if err := os.WriteFile(script, []byte(wf[u.script]), 0o755); err != nil {
					t.Fatal(err)
				}
				lint(t, name+"/"+nf.Node.Name+": "+u.script, script)
				svc = strings.ReplaceAll(svc, "ExecStart="+u.script, "ExecStart="+script)
				for ext, body := range map[string]string{".service": svc, ".timer": wf["/etc/systemd/system/"+u.unit+".timer"]} {
					p := filepath.Join(dir, u.unit+ext)
					if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
					units = append(units, p)
				}
			}
			if r, ok := wf[generator.RestoreScriptPath]; ok {
				p := filepath.Join(dir, "restore")
				os.WriteFile(p, []byte(r), 0o755)
				lint(t, name+"/"+nf.Node.Name+": restore script", p)
			}
			if len(units) == 0 {
				continue
			}
			sort.Strings(units)
			cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, units...)...)
			cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":", "SYSTEMD_LOG_COLOR=0")
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("%s/%s: systemd-analyze verify: %v\n%s", name, nf.Node.Name, err, out)
			}
			checked += len(units)
		}
	}
	if checked < 8 {
		t.Errorf("only %d maintenance units checked; the goldens should hold at least 8", checked)
	}
}

// TestFirstBootRestoresBeforeEtcdStarts: in the seed's script the restore
// runs after the data dir exists and before etcd is enabled, and the
// timers are enabled after etcd.
func TestFirstBootRestoresBeforeEtcdStarts(t *testing.T) {
	files := renderAll(t)["restore"]
	for _, nf := range files {
		fb := userDataFiles(t, nf.UserData)[generator.FirstBootPath]
		order := []string{`install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" "$DATA_DIR"`,
			`install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" '/var/backups/etcd'`,
			generator.RestoreScriptPath + ` "$seed/etcdimg/restore/snapshot.db" || fail`,
			"\numount \"$seed\"\n",
			"systemctl enable --no-reload etcd.service etcdimg-backup.timer etcdimg-defrag.timer\n\tsystemctl start --no-block etcd.service etcdimg-backup.timer etcdimg-defrag.timer"}
		last := -1
		for _, s := range order {
			i := strings.Index(fb, s)
			if i < 0 {
				t.Fatalf("%s: first-boot script lacks %q", nf.Node.Name, s)
			}
			if i < last {
				t.Errorf("%s: %q comes too early in the first-boot script", nf.Node.Name, s)
			}
			last = i
		}
		r := userDataFiles(t, nf.UserData)[generator.RestoreScriptPath]
		for _, w := range []string{"--name=" + nf.Node.Name, "--initial-cluster-token=kv-r7f7f7f7f7f7", "--initial-advertise-peer-urls=https://" + nf.Node.IP.String() + ":2380",
			"--initial-cluster=kv1=https://10.20.0.11:2380,kv2=https://10.20.0.12:2380,kv3=https://10.20.0.13:2380"} {
			if !strings.Contains(r, w) {
				t.Errorf("%s: restore script lacks %q", nf.Node.Name, w)
			}
		}
	}
}

// lint checks a script with sh -n and, where installed, shellcheck.
func lint(t *testing.T, what, path string) {
	t.Helper()
	if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("%s: sh -n: %v\n%s", what, err, out)
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := exec.Command(sc, "-s", "sh", path).CombinedOutput(); err != nil {
			t.Errorf("%s: shellcheck: %v\n%s", what, err, out)
		}
	}
}
