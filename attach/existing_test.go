package attach

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// virshShim stands in for virsh on a domain kept in a libvirt test driver
// state file. Reads run the real virsh on that state (so the script parses
// real domblklist and dumpxml output); the changes the scripts make are
// applied to the state file (attach-disk takes its <disk> from the real
// virsh's --print-xml) and logged, one line each.
const virshShim = `set -eu
state=$VIRSH_STATE
args=("$@")
[ "${args[0]}" = --connect ] && args=("${args[@]:2}")
sub=${args[0]}
case $sub in
dominfo | domblklist | dumpxml)
	exec "$REAL_VIRSH" --connect "test://$state" "${args[@]}" ;;
domstate)
	if [ -n "${VIRSH_DOMSTATE_FILE:-}" ]; then cat "$VIRSH_DOMSTATE_FILE"; else echo "${VIRSH_DOMSTATE:-shut off}"; fi
	exit 0 ;;
esac
echo "${args[*]}" >>"$VIRSH_LOG"
# Power: the state file says what domstate reports (a guest that ignores
# the ACPI shutdown with VIRSH_SHUTDOWN_HANGS set).
case $sub in
shutdown) [ -n "${VIRSH_SHUTDOWN_HANGS:-}" ] || echo "shut off" >"$VIRSH_DOMSTATE_FILE"; exit 0 ;;
start) echo running >"$VIRSH_DOMSTATE_FILE"; exit 0 ;;
esac
xml=
case $sub in
attach-disk) xml=$("$REAL_VIRSH" --connect "test://$state" "${args[@]}" --print-xml) ;;
attach-device) xml=$(cat "${args[2]}") ;;
esac
XML=$xml python3 - "$state" "${args[@]}" <<'PY'
import os, sys, xml.etree.ElementTree as ET
path, sub, rest = sys.argv[1], sys.argv[2], sys.argv[4:]
tree = ET.parse(path)
dev = tree.getroot().find("domain/devices")
def disk(target):
    for d in dev.findall("disk"):
        if d.find("target").get("dev") == target:
            return d
    sys.exit("virsh shim: no disk " + target)
if sub in ("attach-disk", "attach-device"):
    dev.append(ET.fromstring(os.environ["XML"]))
elif sub == "detach-disk":
    dev.remove(disk(rest[0]))
elif sub == "change-media":
    d = disk(rest[0])
    for s in d.findall("source"):
        d.remove(s)
    if "--eject" not in rest:
        ET.SubElement(d, "source", file=rest[1])
else:
    sys.exit("virsh shim: unknown change " + sub)
tree.write(path)
PY
`

type libvirtDisk struct{ device, target, bus, source string }

// domainDisks reads the test driver state back with the real virsh.
func domainDisks(t *testing.T, state string) map[string]libvirtDisk {
	t.Helper()
	out, err := exec.Command("virsh", "--connect", "test://"+state, "domblklist", "k8s01", "--inactive", "--details").CombinedOutput()
	if err != nil {
		t.Fatalf("virsh domblklist: %v\n%s", err, out)
	}
	xml, err := exec.Command("virsh", "--connect", "test://"+state, "dumpxml", "k8s01", "--inactive").CombinedOutput()
	if err != nil {
		t.Fatalf("virsh dumpxml: %v\n%s", err, xml)
	}
	disks := map[string]libvirtDisk{}
	for _, l := range strings.Split(string(out), "\n")[2:] {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		d := libvirtDisk{device: f[1], target: f[2], source: strings.Join(f[3:], " ")}
		if _, after, ok := strings.Cut(string(xml), "<target dev='"+d.target+"' bus='"); ok {
			d.bus, _, _ = strings.Cut(after, "'")
		}
		disks[d.target] = d
	}
	return disks
}

