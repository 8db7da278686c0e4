#!/bin/bash
# k8s02.virtualbox.sh: written by etcdimg for etcd member k8s02 of cluster k8s.
#
#   ./k8s02.virtualbox.sh [attach]
#       create the VM and start it (headless) with its cloud-init seed; if the VM
#       exists already, attach the seed for its next boot instead (power it off first)
#   ./k8s02.virtualbox.sh eject
#       after the first boot: take the seed out again
#   ./k8s02.virtualbox.sh reseed
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
#
# Network: VirtualBox's default NAT gives every VM the same address, 10.0.2.15,
# behind a router of its own, so etcd members could never reach each other.
# The NIC is on a host-only network instead, shared by the VMs and the host,
# with no way out. network-config gives this node the static address 192.168.0.148,
# so the host-only network must be the spec's subnet, e.g. for 192.168.0.0/24
# with the host as gateway 192.168.0.1:
#   VBoxManage hostonlyif ipconfig vboxnet0 --ip 192.168.0.1 --netmask 255.255.255.0
# VirtualBox 6.1.28 and later on Linux and macOS allow host-only addresses only
# in 192.168.56.0/21 unless /etc/vbox/networks.conf lists more (else that command
# fails with E_ACCESSDENIED): this script checks the node's address against both
# first and says what to add, e.g. the line "* 192.168.0.0/24".
# For a way out use a NAT network instead: --nic1 natnetwork --nat-network1 NAME.
# The NIC gets the spec's MAC, which network-config matches.
set -eu

name='k8s02'
seed='/srv/etcdimg/out/seed-cluster/k8s02.iso'
disk='/srv/etcdimg/out/seed-cluster/k8s02.vdi'
hostonly='vboxnet0'
mac='525400000148'
memory='1024'
cpus='2'
group='/k8s'
description='etcd member k8s02 of cluster k8s (etcdimg)'
console='/srv/etcdimg/out/seed-cluster/k8s02.console.log'
ip='192.168.0.148'

attach_seed() {
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type dvddrive --medium "$seed"
}
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

create() {
	if [ ! -e "$disk" ]; then
		echo "$0: no system disk $disk; see the top of this script" >&2
		exit 1
	fi
	check_hostonly
	# The VM exists from here on: should a later step fail, a second run
	# would take it for a finished one; remove it first with
	# VBoxManage unregistervm NAME --delete.
	VBoxManage createvm --name "$name" --groups "$group" --ostype Debian_64 --register
	VBoxManage modifyvm "$name" --description "$description" --memory "$memory" --cpus "$cpus" --ioapic on --rtcuseutc on
	VBoxManage modifyvm "$name" --boot1 disk --boot2 dvd --boot3 none --boot4 none
	VBoxManage modifyvm "$name" --nic1 hostonly --hostonlyadapter1 "$hostonly" --nictype1 virtio --macaddress1 "$mac"
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
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type dvddrive --medium emptydrive --forceunmount
	echo "$name: seed ejected; $seed holds its private keys: keep it safe or delete it"
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
	# VirtualBox remembers an ISO by its path; the rebuilt file is new
	# under the same name: take the old one out and forget it first.
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type dvddrive --medium emptydrive
	VBoxManage closemedium dvd "$seed" 2>/dev/null || true
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
