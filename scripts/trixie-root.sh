#!/bin/bash
# scripts/trixie-root.sh [CACHE_DIR]
#
# Builds (once) a minimal Debian 13 (trixie) root holding Debian's cloud-init,
# so the tests can check seeds with the cloud-init a Debian 13 node runs, not
# only the host's (Debian 12: 22.4, which cannot check network-config).
# Prints the root's path:  CACHE_DIR/trixie-root-<hash of this script>
#
# The hash covers this script, so a changed recipe builds a new root and never
# reuses a stale one. The root is built in a temp dir beside the final one and
# renamed into place, so a reader sees a complete root or none; a flock on the
# cache's .lock (shared with e2e/base-image.sh, which uses the same .deb cache)
# serialises builders.
#
# Environment:
#   ETCDIMG_TRIXIE_ROOT    cache dir (default /var/cache/etcdimg-e2e), used when CACHE_DIR is not given
#   ETCDIMG_TRIXIE_MIRROR  Debian mirror (default: the host's apt mirror, else http://deb.debian.org/debian)
#
# Needs root and debootstrap (a version that knows trixie: Debian 12's does).
# The tests run it (internal/cloudinit.Available) when ETCDIMG_BUILD_TRIXIE=1.
set -euo pipefail

cache=${1:-${ETCDIMG_TRIXIE_ROOT:-/var/cache/etcdimg-e2e}}
script=$(readlink -f "$0")

# The mirror apt already uses reaches trixie too where nothing else may be
# reachable: take the first Debian (not -security) URI from the host's sources.
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		grep -hoE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' "$f" 2>/dev/null |
			grep -oE 'https?://[^[:space:]]+' | head -n1
	done | head -n1
}
mirror=${ETCDIMG_TRIXIE_MIRROR:-$(host_mirror)}
mirror=${mirror:-http://deb.debian.org/debian}

# cloud-init pulls in, through Depends, everything `cloud-init schema` imports
# (jsonschema, yaml, jinja2, configobj, …). python3-netplan: cloud-init 25.1
# validates a v2 network-config with netplan's own parser when it can import
# it, as on a netplan-based node; internal/cloudinit also runs the check with
# that module hidden, reaching cloud-init's own v2 schema, as on an ifupdown
# node. No netplan binary (netplan.io): with it, cloud-init would skip its own
# schema instead of falling back to it.
packages=(cloud-init python3-netplan)

hash=$(sha256sum "$script" | cut -c1-12)
final="$cache/trixie-root-$hash"

log() { echo "trixie-root: $*" >&2; }

if [ -x "$final/usr/bin/cloud-init" ]; then
	touch "$final" # mark as used (see pruning below)
	echo "$final"
	exit 0
fi

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap missing (apt-get install debootstrap)"; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -x "$final/usr/bin/cloud-init" ]; then # built by another process while we waited
	echo "$final"
	exit 0
fi

start=$(date +%s)
tmp=$(mktemp -d "$cache/.build-trixie-root-$hash.XXXXXX")
root="$tmp/root"
cleanup() {
	# debootstrap mounts proc and sys in the target; never rm -rf through them
	for m in proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

log "debootstrap trixie into $root (mirror $mirror)"
mkdir -p "$cache/debs"
debootstrap --cache-dir="$cache/debs" --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
	trixie "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
	tail -n 50 "$tmp/debootstrap.log" >&2
	[ -f "$root/debootstrap/debootstrap.log" ] && tail -n 50 "$root/debootstrap/debootstrap.log" >&2
	exit 1
}
log "debootstrap done after $(($(date +%s) - start)) s"
for m in proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done

# The root only ever runs `cloud-init schema`: drop what it never reads.
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* "$root/var/log/"*.log \
	"$root/usr/share/doc/"* "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/usr/share/locale/"* \
	"$root/var/cache/debconf/"*-old "$root/debootstrap"

version=$(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 cloud-init --version 2>&1 || true)
printf 'release=trixie\ncloud_init=%s\nhash=%s\nmirror=%s\nbuilt=%s\nseconds=%s\nsize_kib=%s\n' \
	"$version" "$hash" "$mirror" "$(date -u +%FT%TZ)" "$(($(date +%s) - start))" "$(du -sk "$root" | cut -f1)" \
	>"$root/etcdimg-trixie-root.info"
rm -rf --one-file-system "$final"
mv "$root" "$final"
# drop roots of older recipes not used for a week
find "$cache" -mindepth 1 -maxdepth 1 -name 'trixie-root-*' ! -name "trixie-root-$hash" -mtime +7 \
	-exec rm -rf --one-file-system {} + 2>/dev/null || true
log "built $final ($version) in $(($(date +%s) - start)) s, $(du -sh "$final" | cut -f1)"
echo "$final"
