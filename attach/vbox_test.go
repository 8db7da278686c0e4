package attach

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// VirtualBox cannot be installed here, so each VBoxManage line is checked
// against the syntax the VirtualBox manual documents for the subcommand
// (VirtualBox 7; the undashed spellings are the 6.1 ones, which 7 still
// accepts). An option maps to the values it may take: nil for any value,
// an empty list for a flag without one. Options marked indexed take the
// adapter, port or boot position as a suffix (--nic1, --boot4).
type vboxOption struct {
	values  []string // nil: any one value; empty: no value
	indexed bool
	flag    bool
}

func anyValue() vboxOption            { return vboxOption{} }
func oneOf(v ...string) vboxOption    { return vboxOption{values: v} }
func indexed(o vboxOption) vboxOption { o.indexed = true; return o }
func flagOpt() vboxOption             { return vboxOption{flag: true} }

var onOff = []string{"on", "off"}

var vboxSyntax = map[string]struct {
	positionals int // words before the first option (VM name, media)
	options     map[string]vboxOption
}{
	"createvm": {0, map[string]vboxOption{
		"--name": anyValue(), "--groups": anyValue(), "--ostype": anyValue(), "--register": flagOpt(),
		"--basefolder": anyValue(), "--uuid": anyValue(), "--default": flagOpt(),
	}},
	"registervm": {1, map[string]vboxOption{"--password": anyValue()}},
	"modifyvm": {1, map[string]vboxOption{
		"--name": anyValue(), "--groups": anyValue(), "--description": anyValue(),
		"--ostype": anyValue(), "--os-type": anyValue(),
		"--memory": anyValue(), "--cpus": anyValue(), "--vram": anyValue(),
		"--ioapic": oneOf(onOff...), "--acpi": oneOf(onOff...), "--pae": oneOf(onOff...),
		"--rtcuseutc": oneOf(onOff...), "--rtc-use-utc": oneOf(onOff...),
		"--firmware": oneOf("bios", "efi", "efi32", "efi64"), "--chipset": oneOf("piix3", "ich9"),
		"--graphicscontroller": anyValue(), "--hwvirtex": oneOf(onOff...),
		"--boot":           indexed(oneOf("none", "floppy", "dvd", "disk", "net")),
		"--nic":            indexed(oneOf("none", "null", "nat", "natnetwork", "bridged", "intnet", "hostonly", "hostonlynet", "generic", "cloud")),
		"--nictype":        indexed(oneOf("Am79C970A", "Am79C973", "Am79C960", "82540EM", "82543GC", "82545EM", "virtio")),
		"--nic-type":       indexed(oneOf("Am79C970A", "Am79C973", "Am79C960", "82540EM", "82543GC", "82545EM", "virtio")),
		"--cableconnected": indexed(oneOf(onOff...)), "--cable-connected": indexed(oneOf(onOff...)),
		"--hostonlyadapter": indexed(anyValue()), "--host-only-adapter": indexed(anyValue()),
		"--bridgeadapter": indexed(anyValue()), "--bridge-adapter": indexed(anyValue()),
		"--intnet":      indexed(anyValue()),
		"--nat-network": indexed(anyValue()), "--natnetwork": indexed(anyValue()),
		"--macaddress": indexed(anyValue()), "--mac-address": indexed(anyValue()),
		"--uart":      indexed(anyValue()), // "off" or "IO-base IRQ", see checkUART
		"--uartmode":  indexed(anyValue()), // "disconnected" or "file PATH" etc., see checkUART
		"--uart-mode": indexed(anyValue()),
	}},
	"storagectl": {1, map[string]vboxOption{
		"--name": anyValue(), "--add": oneOf("floppy", "ide", "pcie", "sas", "sata", "scsi", "usb", "virtio"),
		"--controller": oneOf("BusLogic", "I82078", "ICH6", "IntelAhci", "LSILogic", "LSILogicSAS", "NVMe", "PIIX3", "PIIX4", "USB", "VirtIO"),
		"--portcount":  anyValue(), "--hostiocache": oneOf(onOff...), "--bootable": oneOf(onOff...),
		"--rename": anyValue(), "--remove": flagOpt(),
	}},
	"storageattach": {1, map[string]vboxOption{
		"--storagectl": anyValue(), "--port": anyValue(), "--device": anyValue(),
		"--type":    oneOf("dvddrive", "hdd", "fdd"),
		"--medium":  anyValue(), // none, emptydrive, additions, a UUID or a file
		"--mtype":   oneOf("normal", "writethrough", "immutable", "shareable", "readonly", "multiattach"),
		"--comment": anyValue(), "--setuuid": anyValue(), "--setparentuuid": anyValue(),
		"--passthrough": oneOf(onOff...), "--tempeject": oneOf(onOff...), "--nonrotational": oneOf(onOff...),
		"--discard": oneOf(onOff...), "--hotpluggable": oneOf(onOff...), "--bandwidthgroup": anyValue(),
		"--forceunmount": flagOpt(), "--server": anyValue(), "--target": anyValue(), "--tport": anyValue(),
		"--lun": anyValue(), "--encodedlun": anyValue(), "--username": anyValue(), "--password": anyValue(),
		"--passwordfile": anyValue(), "--initiator": anyValue(), "--intnet": flagOpt(),
	}},
	"showvminfo": {1, map[string]vboxOption{
		"--details": flagOpt(), "--machinereadable": flagOpt(), "--log": anyValue(), "--password-id": anyValue(), "--password": anyValue(),
	}},
	"controlvm":   {2, map[string]vboxOption{}}, // VM and action, see checkVBoxLine
	"startvm":     {1, map[string]vboxOption{"--type": oneOf("gui", "headless", "sdl", "separate"), "--putenv": anyValue()}},
	"closemedium": {2, map[string]vboxOption{"--delete": flagOpt()}},
	"convertfromraw": {2, map[string]vboxOption{
		"--format": oneOf("VDI", "VMDK", "VHD"), "--variant": anyValue(), "--uuid": anyValue(),
	}},
}

