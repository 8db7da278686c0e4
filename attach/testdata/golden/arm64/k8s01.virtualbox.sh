#!/bin/bash
# k8s01.virtualbox.sh: written by etcdimg for etcd member k8s01 of cluster k8s.
#
# This node is arm64 (etcd.arch). VirtualBox runs arm64 guests only on Apple
# silicon Macs (VirtualBox 7.1 and later), on a platform without the IDE
# controller and the x86 serial port etcdimg's VirtualBox scripts use, so this
# script makes no VM and says so. Use k8s01.libvirt.sh (QEMU's aarch64 virt
# machine) instead, or on a Mac create the VM by hand with the node's seed as
# its CD.
set -eu

if [ "$(uname -s)/$(uname -m)" = Darwin/arm64 ]; then
	echo "$0: k8s01 is an arm64 node: VirtualBox on this Mac runs arm64 guests (7.1 and later), but etcdimg's VirtualBox script sets up x86 devices; create the VM by hand with the seed as its CD, or use k8s01.libvirt.sh" >&2
else
	echo "$0: k8s01 is an arm64 node (etcd.arch): VirtualBox runs arm64 guests only on Apple silicon Macs; use k8s01.libvirt.sh (QEMU's aarch64 virt machine) on this host" >&2
fi
exit 1
