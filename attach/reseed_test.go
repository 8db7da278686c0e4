package attach

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLibvirtReseed runs the reseed action of the ISO (virtio-scsi CD) and
// VFAT (virtio disk) scripts on a domain in the libvirt test driver: a
// running VM is shut down, its drive gets the rebuilt seed, and it is
// started again, in that order; a VM already off is only started; a guest
// that ignores the shutdown is left running, nothing swapped, exit 1.
func TestLibvirtReseed(t *testing.T) {
	needLibvirtTool(t, "virsh", "python3")
	realVirsh, _ := exec.LookPath("virsh")
	fixture, err := os.ReadFile("testdata/libvirt/q35-sata.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, format, disk string // disk: the seed drive the domain has
		state              string
		hangs              bool
		wantLog            []string
		wantErr            string
	}{
		{
			name: "iso running", format: FormatISO, state: "running",
			disk:    "<controller type='scsi' index='0' model='virtio-scsi'/><disk type='file' device='cdrom'><source file='SEED'/><target dev='sdc' bus='scsi'/><readonly/></disk>",
			wantLog: []string{"shutdown k8s01", "change-media k8s01 sdc SEED --update --config", "start k8s01"},
		},
		{
			name: "iso shut off", format: FormatISO, state: "shut off",
			disk:    "<controller type='scsi' index='0' model='virtio-scsi'/><disk type='file' device='cdrom'><target dev='sdc' bus='scsi'/><readonly/></disk>",
			wantLog: []string{"change-media k8s01 sdc SEED --update --config", "start k8s01"},
		},
		{
			name: "vfat running", format: FormatVFAT, state: "running",
			disk: "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='SEED'/><target dev='vdb' bus='virtio'/><readonly/></disk>",
			wantLog: []string{"shutdown k8s01", "detach-disk k8s01 vdb --config",
				"attach-disk k8s01 SEED vdb --type disk --targetbus virtio --subdriver raw --mode readonly --config", "start k8s01"},
		},
		{
			name: "guest ignores the shutdown", format: FormatISO, state: "running", hangs: true,
			disk:    "<controller type='scsi' index='0' model='virtio-scsi'/><disk type='file' device='cdrom'><source file='SEED'/><target dev='sdc' bus='scsi'/><readonly/></disk>",
			wantLog: []string{"shutdown k8s01"},
			wantErr: "k8s01 did not shut down within 2s; it was left running with its old seed",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			n := example(filepath.Join(work, "seeds"), tc.format, true)[0]
			os.MkdirAll(filepath.Dir(n.Seed), 0o755)
			if err := os.WriteFile(n.Seed, []byte("rebuilt seed"), 0o600); err != nil {
				t.Fatal(err)
			}
			dom := strings.Replace(string(fixture), "<controller type='sata' index='0'/>", "<controller type='sata' index='0'/>"+tc.disk, 1)
			state := filepath.Join(work, "state.xml")
			os.WriteFile(state, []byte(strings.ReplaceAll(dom, "SEED", n.Seed)), 0o644)
			power := filepath.Join(work, "power")
			os.WriteFile(power, []byte(tc.state+"\n"), 0o644)
			bin := filepath.Join(work, "bin")
			os.Mkdir(bin, 0o755)
			shim(t, bin, "virsh", virshShim)
			log := filepath.Join(work, "virsh.log")
			script := filepath.Join(work, "k8s01.libvirt.sh")
			os.WriteFile(script, []byte(Libvirt(n, Options{Cluster: "k8s"})), 0o755)
			cmd := exec.Command(script, "reseed")
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "REAL_VIRSH="+realVirsh,
				"VIRSH_STATE="+state, "VIRSH_LOG="+log, "VIRSH_DOMSTATE_FILE="+power, "LIBVIRT_DEFAULT_URI=qemu:///system",
				"RESEED_SHUTDOWN_TIMEOUT=2")
			if tc.hangs {
				cmd.Env = append(cmd.Env, "VIRSH_SHUTDOWN_HANGS=1")
			}
			out, err := cmd.CombinedOutput()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("reseed: %v\n%s", err, out)
			case tc.wantErr != "" && (err == nil || !strings.Contains(string(out), tc.wantErr)):
				t.Fatalf("reseed: %v, want a failure saying %q:\n%s", err, tc.wantErr, out)
			}
			logged, _ := os.ReadFile(log)
			got := strings.ReplaceAll(strings.TrimSpace(string(logged)), n.Seed, "SEED")
			if got != strings.Join(tc.wantLog, "\n") {
				t.Errorf("virsh changes:\n%s\nwant:\n%s", got, strings.Join(tc.wantLog, "\n"))
			}
			if b, _ := os.ReadFile(power); tc.wantErr == "" && strings.TrimSpace(string(b)) != "running" {
				t.Errorf("the VM is %q after reseed, want running", b)
			}
			if tc.wantErr == "" {
				target := "sdc"
				if tc.format == FormatVFAT {
					target = "vdb"
				}
				if d := domainDisks(t, state)[target]; d.source != n.Seed {
					t.Errorf("after reseed %s holds %q, want the seed", target, d.source)
				}
			}
		})
	}
}

