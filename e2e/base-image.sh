#!/bin/bash
# e2e/base-image.sh [--none-fallback] RELEASE [CACHE_DIR]
#
# Builds (once) the Debian base image the etcdimg e2e harness boots, and prints
# the directory holding it:  CACHE_DIR/<release>[-none]-<recipe hash>/{rootfs.img,vmlinuz,initrd.img,info}
# RELEASE is bookworm (Debian 12, cloud-init 22.4) or trixie (Debian 13,
# cloud-init 25.1): the two releases a seed must work on.
#
# By default the image is configured like Debian's official cloud images: no
# datasource_list override (ds-identify decides whether cloud-init runs at all
# and with which datasource), and the network rendered by netplan for
# systemd-networkd, names resolved by systemd-resolved, no ifupdown.
# --none-fallback builds the variant whose cloud-init lists
# `datasource_list: [ NoCloud, None ]`, as many hand-made images do: there a
# boot without the seed falls back to the None datasource (a new instance with
# a DHCP fallback network) unless the seed made cloud-init trust its cache.
#
# The recipe hash covers this script and everything in e2e/base/, so changing
# the recipe builds a new image. The build happens in a temp dir beside the
# final one and is renamed into place (atomic); a flock serialises builders.
#
# Environment:
#   ETCDIMG_E2E_CACHE   cache root (default /var/cache/etcdimg-e2e), used when CACHE_DIR is not given
#   ETCDIMG_E2E_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   ETCDIMG_E2E_IMAGE_SIZE  ext4 image size (default 3G)
#
# Needs root, debootstrap, mkfs.ext4 (e2fsprogs >= 1.43 for -d).
set -euo pipefail

variant=official
if [ "${1:-}" = --none-fallback ]; then
	variant=none-fallback
	shift
fi
release=${1:?usage: base-image.sh [--none-fallback] RELEASE [CACHE_DIR]}
cache=${2:-${ETCDIMG_E2E_CACHE:-/var/cache/etcdimg-e2e}}
mirror=${ETCDIMG_E2E_MIRROR:-http://deb.debian.org/debian}
size=${ETCDIMG_E2E_IMAGE_SIZE:-3G}
here=$(cd "$(dirname "$0")" && pwd)

case "$release" in
bookworm | trixie) ;;
*) echo "base-image: release $release: only bookworm and trixie are known" >&2; exit 2 ;;
esac

# Packages of the image, the same on both releases so a difference between
# them is cloud-init's and the kernel's, not the recipe's. minbase + what a
# Debian cloud image has that matters here. netplan.io + systemd-resolved, no
# ifupdown: as Debian 12 and 13's official cloud images, so cloud-init picks
# its netplan renderer (eni needs ifup) and netplan hands the config to
# systemd-networkd. locales: en_US.UTF-8 is pre-generated (else cloud-init's
# locale module spends ~20 s generating it on first boot).
packages=(
	systemd-sysv udev dbus kmod procps iproute2 iputils-ping netbase
	netplan.io systemd-resolved
	locales cloud-init cloud-guest-utils sudo linux-image-cloud-amd64
	# as on Debian cloud images; without it cloud-init logs WARNINGs (ssh keygen, ssh_pwauth)
	openssh-server
	# debootstrap does not resolve virtual packages: name their providers
	python3-cffi-backend
)

hash=$( { cat "$here/base-image.sh"; find "$here/base" -type f | LC_ALL=C sort | xargs cat; echo "$mirror $size $variant"; } | sha256sum | cut -c1-12)
name=$release
[ "$variant" = official ] || name=$release-none
final="$cache/$name-$hash"

log() { echo "base-image: $*" >&2; }

if [ -f "$final/.complete" ]; then
	touch "$final" # mark as used (see pruning below)
	echo "$final"
	exit 0
fi

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap)"; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$final/.complete" ]; then # built by another process while we waited
	echo "$final"
	exit 0
fi

start=$(date +%s)
tmp=$(mktemp -d "$cache/.build-$name-$hash.XXXXXX")
root="$tmp/root"
cleanup() {
	for m in proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

log "debootstrap $release into $root (mirror $mirror)"
mkdir -p "$cache/debs" # downloaded .debs, reused by the next recipe change
debootstrap --cache-dir="$cache/debs" --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
	"$release" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
	tail -n 50 "$tmp/debootstrap.log" >&2
	[ -f "$root/debootstrap/debootstrap.log" ] && tail -n 50 "$root/debootstrap/debootstrap.log" >&2
	exit 1
}
log "debootstrap done after $(( $(date +%s) - start )) s"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"; }

# debootstrap takes the first of cloud-init's "ifupdown | ... | netplan.io"
# alternatives; netplan.io satisfies it too, so ifupdown goes again (with it
# installed, cloud-init would pick its eni renderer).
if in_root dpkg-query -W -f='${Status}' ifupdown 2>/dev/null | grep -q 'ok installed'; then
	in_root dpkg --purge ifupdown >/dev/null
