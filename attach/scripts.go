package attach

// The scripts keep every value in a quoted variable at the top, so a reader
// sees at once what they act on, and can change it there.

const libvirtTemplate = `{{define "libvirt" -}}
#!/bin/bash
# {{.Node}}.libvirt.sh: written by etcdimg for etcd member {{.Node}}{{if .Cluster}} of cluster {{.Cluster}}{{end}}.
#
#   ./{{.Node}}.libvirt.sh [attach [VIRT-INSTALL-OPTION...]]
#       create the VM and boot it with its cloud-init seed (virt-install --import);
#       options after "attach" go to virt-install as they are, after the script's own,
#       e.g. --virt-type qemu where /dev/kvm exists but does not work (else the guest
#       hangs after "Loading initial ramdisk" with no error anywhere);
#       if the VM exists already, attach the seed for its next boot instead
#   ./{{.Node}}.libvirt.sh eject
#       after the first boot: take the seed out again (again: nothing to do)
#   ./{{.Node}}.libvirt.sh reseed
#       boot the running VM on its rebuilt seed: shut it down (ACPI, at most
#       $RESEED_SHUTDOWN_TIMEOUT seconds, default 300), put the seed in its drive,
#       start it; a newer seed of the node converges it on that boot. One node at
#       a time, each back healthy before the next: etcdimg rollout DIR --via libvirt
#
# The seed holds this node's private keys and cloud-init needs it only on the
# first boot: eject it once etcd runs, then keep the file safe or delete it.
#
# Needs virt-install >= 4 and virsh (Debian: virtinst, libvirt-clients). The
# connection is $LIBVIRT_DEFAULT_URI, else qemu:///system, where QEMU runs as
# libvirt-qemu: it must be able to read the seed and the disk (a folder in a
# home directory usually is not). libvirt chowns the seed to its QEMU user when
# the VM starts and does not give it back: the seed holding this node's keys is
# then readable by libvirt-qemu too; eject it and delete or chown it after the
# first boot.
#
# The system disk must exist: a copy or an overlay of a Debian 12/13 cloud image,
# e.g. qemu-img create -f qcow2 -F qcow2 -b debian-12-genericcloud-{{if .ARM64}}arm64{{else}}amd64{{end}}.qcow2 DISK 8G
{{- if .ARM64}}
#
# This node is arm64 (etcd.arch): the VM is QEMU's aarch64 virt machine booting
# UEFI (Debian's arm64 cloud images have no BIOS boot), which needs the AAVMF
# firmware on the host (Debian: qemu-efi-aarch64) and, on an x86-64 host,
# emulation (qemu-system-arm; slow, add --virt-type qemu if libvirt picks kvm).
{{- end}}
{{- if .IDE}}
#
# The seed is an IDE CD on the pc (i440fx) machine: Debian's cloud kernel has
# no AHCI driver, so q35's SATA CD would be invisible to it.
{{- else if .VFAT}}
#
# The seed is a read-only virtio disk: every Debian kernel has virtio-blk.
{{- else}}
#
# The seed is a CD on a virtio-scsi controller: q35's own CD bus is SATA (AHCI),
# which Debian's cloud kernel has no driver for; virtio-scsi every Debian kernel has.
{{- end}}
#
# Network: network-config gives this node {{if .IP}}the static address {{.IP}}{{else}}a static address{{end}}, so the
# libvirt network must be the spec's subnet, with the spec's gateway as its own
# address (libvirt's "default" network is 192.168.122.0/24 unless changed).
{{- if .HasMAC}}
# The NIC gets the spec's MAC, which network-config matches.
{{- else}}
# The spec gives this node no MAC, so network-config names the NIC instead (the
# spec's interface, eth0 by default): the guest must call it that. Give the node
# a mac in the spec to pin the NIC whatever the guest calls it.
{{- end}}
set -eu

name={{.Name}}
seed={{.Seed}}
disk={{.Disk}}
network={{.Network}}
{{- if .HasMAC}}
mac={{.MAC}}
{{- end}}
memory={{.Memory}}
vcpus={{.VCPUs}}
osinfo={{.OSInfo}}
description={{.Description}}
# options for virt-install from etcdimg attach --virt-install-arg
extra=({{range .VirtInstallArgs}} {{.}}{{end}} )
uri=${LIBVIRT_DEFAULT_URI:-qemu:///system}

# virt-install splits option values at commas and unquotes them like a shell
# (shlex): vq quotes a value for it, so any path survives.
vq() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

create() {
	case $uri in
	qemu:///*)
		if [ ! -e "$disk" ]; then
			echo "$0: no system disk $disk; see the top of this script" >&2
			exit 1
		fi
		;;
	esac
{{- if .DefaultOSInfo}}
	# Debian 12's own osinfo-db (0.20221130) predates Debian 12 and has no
	# debian12, and virt-install refuses a name it does not know. debian11
	# gives the same devices.
	if ! virt-install --osinfo list 2>/dev/null |
		awk -F', ' -v want="$osinfo" '{ for (i = 1; i <= NF; i++) if ($i == want) found = 1 } END { exit !found }'; then
		osinfo={{.Fallback}}
	fi
{{- end}}
	virt-install --connect "$uri" \
		--name "$name" \
		--metadata "description=$(vq "$description")" \
		--osinfo "$osinfo" \
		--memory "$memory" \
		--vcpus "$vcpus" \
{{- if .ARM64}}
		--arch aarch64 \
		--machine virt \
		--boot uefi \
{{- else if .IDE}}
		--machine pc \
{{- else}}
		--machine q35 \
{{- end}}
		--import \
		--disk "path=$(vq "$disk"),{{if .DiskFormat}}driver.type={{.DiskFormat}},{{end}}bus=virtio,target.dev=vda" \
{{- if .VFAT}}
		--disk "path=$(vq "$seed"),device=disk,driver.type=raw,bus=virtio,target.dev=vdb,readonly=on" \
{{- else if .IDE}}
		--disk "path=$(vq "$seed"),device=cdrom,bus=ide,target.dev=hdc,readonly=on" \
{{- else}}
		--controller type=scsi,model=virtio-scsi \
		--disk "path=$(vq "$seed"),device=cdrom,bus=scsi,target.dev=sda,readonly=on" \
{{- end}}
		--network "network=$(vq "$network"),model=virtio{{if .HasMAC}},mac=$mac{{end}}" \
		--graphics none \
		--noautoconsole \
		"${extra[@]}" "$@"
	echo "$name: created and booting; watch it with: virsh --connect $uri console $name"
}

# target_source prints the source of the disk with target $1 in the domain's
# persistent definition ("-" for an empty CD drive), or nothing if there is none.
target_source() {
	virsh --connect "$uri" domblklist "$name" --inactive |
		awk -v t="$1" 'NR > 2 && $1 == t { sub(/^ *[^ ]+ +/, ""); print }'
}

# target_of prints the target holding the seed in the persistent definition,
# or nothing.
target_of() {
	virsh --connect "$uri" domblklist "$name" --inactive |
		awk -v s="$seed" 'NR > 2 && NF >= 2 { t = $1; sub(/^ *[^ ]+ +/, ""); if ($0 == s) { print t; exit } }'
}

# bus_of prints the bus of the disk with target $1 (libvirt writes every
# target as <target dev='…' bus='…'/>), or nothing if there is none.
bus_of() {
	virsh --connect "$uri" dumpxml "$name" --inactive |
		sed -n "s/.*<target dev='$1' bus='\([a-z]*\)'.*/\1/p"
}

attach_existing() {
{{- if .VFAT}}
	case $(target_source vdb) in
	'') ;;
	"$seed") virsh --connect "$uri" detach-disk "$name" vdb --config ;;
	*)
		echo "$0: $name has another disk as vdb; attach the seed by hand" >&2
		exit 1
		;;
	esac
	virsh --connect "$uri" attach-disk "$name" "$seed" vdb --type disk --targetbus virtio --subdriver raw --mode readonly --config
{{- else if .IDE}}
	if [ -n "$(target_source hdc)" ]; then
		virsh --connect "$uri" change-media "$name" hdc "$seed" --update --config
	else
		virsh --connect "$uri" attach-disk "$name" "$seed" hdc --type cdrom --targetbus ide --mode readonly --config
	fi
{{- else}}
	# Without a virtio-scsi controller libvirt would add its x86 default, an
	# LSI controller, which Debian's cloud kernel cannot drive either.
	xml=$(virsh --connect "$uri" dumpxml "$name" --inactive)
	if ! grep -q "<controller type='scsi'[^>]*model='virtio-scsi'" <<<"$xml"; then
		if grep -q "<controller type='scsi'" <<<"$xml"; then
			echo "$0: $name has a SCSI controller that is not virtio-scsi; remove it or attach the seed by hand" >&2
			exit 1
		fi
		ctl=$(mktemp)
		trap 'rm -f "$ctl"' EXIT
		echo "<controller type='scsi' model='virtio-scsi'/>" >"$ctl"
		virsh --connect "$uri" attach-device "$name" "$ctl" --config
	fi
	# q35 domains made by virt-install or virt-manager have a SATA CD at sda,
	# which Debian 12's cloud kernel cannot see: the seed goes to a CD on the
	# virtio-scsi bus, an existing one or a new one at the first free sdX, and a
	# seed a SATA drive holds is taken out of it.
	target=
	free=
	for t in sda sdb sdc sdd sde sdf sdg sdh sdi sdj sdk sdl sdm sdn sdo sdp; do
		bus=$(bus_of "$t")
		src=$(target_source "$t")
		case $bus in
		'') [ -n "$free" ] || free=$t ;;
		scsi) if [ -z "$target" ] && is_cdrom "$t"; then target=$t; fi ;;
		*)
			if [ "$src" = "$seed" ]; then
				echo "$name: $t is a $bus drive, which Debian 12's cloud kernel cannot read: taking the seed out of it" >&2
				virsh --connect "$uri" change-media "$name" "$t" --eject --config
			elif [ "$t" = sda ]; then
				echo "$name: leaving $t ($bus) as it is; the seed goes on the virtio-scsi bus" >&2
			fi
			;;
		esac
	done
	if [ -n "$target" ]; then
		virsh --connect "$uri" change-media "$name" "$target" "$seed" --update --config
	elif [ -n "$free" ]; then
		target=$free
		virsh --connect "$uri" attach-disk "$name" "$seed" "$target" --type cdrom --targetbus scsi --mode readonly --config
	else
		echo "$0: $name has no free sdX target for the seed; attach it by hand on the virtio-scsi bus" >&2
		exit 1
	fi
	# Never report success for a seed the guest cannot read.
	if [ "$(bus_of "$target")" != scsi ] || [ "$(target_source "$target")" != "$seed" ]; then
		echo "$0: $name: the seed did not land on the virtio-scsi CD $target; check virsh dumpxml $name" >&2
		exit 1
	fi
{{- end}}
	echo "$name: seed attached; it is used from the next boot: virsh --connect $uri start $name"
}
{{- if not (or .VFAT .IDE)}}

# is_cdrom: is the disk with target $1 a CD drive?
is_cdrom() {
	virsh --connect "$uri" domblklist "$name" --inactive --details |
		awk -v t="$1" 'NR > 2 && $3 == t && $2 == "cdrom" { found = 1 } END { exit !found }'
}
{{- end}}

eject() {
	# Whichever drive holds the seed; none is success: eject runs twice safely.
	target=$(target_of)
	if [ -z "$target" ]; then
		echo "$name: no seed attached; nothing to do"
		return 0
	fi
	# A running VM loses the seed now too, not only from its next boot.
	if [ "$(virsh --connect "$uri" domstate "$name")" = running ]; then
{{- if .VFAT}}
		virsh --connect "$uri" detach-disk "$name" "$target" --config --live
	else
		virsh --connect "$uri" detach-disk "$name" "$target" --config
{{- else}}
		virsh --connect "$uri" change-media "$name" "$target" --eject --config --live
	else
		virsh --connect "$uri" change-media "$name" "$target" --eject --config
{{- end}}
	fi
	echo "$name: seed ejected; $seed holds its private keys: keep it safe or delete it"
}

# reseed boots the VM on the seed now in $seed (a rebuild replaced the
# file). It powers the VM off and on rather than rebooting it: QEMU keeps
# the seed file it opened at start, which a rebuild replaced by renaming a
# new file over it, so only a new QEMU process reads the rebuilt seed (and a
# VFAT seed's disk cannot be swapped under a running guest at all).
reseed() {
	local timeout=${RESEED_SHUTDOWN_TIMEOUT:-300} waited=0
	if [ ! -r "$seed" ]; then
		echo "$0: no seed $seed to boot from; build it first" >&2
		exit 1
	fi
	if ! virsh --connect "$uri" dominfo "$name" >/dev/null 2>&1; then
		echo "$0: no VM $name to reseed; create it with: $0 attach" >&2
		exit 1
	fi
	if [ "$(virsh --connect "$uri" domstate "$name")" != "shut off" ]; then
		# ACPI shutdown: systemd stops etcd cleanly (SIGTERM: a leader
		# hands its leadership over first), then powers off.
		virsh --connect "$uri" shutdown "$name"
		while [ "$(virsh --connect "$uri" domstate "$name")" != "shut off" ]; do
			if [ "$waited" -ge "$timeout" ]; then
				echo "$0: $name did not shut down within ${timeout}s; it was left running with its old seed (see its console; power it off with virsh destroy $name only if it hangs)" >&2
				exit 1
			fi
			sleep 2
			waited=$((waited + 2))
		done
		echo "$name: shut down after ${waited}s"
	fi
	attach_existing
	virsh --connect "$uri" start "$name"
	echo "$name: started on its rebuilt seed"
}

case ${1:-attach} in
attach)
	shift $(($# > 0))
	if virsh --connect "$uri" dominfo "$name" >/dev/null 2>&1; then
		if [ $# -gt 0 ]; then
			echo "$name: exists already: the virt-install options $* are not used" >&2
		fi
		attach_existing
	else
		create "$@"
	fi
	;;
eject) eject ;;
reseed) reseed ;;
*)
	echo "usage: $0 [attach [VIRT-INSTALL-OPTION...]|eject|reseed]" >&2
	exit 2
	;;
esac
{{end}}`