// vboxShim stands in for VBoxManage: showvminfo reports the VM and its
// state (from $VBOX_POWER), acpipowerbutton powers it off unless
// $VBOX_ACPI_IGNORED, startvm runs it; every other command is logged.
const vboxShim = `set -eu
case $1 in
showvminfo)
	if [ "${3:-}" = --machinereadable ]; then
		echo 'storagecontrollername0="IDE"'
		echo "VMState=\"$(cat "$VBOX_POWER")\""
	fi
	exit 0 ;;
esac
echo "$*" >>"$VBOX_LOG"
case $1 in
controlvm) [ -n "${VBOX_ACPI_IGNORED:-}" ] || echo poweroff >"$VBOX_POWER" ;;
startvm) echo running >"$VBOX_POWER" ;;
esac
`

// TestVBoxReseed runs the VirtualBox script's reseed action with a
// VBoxManage stand-in: ACPI shutdown, the drive emptied and the old ISO
// forgotten (VirtualBox remembers a medium by path), the rebuilt seed
// attached, started headless; a saved VM is refused untouched; a guest
// that ignores the power button is left running.
func TestVBoxReseed(t *testing.T) {
	for _, tc := range []struct {
		name, format, state string
		ignored             bool
		wantLog             []string
		wantErr             string
	}{
		{
			name: "iso running", format: FormatISO, state: "running",
			wantLog: []string{
				"controlvm k8s01 acpipowerbutton",
				"storageattach k8s01 --storagectl IDE --port 1 --device 0 --type dvddrive --medium emptydrive",
				"closemedium dvd SEED",
				"storageattach k8s01 --storagectl IDE --port 1 --device 0 --type dvddrive --medium SEED",
				"startvm k8s01 --type headless",
			},
		},
		{
			name: "vfat powered off", format: FormatVFAT, state: "poweroff",
			wantLog: []string{
				"convertfromraw SEED SEEDVDI --format VDI",
				"storageattach k8s01 --storagectl IDE --port 1 --device 0 --type hdd --mtype immutable --medium SEEDVDI",
				"startvm k8s01 --type headless",
			},
		},
		{name: "saved", format: FormatISO, state: "saved", wantErr: "k8s01 is saved; start it or power it off first"},
		{
			name: "power button ignored", format: FormatISO, state: "running", ignored: true,
			wantLog: []string{"controlvm k8s01 acpipowerbutton"},
			wantErr: "k8s01 did not power off within 2s (state running); it was left running with its old seed",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			n := example(filepath.Join(work, "seeds"), tc.format, true)[0]
			os.MkdirAll(filepath.Dir(n.Seed), 0o755)
			os.WriteFile(n.Seed, []byte("rebuilt seed"), 0o600)
			bin := filepath.Join(work, "bin")
			os.Mkdir(bin, 0o755)
			shim(t, bin, "VBoxManage", vboxShim)
			power, log := filepath.Join(work, "power"), filepath.Join(work, "vbox.log")
			os.WriteFile(power, []byte(tc.state+"\n"), 0o644)
			script := filepath.Join(work, "k8s01.virtualbox.sh")
			os.WriteFile(script, []byte(VirtualBox(n, Options{Cluster: "k8s"})), 0o755)
			cmd := exec.Command(script, "reseed")
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "VBOX_POWER="+power, "VBOX_LOG="+log, "RESEED_SHUTDOWN_TIMEOUT=2")
			if tc.ignored {
				cmd.Env = append(cmd.Env, "VBOX_ACPI_IGNORED=1")
			}
			out, err := cmd.CombinedOutput()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("reseed: %v\n%s", err, out)
			case tc.wantErr != "" && (err == nil || !strings.Contains(string(out), tc.wantErr)):
				t.Fatalf("reseed: %v, want a failure saying %q:\n%s", err, tc.wantErr, out)
			}
			logged, _ := os.ReadFile(log)
			got := strings.TrimSpace(string(logged))
			got = strings.ReplaceAll(got, strings.TrimSuffix(n.Seed, ".img")+".seed.vdi", "SEEDVDI")
			got = strings.ReplaceAll(got, n.Seed, "SEED")
			if got != strings.Join(tc.wantLog, "\n") {
				t.Errorf("VBoxManage changes:\n%s\nwant:\n%s", got, strings.Join(tc.wantLog, "\n"))
			}
			for _, l := range strings.Split(string(logged), "\n") {
				if l == "" {
					continue
				}
				for _, e := range checkVBoxLine(append([]string{"VBoxManage"}, strings.Fields(l)...)) {
					t.Errorf("%q: %s", l, e)
				}
			}
		})
	}
}