var (
	vboxMAC   = regexp.MustCompile(`^[0-9A-F]{12}$`)
	indexedRE = regexp.MustCompile(`^(--[a-z-]+?)([1-9][0-9]?)$`)
)

// checkVBoxLine checks one VBoxManage command; it returns the problems.
func checkVBoxLine(words []string) []string {
	var errs []string
	if len(words) < 2 {
		return []string{"no subcommand"}
	}
	sub := words[1]
	syn, ok := vboxSyntax[sub]
	if !ok {
		return []string{"unknown subcommand " + sub}
	}
	args := words[2:]
	for i := 0; i < syn.positionals; i++ {
		if i >= len(args) || strings.HasPrefix(args[i], "--") {
			return []string{sub + ": missing positional argument"}
		}
	}
	if sub == "controlvm" && !slices.Contains([]string{"pause", "resume", "reset", "poweroff", "savestate", "acpipowerbutton", "acpisleepbutton", "reboot", "shutdown"}, args[1]) {
		errs = append(errs, "controlvm: action "+args[1])
	}
	if sub == "closemedium" && !slices.Contains([]string{"disk", "dvd", "floppy"}, args[0]) {
		errs = append(errs, "closemedium: medium type "+args[0])
	}
	args = args[syn.positionals:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, idx := a, ""
		if m := indexedRE.FindStringSubmatch(a); m != nil {
			if o, ok := syn.options[m[1]]; ok && o.indexed {
				name, idx = m[1], m[2]
			}
		}
		o, ok := syn.options[name]
		switch {
		case !ok || !strings.HasPrefix(a, "--"):
			errs = append(errs, sub+": unknown option or stray word "+a)
			continue
		case o.indexed && idx == "":
			errs = append(errs, sub+": "+a+" needs an index")
			continue
		case o.flag:
			continue
		}
		if i+1 >= len(args) {
			errs = append(errs, sub+": "+a+" without a value")
			continue
		}
		i++
		val := args[i]
		if o.values != nil && !slices.Contains(o.values, val) {
			errs = append(errs, sub+": "+a+" "+val+": not one of "+strings.Join(o.values, ", "))
		}
		switch name {
		case "--macaddress", "--mac-address":
			if !vboxMAC.MatchString(val) && val != "auto" {
				errs = append(errs, sub+": "+a+" "+val+": want 12 upper-case hex digits")
			}
		case "--uart":
			// "off", or I/O base and IRQ: two words.
			if val != "off" {
				if i+1 >= len(args) {
					errs = append(errs, sub+": "+a+" needs an I/O base and an IRQ")
				}
				i++
			}
		case "--uartmode", "--uart-mode":
			// disconnected, or a mode and its target: file PATH, server PIPE, ...
			if slices.Contains([]string{"file", "server", "client", "tcpserver", "tcpclient"}, val) {
				i++
			} else if val != "disconnected" && !strings.HasPrefix(val, "/dev/") {
				errs = append(errs, sub+": "+a+" "+val)
			}
		case "--groups":
			if !strings.HasPrefix(val, "/") {
				errs = append(errs, sub+": group "+val+" must start with /")
			}
		}
	}
	return errs
}

