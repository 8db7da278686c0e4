package attach

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVBoxHostOnlyRange runs the VirtualBox script's create path with a
// VBoxManage stand-in: an address outside 192.168.56.0/21 must stop the
// script before its first VBoxManage change unless networks.conf lists it,
// and the message must say which line to add.
func TestVBoxHostOnlyRange(t *testing.T) {
	for _, tc := range []struct {
		name, ip, conf string
		ok             bool
	}{
		{"outside, no networks.conf", "192.168.0.147", "", false},
		{"outside, other ranges listed", "192.168.0.147", "* 10.0.0.0/8\n* 2001:db8::/64\n", false},
		{"listed", "192.168.0.147", "# mine\n* 10.0.0.0/8 192.168.0.0/16\n", true},
		{"listed exactly", "10.88.0.11", "* 10.88.0.0/24\n", true},
		{"default range", "192.168.60.5", "", true},
		{"just past the default range", "192.168.64.5", "", false},
		{"ipv6 is not checked", "fd00::11", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			bin := filepath.Join(work, "bin")
			os.Mkdir(bin, 0o755)
			log := filepath.Join(work, "vbox.log")
			shim(t, bin, "VBoxManage", `[ "$1" = showvminfo ] && exit 1
echo "$*" >>`+shq(log)+"\n")
			conf := filepath.Join(work, "networks.conf")
			if tc.conf != "" {
				os.WriteFile(conf, []byte(tc.conf), 0o644)
			}
			n := example(work, FormatISO, true)[0]
			n.IP = tc.ip
			o := Options{Cluster: "k8s", VBoxDiskPath: func(string) string { return filepath.Join(work, "disk.vdi") }}
			os.WriteFile(filepath.Join(work, "disk.vdi"), nil, 0o644)
			body := VirtualBox(n, o)
			if !strings.Contains(body, "/etc/vbox/networks.conf") {
				t.Fatal("the script does not read /etc/vbox/networks.conf")
			}
			script := filepath.Join(work, "k8s01.virtualbox.sh")
			os.WriteFile(script, []byte(strings.Replace(body, "local conf=/etc/vbox/networks.conf", "local conf="+shq(conf), 1)), 0o755)
			cmd := exec.Command(script)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			logged, _ := os.ReadFile(log)
			if tc.ok {
				if err != nil || !strings.Contains(string(logged), "createvm") {
					t.Errorf("want the VM created: %v\n%s\nVBoxManage: %s", err, out, logged)
				}
				return
			}
			if err == nil || len(logged) > 0 {
				t.Errorf("want a stop before any change: %v\n%s\nVBoxManage: %s", err, out, logged)
			}
			want := "echo '* " + tc.ip[:strings.LastIndex(tc.ip, ".")] + ".0/24' >>/etc/vbox/networks.conf"
			if !strings.Contains(string(out), want) {
				t.Errorf("message lacks %q:\n%s", want, out)
			}
		})
	}
}
