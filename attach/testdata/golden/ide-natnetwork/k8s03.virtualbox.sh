#!/bin/bash
# k8s03.virtualbox.sh: written by etcdimg for etcd member k8s03 of cluster k8s.
#
#   ./k8s03.virtualbox.sh [attach]
#       create the VM and start it (headless) with its cloud-init seed; if the VM
#       exists already, attach the seed for its next boot instead (power it off first)
#   ./k8s03.virtualbox.sh eject
#       after the first boot: take the seed out again
#   ./k8s03.virtualbox.sh reseed
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
# The NIC is on a NAT network instead, shared by the VMs, with a way out but no
# way in from the host. network-config gives this node the static address 192.168.0.149,
# so the NAT network must be the spec's subnet, and the spec's gateway its .1
# address, e.g. for 192.168.0.0/24:
#   VBoxManage natnetwork add --netname etcd --network 192.168.0.0/24 --enable --dhcp off
# The NIC gets the spec's MAC, which network-config matches.
set -eu

name='k8s03'
seed='/srv/etcdimg/out/seed-cluster/k8s03.iso'
disk='/srv/etcdimg/out/seed-cluster/k8s03.vdi'
natnetwork='etcd'
mac='525400000149'
memory='2048'
cpus='1'
group='/k8s'
description='etcd member k8s03 of cluster k8s (etcdimg)'
console='/srv/etcdimg/out/seed-cluster/k8s03.console.log'

attach_seed() {
	VBoxManage storageattach "$name" --storagectl IDE --port 1 --device 0 --type dvddrive --medium "$seed"
}

create() {
	if [ ! -e "$disk" ]; then
		echo "$0: no system disk $disk; see the top of this script" >&2
		exit 1
	fi
	# The VM exists from here on: should a later step fail, a second run
	# would take it for a finished one; remove it first with
	# VBoxManage unregistervm NAME --delete.
	VBoxManage createvm --name "$name" --groups "$group" --ostype Debian_64 --register
	VBoxManage modifyvm "$name" --description "$description" --memory "$memory" --cpus "$cpus" --ioapic on --rtcuseutc on
	VBoxManage modifyvm "$name" --boot1 disk --boot2 dvd --boot3 none --boot4 none
	VBoxManage modifyvm "$name" --nic1 natnetwork --nat-network1 "$natnetwork" --nictype1 virtio --macaddress1 "$mac"
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
