#!/bin/bash
# k8s01.libvirt.sh: written by etcdimg for etcd member k8s01 of cluster k8s.
#
#   ./k8s01.libvirt.sh [attach]
#       create the VM and boot it with its cloud-init seed (virt-install --import);
#       if the VM exists already, attach the seed for its next boot instead
#   ./k8s01.libvirt.sh eject
#       after the first boot: take the seed out again
#
# The seed holds this node's private keys and cloud-init needs it only on the
# first boot: eject it once etcd runs, then keep the file safe or delete it.
#
# Needs virt-install >= 4 and virsh (Debian: virtinst, libvirt-clients). The
# connection is $LIBVIRT_DEFAULT_URI, else qemu:///system, where QEMU runs as
# libvirt-qemu: it must be able to read the seed and the disk (a folder in a
# home directory usually is not).
#
# The system disk must exist: a copy or an overlay of a Debian 12/13 cloud image,
# e.g. qemu-img create -f qcow2 -F qcow2 -b debian-12-genericcloud-amd64.qcow2 DISK 8G
#
# The seed is a CD on a virtio-scsi controller: q35's own CD bus is SATA (AHCI),
# which Debian's cloud kernel has no driver for; virtio-scsi every Debian kernel has.
#
# Network: network-config gives this node the static address 192.168.0.147, so the
# libvirt network must be the spec's subnet, with the spec's gateway as its own
# address (libvirt's "default" network is 192.168.122.0/24 unless changed).
# The spec gives this node no MAC, so network-config names the NIC instead (the
# spec's interface, eth0 by default): the guest must call it that. Give the node
# a mac in the spec to pin the NIC whatever the guest calls it.
set -eu

name='k8s01'
seed='/srv/etcdimg/out/seed-cluster/k8s01.iso'
disk='/var/lib/libvirt/images/k8s01.qcow2'
network='default'
memory='1024'
vcpus='2'
osinfo='debian12'
description='etcd member k8s01 of cluster k8s (etcdimg)'
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
		--controller type=scsi,model=virtio-scsi \
		--disk "path=$(vq "$seed"),device=cdrom,bus=scsi,target.dev=sda,readonly=on" \
		--network "network=$(vq "$network"),model=virtio" \
		--graphics none \
		--noautoconsole
	echo "$name: created and booting; watch it with: virsh --connect $uri console $name"
}

# target_source prints the source of the disk with target $1 in the domain's
# persistent definition ("-" for an empty CD drive), or nothing if there is none.
target_source() {
	virsh --connect "$uri" domblklist "$name" --inactive |
		awk -v t="$1" 'NR > 2 && $1 == t { sub(/^ *[^ ]+ +/, ""); print }'
}

attach_existing() {
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
	if [ -n "$(target_source sda)" ]; then
		virsh --connect "$uri" change-media "$name" sda "$seed" --update --config
	else
		virsh --connect "$uri" attach-disk "$name" "$seed" sda --type cdrom --targetbus scsi --mode readonly --config
	fi
	echo "$name: seed attached; it is used from the next boot: virsh --connect $uri start $name"
}

eject() {
	# A running VM loses the seed now too, not only from its next boot.
	if [ "$(virsh --connect "$uri" domstate "$name")" = running ]; then
		virsh --connect "$uri" change-media "$name" sda --eject --config --live
	else
		virsh --connect "$uri" change-media "$name" sda --eject --config
	fi
	echo "$name: seed ejected; $seed holds its private keys: keep it safe or delete it"
}

case ${1:-attach} in
attach)
	if virsh --connect "$uri" dominfo "$name" >/dev/null 2>&1; then
		attach_existing
	else
		create
	fi
	;;
eject) eject ;;
*)
	echo "usage: $0 [attach|eject]" >&2
	exit 2
	;;
esac