const virtualboxTemplate = `{{define "virtualbox" -}}
#!/bin/bash
# {{.Node}}.virtualbox.sh: written by etcdimg for etcd member {{.Node}}{{if .Cluster}} of cluster {{.Cluster}}{{end}}.
#
#   ./{{.Node}}.virtualbox.sh [attach]
#       create the VM and start it (headless) with its cloud-init seed; if the VM
#       exists already, attach the seed for its next boot instead (power it off first)
#   ./{{.Node}}.virtualbox.sh eject
#       after the first boot: take the seed out again
#   ./{{.Node}}.virtualbox.sh reseed
#       boot the running VM on its rebuilt seed: ACPI shutdown (at most
#       $RESEED_SHUTDOWN_TIMEOUT seconds, default 300), put the seed in its drive,
#       start it headless; a newer seed of the node converges it on that boot.
#       One node at a time, each back healthy before the next:
#       etcdimg rollout DIR --via virtualbox
#
# The seed holds this node's private keys and cloud-init needs it only on the
# first boot: eject it once etcd runs, then keep the file safe or delete it.
#
# The system disk must exist in a format VirtualBox reads (VDI, VMDK, VHD), e.g.
#   qemu-img convert -O vdi debian-12-genericcloud-amd64.qcow2 DISK
#   VBoxManage modifymedium disk DISK --resize 8192
#
# Debian's cloud kernel has drivers for neither of VirtualBox's defaults, AHCI
# (SATA) and e1000: the disks sit on the IDE (PIIX4) controller and the NIC is
# virtio-net.
{{- if .VFAT}}
# VirtualBox cannot attach a raw disk image, so the vfat seed is converted to
# a VDI beside it (VBoxManage convertfromraw), again on every run.
{{- end}}
#
# Network: VirtualBox's default NAT gives every VM the same address, 10.0.2.15,
# behind a router of its own, so etcd members could never reach each other.
{{- if .NATNetwork}}
# The NIC is on a NAT network instead, shared by the VMs, with a way out but no
# way in from the host. network-config gives this node {{if .IP}}the static address {{.IP}}{{else}}a static address{{end}},
# so the NAT network must be the spec's subnet, and the spec's gateway its .1
# address, e.g. for 192.168.0.0/24:
#   VBoxManage natnetwork add --netname {{.NATNetworkName}} --network 192.168.0.0/24 --enable --dhcp off
{{- else}}
# The NIC is on a host-only network instead, shared by the VMs and the host,
# with no way out. network-config gives this node {{if .IP}}the static address {{.IP}}{{else}}a static address{{end}},
# so the host-only network must be the spec's subnet, e.g. for 192.168.0.0/24
# with the host as gateway 192.168.0.1:
#   VBoxManage hostonlyif ipconfig {{.HostOnlyName}} --ip 192.168.0.1 --netmask 255.255.255.0
# VirtualBox 6.1.28 and later on Linux and macOS allow host-only addresses only
# in 192.168.56.0/21 unless /etc/vbox/networks.conf lists more (else that command
# fails with E_ACCESSDENIED): this script checks the node's address against both
# first and says what to add, e.g. the line "* 192.168.0.0/24".
# For a way out use a NAT network instead: --nic1 natnetwork --nat-network1 NAME.
{{- end}}
{{- if .HasMAC}}
# The NIC gets the spec's MAC, which network-config matches.
{{- else}}
# The spec gives this node no MAC, so network-config names the NIC instead (the
# spec's interface, eth0 by default): the guest must call it that. Give the node
# a mac in the spec to pin the NIC whatever the guest calls it.
{{- end}}
set -eu

name={{.Name}}
seed={{.Seed}}
{{- if .VFAT}}
seedvdi={{.SeedVDI}}
{{- end}}
disk={{.Disk}}
{{- if .NATNetwork}}
natnetwork={{.NATNetwork}}
{{- else}}
hostonly={{.HostOnly}}
{{- end}}
{{- if .HasMAC}}
mac={{.VBoxMAC}}
{{- end}}
memory={{.Memory}}
cpus={{.VCPUs}}
{{- if .Group}}
group={{.Group}}
{{- end}}
description={{.Description}}
console={{.Console}}
{{- if not .NATNetwork}}
ip={{.VBoxIP}}
{{- end}}

attach_seed() {
{{- if .VFAT}}
	if [ -e "$seedvdi" ]; then
		VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --medium none 2>/dev/null || true
		VBoxManage closemedium disk "$seedvdi" --delete 2>/dev/null || rm -f "$seedvdi"
	fi
	VBoxManage convertfromraw "$seed" "$seedvdi" --format VDI
	# VirtualBox has read-only media only for DVDs and floppies: immutable is
	# its read-only disk (guest writes go to a throw-away overlay, never into
	# the seed image).
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type hdd --mtype immutable --medium "$seedvdi"
{{- else}}
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type dvddrive --medium "$seed"
{{- end}}
}

{{- if not .NATNetwork}}
# in_cidr ADDR CIDR: is the IPv4 address in the IPv4 network? (IPv6: no)
in_cidr() {
	local net=${2%/*} bits=${2#*/} a b c d n m mask
	case $1$net in *:*) return 1 ;; esac
	case $bits in '' | *[!0-9]* | ???*) return 1 ;; esac
	[ "$bits" -le 32 ] || return 1
	IFS=. read -r a b c d <<<"$1"
	n=$(((a << 24) + (b << 16) + (c << 8) + d))
	IFS=. read -r a b c d <<<"$net"
	m=$(((a << 24) + (b << 16) + (c << 8) + d))
	mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
	[ $((n & mask)) -eq $((m & mask)) ]
}

# check_hostonly stops before any change when VirtualBox would refuse the
# host-only network this node needs: 6.1.28 and later (Linux, macOS) allow
# only 192.168.56.0/21 unless /etc/vbox/networks.conf ("* CIDR..." lines)
# lists the range. IPv6 ranges are not checked.
check_hostonly() {
	local conf=/etc/vbox/networks.conf star ranges r
	case $ip in '' | *:*) return 0 ;; esac
	case $(uname -s) in Linux | Darwin) ;; *) return 0 ;; esac
	in_cidr "$ip" 192.168.56.0/21 && return 0
	if [ -r "$conf" ]; then
		while read -r star ranges; do
			[ "$star" = '*' ] || continue
			for r in $ranges; do
				in_cidr "$ip" "$r" && return 0
			done
		done <"$conf"
	fi
	echo "$0: $name's address $ip is outside the host-only ranges VirtualBox allows (192.168.56.0/21 and those in /etc/vbox/networks.conf);" >&2
	echo "  as root, add the spec's network.cidr, e.g.: echo '* ${ip%.*}.0/24' >>/etc/vbox/networks.conf" >&2
	exit 1
}
{{- end}}

create() {
	if [ ! -e "$disk" ]; then
		echo "$0: no system disk $disk; see the top of this script" >&2
		exit 1
	fi
{{- if not .NATNetwork}}
	check_hostonly
{{- end}}
	# The VM exists from here on: should a later step fail, a second run
	# would take it for a finished one; remove it first with
	# VBoxManage unregistervm NAME --delete.
	VBoxManage createvm --name "$name"{{if .Group}} --groups "$group"{{end}} --ostype Debian_64 --register
	VBoxManage modifyvm "$name" --description "$description" --memory "$memory" --cpus "$cpus" --ioapic on --rtcuseutc on
	VBoxManage modifyvm "$name" --boot1 disk --boot2 dvd --boot3 none --boot4 none
{{- if .NATNetwork}}
	VBoxManage modifyvm "$name" --nic1 natnetwork --nat-network1 "$natnetwork" --nictype1 virtio{{if .HasMAC}} --macaddress1 "$mac"{{end}}
{{- else}}
	VBoxManage modifyvm "$name" --nic1 hostonly --hostonlyadapter1 "$hostonly" --nictype1 virtio{{if .HasMAC}} --macaddress1 "$mac"{{end}}
{{- end}}
	# Debian's cloud images log to ttyS0: the first boot can be read there.
	VBoxManage modifyvm "$name" --uart1 0x3F8 4 --uartmode1 file "$console"
	VBoxManage storagectl "$name" --name IDE --add ide --controller PIIX4 --bootable on
	VBoxManage storageattach "$name" --storagectl IDE --port 0 --device 0 --type hdd --medium "$disk"
	attach_seed
	VBoxManage startvm "$name" --type headless
	echo "$name: created and booting; its console goes to $console"
}

attach_existing() {
	if ! VBoxManage showvminfo "$name" --machinereadable | grep -qx 'storagecontrollername[0-9]*="IDE"'; then
		VBoxManage storagectl "$name" --name IDE --add ide --controller PIIX4
	fi
	attach_seed
	echo "$name: seed attached; it is used from the next boot: VBoxManage startvm $name --type headless"
}

eject() {
{{- if .VFAT}}
	# Run twice, the second run finds nothing to do.
	if [ ! -e "$seedvdi" ]; then
		echo "$name: no seed attached; nothing to do"
		return 0
	fi
	# An IDE disk cannot be unplugged from a running VM: power it off first.
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --medium none
	VBoxManage closemedium disk "$seedvdi" --delete
	echo "$name: seed detached and $seedvdi deleted; $seed holds its private keys: keep it safe or delete it"
{{- else}}
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type dvddrive --medium emptydrive --forceunmount
	echo "$name: seed ejected; $seed holds its private keys: keep it safe or delete it"
{{- end}}
}

# vmstate prints VirtualBox's state of the VM: running, poweroff, aborted,
# saved, paused...
vmstate() {
	VBoxManage showvminfo "$name" --machinereadable | sed -n 's/^VMState="\(.*\)"$/\1/p'
}

# reseed boots the VM on the seed now in $seed (a rebuild replaced the
# file): the medium can only be swapped safely on a powered-off VM.
reseed() {
	local timeout=${RESEED_SHUTDOWN_TIMEOUT:-300} waited=0 state
	if [ ! -r "$seed" ]; then
		echo "$0: no seed $seed to boot from; build it first" >&2
		exit 1
	fi
	if ! VBoxManage showvminfo "$name" >/dev/null 2>&1; then
		echo "$0: no VM $name to reseed; create it with: $0 attach" >&2
		exit 1
	fi
	state=$(vmstate)
	case $state in
	poweroff | aborted) ;;
	running)
		# ACPI shutdown: systemd stops etcd cleanly (SIGTERM: a leader
		# hands its leadership over first), then powers off.
		VBoxManage controlvm "$name" acpipowerbutton
		# A guest that powers itself off may show as aborted on some hosts.
		while state=$(vmstate) && [ "$state" != poweroff ] && [ "$state" != aborted ]; do
			if [ "$waited" -ge "$timeout" ]; then
				echo "$0: $name did not power off within ${timeout}s (state $state); it was left running with its old seed (see $console; VBoxManage controlvm $name poweroff only if it hangs)" >&2
				exit 1
			fi
			sleep 2
			waited=$((waited + 2))
		done
		echo "$name: powered off after ${waited}s"
		;;
	*)
		echo "$0: $name is $state; start it or power it off first, then reseed again" >&2
		exit 1
		;;
	esac
{{- if not .VFAT}}
	# VirtualBox remembers an ISO by its path; the rebuilt file is new
	# under the same name: take the old one out and forget it first.
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type dvddrive --medium emptydrive
	VBoxManage closemedium dvd "$seed" 2>/dev/null || true
{{- end}}
	attach_existing
	VBoxManage startvm "$name" --type headless
	echo "$name: started on its rebuilt seed; its console goes to $console"
}

case ${1:-attach} in
attach)
	if VBoxManage showvminfo "$name" >/dev/null 2>&1; then
		attach_existing
	else
		create
	fi
	;;
eject) eject ;;
reseed) reseed ;;
*)
	echo "usage: $0 [attach|eject|reseed]" >&2
	exit 2
	;;
esac
{{end}}
{{define "virtualbox-arm64" -}}
#!/bin/bash
# {{.Node}}.virtualbox.sh: written by etcdimg for etcd member {{.Node}}{{if .Cluster}} of cluster {{.Cluster}}{{end}}.
#
# This node is arm64 (etcd.arch). VirtualBox runs arm64 guests only on Apple
# silicon Macs (VirtualBox 7.1 and later), on a platform without the IDE
# controller and the x86 serial port etcdimg's VirtualBox scripts use, so this
# script makes no VM and says so. Use {{.Node}}.libvirt.sh (QEMU's aarch64 virt
# machine) instead, or on a Mac create the VM by hand with the node's seed as
# its CD.
set -eu

if [ "$(uname -s)/$(uname -m)" = Darwin/arm64 ]; then
	echo "$0: {{.Node}} is an arm64 node: VirtualBox on this Mac runs arm64 guests (7.1 and later), but etcdimg's VirtualBox script sets up x86 devices; create the VM by hand with the seed as its CD, or use {{.Node}}.libvirt.sh" >&2
else
	echo "$0: {{.Node}} is an arm64 node (etcd.arch): VirtualBox runs arm64 guests only on Apple silicon Macs; use {{.Node}}.libvirt.sh (QEMU's aarch64 virt machine) on this host" >&2
fi
exit 1
{{end}}`
