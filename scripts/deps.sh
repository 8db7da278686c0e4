#!/usr/bin/env bash
# Installs, from Debian packages, the host tools the tests run for real.
# Does nothing when they are all there; uses sudo when not root.
set -euo pipefail
declare -A pkg=(
	[cloud-init]=cloud-init
	[xorriso]=xorriso
	[isoinfo]=genisoimage
	[genisoimage]=genisoimage
	[7z]=p7zip-full
	[openssl]=openssl
	[blkid]=util-linux
	[systemd-analyze]=systemd
	[shellcheck]=shellcheck
	[fsck.fat]=dosfstools
	[mdir]=mtools
	[virt-install]=virtinst
	[virsh]=libvirt-clients
	[virt-xml-validate]=libvirt-clients
	[xmllint]=libxml2-utils
	[debootstrap]=debootstrap
	[zsh]=zsh
	[fish]=fish
)
missing=()
for tool in "${!pkg[@]}"; do
	command -v "$tool" >/dev/null || missing+=("${pkg[$tool]}")
done
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
