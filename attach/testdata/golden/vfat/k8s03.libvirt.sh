#!/bin/bash
# k8s03.libvirt.sh: written by etcdimg for etcd member k8s03 of cluster k8s.
#
#   ./k8s03.libvirt.sh [attach [VIRT-INSTALL-OPTION...]]
#       create the VM and boot it with its cloud-init seed (virt-install --import);
#       options after "attach" go to virt-install as they are, after the script's own,
#       e.g. --virt-type qemu where /dev/kvm exists but does not work (else the guest
#       hangs after "Loading initial ramdisk" with no error anywhere);
#       if the VM exists already, attach the seed for its next boot instead
#   ./k8s03.libvirt.sh eject
#       after the first boot: take the seed out again (again: nothing to do)
#   ./k8s03.libvirt.sh reseed
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
# e.g. qemu-img create -f qcow2 -F qcow2 -b debian-12-genericcloud-amd64.qcow2 DISK 8G
#
# The seed is a read-only virtio disk: every Debian kernel has virtio-blk.
#
# Network: network-config gives this node the static address 192.168.0.149, so the
# libvirt network must be the spec's subnet, with the spec's gateway as its own
# address (libvirt's "default" network is 192.168.122.0/24 unless changed).
# The NIC gets the spec's MAC, which network-config matches.
set -eu

name='k8s03'
seed='/srv/etcdimg/out/seed-cluster/k8s03.img'
disk='/var/lib/libvirt/images/k8s03.qcow2'
network='default'
mac='52:54:00:00:01:49'
memory='1024'
vcpus='2'
osinfo='debian12'
description='etcd member k8s03 of cluster k8s (etcdimg)'
# options for virt-install from etcdimg attach --virt-install-arg
extra=( )
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
	# Debian 12's own osinfo-db (0.20221130) predates Debian 12 and has no
	# debian12, and virt-install refuses a name it does not know. debian11
	# gives the same devices.
	if ! virt-install --osinfo list 2>/dev/null |
		awk -F', ' -v want="$osinfo" '{ for (i = 1; i <= NF; i++) if ($i == want) found = 1 } END { exit !found }'; then
		osinfo='debian11'
	fi
	virt-install --connect "$uri" \
		--name "$name" \
		--metadata "description=$(vq "$description")" \
		--osinfo "$osinfo" \
		--memory "$memory" \
		--vcpus "$vcpus" \
		--machine q35 \
		--import \
		--disk "path=$(vq "$disk"),driver.type=qcow2,bus=virtio,target.dev=vda" \
		--disk "path=$(vq "$seed"),device=disk,driver.type=raw,bus=virtio,target.dev=vdb,readonly=on" \
		--network "network=$(vq "$network"),model=virtio,mac=$mac" \
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
	case $(target_source vdb) in
	'') ;;
	"$seed") virsh --connect "$uri" detach-disk "$name" vdb --config ;;
	*)
		echo "$0: $name has another disk as vdb; attach the seed by hand" >&2
		exit 1
		;;
	esac
	virsh --connect "$uri" attach-disk "$name" "$seed" vdb --type disk --targetbus virtio --subdriver raw --mode readonly --config
	echo "$name: seed attached; it is used from the next boot: virsh --connect $uri start $name"
}

eject() {
	# Whichever drive holds the seed; none is success: eject runs twice safely.
	target=$(target_of)
	if [ -z "$target" ]; then
		echo "$name: no seed attached; nothing to do"
		return 0
	fi
	# A running VM loses the seed now too, not only from its next boot.
	if [ "$(virsh --connect "$uri" domstate "$name")" = running ]; then
		virsh --connect "$uri" detach-disk "$name" "$target" --config --live
	else
		virsh --connect "$uri" detach-disk "$name" "$target" --config
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