func TestVBoxManageLines(t *testing.T) {
	// The checker itself must catch what it is there for.
	for _, bad := range [][]string{
		{"VBoxManage", "modifyvm", "vm", "--nic1", "nat", "--natnet1"},
		{"VBoxManage", "modifyvm", "vm", "--nictype1", "e1000"},
		{"VBoxManage", "modifyvm", "vm", "--macaddress1", "52:54:00:00:01:47"},
		{"VBoxManage", "storageattach", "vm", "--storagectl", "IDE", "--type", "cdrom"},
		{"VBoxManage", "storagectl", "vm", "--name", "SATA", "--add", "ahci"},
		{"VBoxManage", "modifyvm", "vm", "--nic", "hostonly"},
		{"VBoxManage", "attachvm", "vm"},
		{"VBoxManage", "controlvm", "vm", "acpipowerbuttton"},
	} {
		if len(checkVBoxLine(bad)) == 0 {
			t.Errorf("checker accepts %q", bad)
		}
	}

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			n := v.nodes("/srv/seeds")[0]
			s := VirtualBox(n, v.opts)
			cmds := commands(t, s, "VBoxManage")
			if n.Arch == "arm64" {
				// Refused before anything: no VirtualBox command at all.
				if len(cmds) != 0 || !strings.Contains(s, "VirtualBox runs arm64 guests only on Apple silicon Macs") {
					t.Errorf("the arm64 script runs %d VBoxManage commands or does not say why not", len(cmds))
				}
				return
			}
			subs := map[string]bool{}
			for _, c := range cmds {
				subs[c.words[1]] = true
				for _, e := range checkVBoxLine(c.words) {
					t.Errorf("line %d: %s\n  %q", c.line, e, c.words)
				}
			}
			want := []string{"createvm", "modifyvm", "storagectl", "storageattach", "startvm", "showvminfo", "controlvm"}
			if n.SeedFormat == FormatVFAT {
				want = append(want, "convertfromraw", "closemedium")
			}
			for _, sub := range want {
				if !subs[sub] {
					t.Errorf("no VBoxManage %s", sub)
				}
			}
			joined := ""
			for _, c := range cmds {
				joined += strings.Join(c.words, " ") + "\n"
			}
			// The guest-facing choices, whatever else changes.
			for _, must := range []string{"--nictype1 virtio", "--add ide --controller PIIX4", "--ostype Debian_64 --register"} {
				if !strings.Contains(joined, must) {
					t.Errorf("no %q in the VBoxManage lines", must)
				}
			}
			if strings.Contains(joined, "--nic1 nat ") || strings.Contains(joined, "sata") {
				t.Error("NAT (10.0.2.15 for every VM) or SATA in the VBoxManage lines")
			}
			if v.macs && !strings.Contains(joined, "--macaddress1 525400000147") {
				t.Errorf("no --macaddress1 525400000147")
			}
			if !v.macs && strings.Contains(joined, "--macaddress1") {
				t.Errorf("a MAC without one in the spec")
			}
			if v.opts.VBoxNATNetwork != "" && !strings.Contains(joined, "--nic1 natnetwork --nat-network1 "+v.opts.VBoxNATNetwork) {
				t.Errorf("no NAT network %s", v.opts.VBoxNATNetwork)
			}
			medium := "--type dvddrive --medium " + n.Seed
			if n.SeedFormat == FormatVFAT {
				medium = "--type hdd --mtype immutable --medium " + strings.TrimSuffix(n.Seed, ".img") + ".seed.vdi"
			}
			if !strings.Contains(joined, medium) {
				t.Errorf("no %q", medium)
			}
			if !strings.Contains(s, "10.0.2.15") {
				t.Error("the script does not say why not NAT")
			}
		})
	}
}