// TestExistingDomain runs the scsi script's update path and eject on a q35
// domain as virt-install makes them, a SATA CD at sda: the seed must land on
// the virtio-scsi bus, never on the SATA drive, and eject must be safe to
// repeat.
func TestExistingDomain(t *testing.T) {
	needLibvirtTool(t, "virsh", "python3")
	realVirsh, _ := exec.LookPath("virsh")
	fixture, err := os.ReadFile("testdata/libvirt/q35-sata.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		before   func(string) string // edits the fixture
		wantTgt  string
		wantLog  []string // the changes, in order
		wantNote string
	}{
		{
			name:     "empty SATA CD at sda",
			before:   func(s string) string { return s },
			wantTgt:  "sdb",
			wantLog:  []string{"attach-device k8s01", "attach-disk k8s01 SEED sdb --type cdrom --targetbus scsi --mode readonly --config"},
			wantNote: "leaving sda (sata) as it is",
		},
		{
			name: "seed on the SATA CD (an older script's doing)",
			before: func(s string) string {
				return strings.Replace(s, "<target dev='sda' bus='sata'/>", "<source file='SEED'/><target dev='sda' bus='sata'/>", 1)
			},
			wantTgt:  "sdb",
			wantLog:  []string{"attach-device k8s01", "change-media k8s01 sda --eject --config", "attach-disk k8s01 SEED sdb --type cdrom --targetbus scsi --mode readonly --config"},
			wantNote: "taking the seed out of it",
		},
		{
			name: "virtio-scsi CD already there",
			before: func(s string) string {
				return strings.Replace(s, "<controller type='sata' index='0'/>",
					"<controller type='sata' index='0'/><controller type='scsi' index='0' model='virtio-scsi'/>"+
						"<disk type='file' device='cdrom'><target dev='sdc' bus='scsi'/><readonly/></disk>", 1)
			},
			wantTgt: "sdc",
			wantLog: []string{"change-media k8s01 sdc SEED --update --config"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			seed := filepath.Join(work, "seeds", "k8s01.iso")
			state := filepath.Join(work, "state.xml")
			if err := os.WriteFile(state, []byte(strings.ReplaceAll(tc.before(string(fixture)), "SEED", seed)), 0o644); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(work, "bin")
			os.Mkdir(bin, 0o755)
			shim(t, bin, "virsh", virshShim)
			log := filepath.Join(work, "virsh.log")
			script := filepath.Join(work, "k8s01.libvirt.sh")
			n := example(filepath.Dir(seed), FormatISO, true)[0]
			if err := os.WriteFile(script, []byte(Libvirt(n, Options{Cluster: "k8s"})), 0o755); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) string {
				t.Helper()
				cmd := exec.Command(script, args...)
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "REAL_VIRSH="+realVirsh,
					"VIRSH_STATE="+state, "VIRSH_LOG="+log, "LIBVIRT_DEFAULT_URI=qemu:///system")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s %v: %v\n%s", filepath.Base(script), args, err, out)
				}
				return string(out)
			}
			out := run()
			if !strings.Contains(out, tc.wantNote) {
				t.Errorf("output lacks %q:\n%s", tc.wantNote, out)
			}
			logged, _ := os.ReadFile(log)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
				if strings.HasPrefix(l, "attach-device ") {
					l = "attach-device k8s01" // the controller file is a temp name
				}
				got = append(got, strings.ReplaceAll(l, seed, "SEED"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantLog, "\n") {
				t.Errorf("virsh changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantLog, "\n"))
			}
			disks := domainDisks(t, state)
			for _, d := range disks {
				if d.source == seed && (d.target != tc.wantTgt || d.bus != "scsi" || d.device != "cdrom") {
					t.Errorf("seed on %+v, want a scsi cdrom at %s", d, tc.wantTgt)
				}
			}
			if disks[tc.wantTgt].source != seed {
				t.Errorf("no seed at %s: %+v", tc.wantTgt, disks)
			}
			os.Remove(log)
			out = run("eject")
			if d := domainDisks(t, state)[tc.wantTgt]; d.source != "-" {
				t.Errorf("after eject %s holds %q:\n%s", tc.wantTgt, d.source, out)
			}
			// Twice: nothing to do, exit 0, nothing changed.
			os.Remove(log)
			if out := run("eject"); !strings.Contains(out, "no seed attached; nothing to do") {
				t.Errorf("second eject says:\n%s", out)
			}
			if _, err := os.Stat(log); err == nil {
				b, _ := os.ReadFile(log)
				t.Errorf("second eject changed the domain:\n%s", b)
			}
		})
	}
}