fi

# locale pre-generated
echo 'en_US.UTF-8 UTF-8' >"$root/etc/locale.gen"
in_root locale-gen >/dev/null
echo 'LANG=en_US.UTF-8' >"$root/etc/default/locale"

# identity: every VM gets its own machine-id and hostname
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo localhost >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
in_root usermod -L root
in_root passwd -l root >/dev/null 2>&1 || true

printf '/dev/vda\t/\text4\terrors=remount-ro\t0\t1\n' >"$root/etc/fstab"

# network as on Debian's cloud images: cloud-init writes
# /etc/netplan/50-cloud-init.yaml, netplan's generator turns it into
# systemd-networkd units; systemd-resolved owns /etc/resolv.conf.
in_root systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

# TCG is slow: one host key type is enough for a test VM (the only cloud-init
# setting that differs from Debian's images in the official variant)
cat >"$root/etc/cloud/cloud.cfg.d/05-etcdimg-e2e-ssh.cfg" <<'CFG'
ssh_genkeytypes: [ ed25519 ]
CFG
if [ "$variant" = none-fallback ]; then
	cat >"$root/etc/cloud/cloud.cfg.d/05-etcdimg-e2e-datasource.cfg" <<'CFG'
# etcdimg e2e base image, none-fallback variant: NoCloud, else None
datasource_list: [ NoCloud, None ]
CFG
fi
rm -f "$root"/etc/ssh/ssh_host_*

# no background apt/man-db work competing with first boot
for t in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer; do
	ln -sf /dev/null "$root/etc/systemd/system/$t"
done

# test scaffolding: report service
install -m 0755 "$here/base/etcdimg-e2e-report" "$root/usr/local/sbin/etcdimg-e2e-report"
install -m 0644 "$here/base/etcdimg-e2e-report.service" "$root/etc/systemd/system/etcdimg-e2e-report.service"
in_root systemctl enable etcdimg-e2e-report.service >/dev/null 2>&1

# kernel + initrd for direct kernel boot
kver=$(ls "$root/lib/modules" | sort -V | tail -n1)
# How the harness attaches a seed ISO: bookworm's cloud kernel has only the
# PIIX IDE driver (machine pc), trixie's also AHCI; prefer IDE on both so the
# machine is the same, and fall back to AHCI (machine q35) if IDE goes away.
kconf="$root/boot/config-$kver"
if grep -qE '^CONFIG_ATA_PIIX=[ym]' "$kconf"; then
	cdrom=ide
elif grep -qE '^CONFIG_SATA_AHCI=[ym]' "$kconf"; then
	cdrom=ahci
else
	log "kernel $kver has neither ATA_PIIX nor SATA_AHCI: no way to read a seed CD"
	exit 1
fi
cloudinit=$(in_root dpkg-query -W -f='${Version}' cloud-init)
netplan=$(in_root dpkg-query -W -f='${Version}' netplan.io)
if in_root dpkg-query -W -f='${Status}' ifupdown 2>/dev/null | grep -q 'ok installed'; then
	log "ifupdown got into the image: cloud-init would render eni, not netplan"
	exit 1
fi
[ -f "$root/boot/initrd.img-$kver" ] || in_root update-initramfs -c -k "$kver"
mkdir -p "$tmp/out"
cp "$root/boot/vmlinuz-$kver" "$tmp/out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$tmp/out/initrd.img"

# shrink
in_root apt-get clean
rm -rf "$root/var/log/journal/"* "$root/var/lib/apt/lists/"* "$root/var/log/"*.log "$root/var/cache/debconf/"*-old "$root/debootstrap"
for m in proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done

log "mkfs.ext4 -d ($size)"
mkfs.ext4 -q -L rootfs -d "$root" "$tmp/out/rootfs.img" "$size"
printf 'release=%s\nvariant=%s\nkernel=%s\ncdrom=%s\ncloud_init=%s\nnetplan=%s\nhash=%s\nmirror=%s\nbuilt=%s\nseconds=%s\n' \
	"$release" "$variant" "$kver" "$cdrom" "$cloudinit" "$netplan" "$hash" "$mirror" "$(date -u +%FT%TZ)" "$(( $(date +%s) - start ))" >"$tmp/out/info"
touch "$tmp/out/.complete"
rm -rf "$final"
mv "$tmp/out" "$final"
# drop images of older recipes not used for a week. The name is matched to the
# hash's 12 characters: scripts/trixie-root.sh keeps trixie-root-<hash> roots
# in the same cache, and "$release-*" would take those too.
find "$cache" -mindepth 1 -maxdepth 1 -name "$name-????????????" ! -name "$name-$hash" -mtime +7 -exec rm -rf {} + 2>/dev/null || true
log "built $final in $(( $(date +%s) - start )) s"
echo "$final"
