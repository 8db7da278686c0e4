package generator

// After the first boot a node must keep its identity whether its seed stays
// attached, is ejected, or is replaced by a newer seed of the same node (new
// instance-id). cloud-init alone gets one of the last two wrong, depending on
// its configuration:
//
//   - By default (`manual_cache_clean: false`) the local stage restores its
//     cached datasource only if the datasource confirms the instance-id.
//     NoCloud can only do that from seed folders or the kernel command line,
//     never from a cidata disk, so every boot searches again. With the seed
//     ejected, an image whose datasource_list ends in None (`[ NoCloud, None
//     ]`) then takes the None datasource: a new instance with a DHCP fallback
//     network, and the node loses its static IP. (Images configured like
//     Debian's official ones are spared only because ds-identify finds no
//     datasource and keeps cloud-init off for that boot.)
//   - With `manual_cache_clean: true` cloud-init trusts its cache whatever is
//     attached: an ejected seed is harmless, but a newer seed is never read.
//
// So the seed sets `manual_cache_clean: true` (in /etc/cloud/cloud.cfg.d, as
// a file: 25.1's schema refuses the key at the top level of user-data) and
// installs a oneshot that runs before cloud-init's local stage on every boot
// cloud-init runs: when a cidata seed is attached and its meta-data names an
// instance-id other than the one cloud-init last ran (/var/lib/cloud/data/
// instance-id), it removes cloud-init's instance link /var/lib/cloud/instance
// (what cloud-init's own purge_cache(rm_instance_lnk=True) removes when the
// Python version changes). With no cached datasource to trust, cloud-init
// searches, finds the newer seed and runs it as a new instance. Nothing else
// of /var/lib/cloud is touched: per-once semaphores and the old instance's
// folder stay. `ssh_deletekeys: false` keeps the node's SSH host keys when a
// newer seed re-runs the per-instance modules.

// Paths of what the seed installs for its later boots.
const (
	// CloudCfgPath makes cloud-init trust its cached datasource.
	CloudCfgPath = "/etc/cloud/cloud.cfg.d/90-etcdimg.cfg"
	// SeedCheckPath is the script, SeedCheckUnitPath its unit, and
	// SeedCheckDropInPath the drop-in that makes cloud-init's local stage
	// pull it in (no `systemctl enable` needed: files only).
	SeedCheckPath       = "/usr/local/sbin/etcdimg-seed-check"
	SeedCheckUnitPath   = "/etc/systemd/system/etcdimg-seed-check.service"
	SeedCheckDropInPath = "/etc/systemd/system/cloud-init-local.service.d/50-etcdimg-seed-check.conf"
)

const cloudCfg = `# Written by etcdimg: trust the cached datasource, so a boot with the seed
# ejected stays the same instance (with a None fallback it would not).
# ` + SeedCheckPath + ` clears the cache when a newer seed is attached.
manual_cache_clean: true
`

// The script is fixed text: nothing in it comes from the spec.
const seedCheckScript = `#!/bin/sh
# Written by etcdimg. Runs before cloud-init's local stage (` + SeedCheckUnitPath + `).
# cloud-init trusts its cached datasource (manual_cache_clean, ` + CloudCfgPath + `),
# so an ejected seed cannot make a new instance. When a seed (label cidata)
# is attached whose meta-data names another instance-id than the one
# cloud-init last ran, drop the instance link, as cloud-init's own
# purge_cache does: this boot then reads the newer seed as a new instance.
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin
log() { echo "etcdimg-seed-check: $*"; }

cur=$(cat /var/lib/cloud/data/instance-id 2>/dev/null) || { log "cloud-init has not run yet"; exit 0; }
# The CD may still be coming up: wait for udev, bounded.
udevadm settle --timeout=10 2>/dev/null || true
# NoCloud accepts either case of the label (a FAT label reads back upper case).
dev=$(blkid -l -o device -t LABEL=cidata 2>/dev/null || blkid -l -o device -t LABEL=CIDATA 2>/dev/null) || dev=
if [ -z "$dev" ]; then
	log "no seed attached; cloud-init keeps instance $cur"
	exit 0
fi
mnt=$(mktemp -d /run/etcdimg-seed-check.XXXXXX) || exit 0
if ! mount -o ro "$dev" "$mnt" 2>/dev/null; then
	rmdir "$mnt"
	log "cannot mount $dev; cloud-init keeps instance $cur"
	exit 0
fi
new=$(sed -n 's/^instance-id:[[:space:]]*//p' "$mnt/meta-data" 2>/dev/null | head -n 1 | tr -d "\"'\r" | sed 's/[[:space:]]*$//')
umount "$mnt"
rmdir "$mnt"
if [ -z "$new" ]; then
	log "seed $dev has no instance-id; cloud-init keeps instance $cur"
elif [ "$new" = "$cur" ]; then
	log "seed $dev is instance $cur, the current one"
else
	rm -f /var/lib/cloud/instance
	log "seed $dev is instance $new, newer than $cur: cache cleared, cloud-init runs it as a new instance"
fi
exit 0
`

const seedCheckUnit = `# Written by etcdimg: lets cloud-init take a newer seed although it trusts its
# cache (see ` + SeedCheckPath + `). Pulled in by cloud-init-local.service.
[Unit]
Description=etcdimg: clear cloud-init's cache when a newer seed is attached
DefaultDependencies=no
After=systemd-remount-fs.service systemd-udev-trigger.service systemd-journald.socket
Before=cloud-init-main.service cloud-init-local.service
RequiresMountsFor=/var/lib/cloud
ConditionPathExists=/var/lib/cloud/data/instance-id

[Service]
Type=oneshot
ExecStart=` + SeedCheckPath + `
TimeoutStartSec=60
StandardOutput=journal+console
`

const seedCheckDropIn = `# Written by etcdimg: run ` + SeedCheckUnitPath + ` before this stage.
[Unit]
Wants=etcdimg-seed-check.service
After=etcdimg-seed-check.service
`

// seedCheckFiles are the write_files entries of the mechanism above; they
// take effect from the second boot on.
func seedCheckFiles() []writeFile {
	return []writeFile{
		{Path: CloudCfgPath, Owner: "root:root", Permissions: "0644", Content: cloudCfg},
		{Path: SeedCheckPath, Owner: "root:root", Permissions: "0755", Content: seedCheckScript},
		{Path: SeedCheckUnitPath, Owner: "root:root", Permissions: "0644", Content: seedCheckUnit},
		{Path: SeedCheckDropInPath, Owner: "root:root", Permissions: "0644", Content: seedCheckDropIn},
	}
}
