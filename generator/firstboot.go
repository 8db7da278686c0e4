package generator

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/pki"
	"github.com/etcdimg/etcdimg/release"
)

// FirstBootPath is where user-data puts the install script on the VM.
const FirstBootPath = "/usr/local/sbin/etcdimg-firstboot"

// The script runs once per instance from runcmd: on the node's first boot,
// and again whenever the node boots with a rebuilt seed whose instance-id is
// new (the instance-id changes exactly when what the node applies changes).
// cloud-init has unmounted the seed by then, so it mounts it again
// (read-only) to reach the tarball and the certificates.
//
// On an already-provisioned node (its data dir holds a member) the script
// converges instead of bootstrapping: it checks the data dir is this
// member's (the identity recorded at the first boot), refuses a downgrade or
// a skipped minor before touching anything, installs binaries only when the
// release changed, replaces each changed file with a rename (never a partial
// file under etcd), and restarts etcd once, only if something it reads
// changed. etcd is started without waiting: it only reports ready at quorum,
// and a blocking start inside cloud-final can deadlock first boot. Every step
// logs "etcdimg: <step> <seconds>" so boot cost can be read from the journal.
var firstBootTemplate = template.Must(template.New("firstboot").Funcs(template.FuncMap{
	"sq": shellQuote,
}).Parse(`#!/bin/sh
# Written by etcdimg: installs etcd {{.Release.Version}} from the seed ISO (label cidata)
# and starts member {{.Node.Name}}, or brings the running member to this seed.
# Runs once per instance, from cloud-init's runcmd.
set -eu
umask 022

TARBALL={{sq .Release.Name}}
TOPDIR={{sq .Release.Dir}}
SHA256={{sq .Release.SHA256}}
VERSION={{sq .Release.Version}}
DATA_DIR={{sq .Cluster.Etcd.DataDir}}
ETCD_USER={{sq .Cluster.Etcd.User.Name}}
ETCD_GROUP={{sq .Cluster.Etcd.User.Group}}
{{- if .Cluster.TLS.Enabled}}
PKI_DIR={{sq .Cluster.TLS.Dir}}
{{- end}}
# What this node applied last; IDENT names the member its data dir holds.
STATE={{sq .StatePath}}
IDENT={{sq .Ident}}

start=$(date +%s.%N)
step() {
	now=$(date +%s.%N)
	msg="etcdimg: $1 $(echo "$now - $start" | awk '{printf "%.3f", $1 - $3}')s"
	echo "$msg"
	logger -t etcdimg -- "$msg" 2>/dev/null || true
	start=$now
}
fail() {
	echo "etcdimg: FAILED: $*" >&2
	logger -t etcdimg -p user.err -- "FAILED: $*" 2>/dev/null || true
	exit 1
}
applied() { sed -n "s/^$1=//p" "$STATE" 2>/dev/null | head -n 1; }
# put SRC DEST MODE OWNER GROUP: DEST gets SRC's content, mode and owner by
# a rename, so etcd never reads a partial file; it says (exit 0) whether
# DEST changed.
put() {
	if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c '%a %U %G' "$2")" = "${3#0} $4 $5" ]; then
		return 1
	fi
	install -m "$3" -o "$4" -g "$5" "$1" "$2.etcdimg-new" || fail "cannot write $2"
	mv -f "$2.etcdimg-new" "$2" || fail "cannot replace $2"
	return 0
}

{{- with .Container}}

ENGINE={{sq .EnginePath}}
[ -x "$ENGINE" ] || fail "runtime container needs $ENGINE on the node; etcdimg does not install {{.Engine}}: put it in the base image"
{{- end}}

# A data dir holding a member means this node was provisioned before: this
# seed converges it. The member must be the one this seed describes: a disk
# of another cluster (or node) is never run under this node's identity.
converge=
if [ -d "$DATA_DIR/member" ]; then
	have=$(applied ident)
	if [ -z "$have" ] && [ -d {{sq .LegacyInstanceDir}} ]; then
		# Provisioned by an etcdimg that kept no record: cloud-init's folder
		# of this node's old fixed instance-id vouches for the member.
		echo "etcdimg: $DATA_DIR was set up by an earlier etcdimg for {{.Node.Name}}: adopting it"
		have=$IDENT
	fi
	[ -n "$have" ] || fail "$DATA_DIR holds a member etcdimg did not set up on this node (no $STATE); it is not started as {{.Node.Name}}: boot this node on an empty data dir, or move the old one away"
	[ "$have" = "$IDENT" ] || fail "$DATA_DIR holds member \"$have\", not \"$IDENT\"; it is not started as {{.Node.Name}}: boot this node on an empty data dir, or move the old one away"
	converge=1
	old=$(applied version)
	if [ -z "$old" ] && [ -x /usr/local/bin/etcd ]; then
		old=$(/usr/local/bin/etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p') || old=
	fi
	if [ -n "$old" ] && [ "$old" != "$VERSION" ]; then
		# etcd upgrades one minor at a time and never downgrades: checked
		# before anything on the node changes.
		verdict=$(awk -v a="$old" -v b="$VERSION" 'BEGIN {
			split(a, x, /[.-]/); split(b, y, /[.-]/)
			if (x[1] != y[1]) print "major"
			else if (y[2] + 0 < x[2] + 0 || (y[2] == x[2] && y[3] + 0 < x[3] + 0)) print "downgrade"
			else if (y[2] + 0 > x[2] + 1) print "skip"
			else print "ok" }')
		case $verdict in
		ok) ;;
		downgrade) fail "this seed carries etcd $VERSION, older than the $old the node runs: etcd does not downgrade; rebuild with etcd.version $old or later" ;;
		skip) fail "this seed carries etcd $VERSION but the node runs $old: etcd upgrades one minor at a time; roll out the next minor first" ;;
		*) fail "this seed carries etcd $VERSION but the node runs $old: etcdimg does not change etcd's major version" ;;
		esac
	fi
	echo "etcdimg: converging member {{.Node.Name}} (etcd ${old:-unknown} to $VERSION)"
	step converge
fi

# The mount point lives in /run, but nothing is unpacked there: /run is a
# small tmpfs, and filling it stops systemd from reloading units. The
# binaries unpack beside their destination, so installing them is a rename.
seed=$(mktemp -d /run/etcdimg-seed.XXXXXX)
stage=
cleanup() {
	umount "$seed" 2>/dev/null || true
	rmdir "$seed" 2>/dev/null || true
	[ -z "$stage" ] || rm -rf "$stage"
}
trap cleanup EXIT

dev=/dev/disk/by-label/cidata
udevadm settle --timeout=30 2>/dev/null || true
[ -e "$dev" ] || fail "no seed device $dev; is the seed ISO still attached?"
mount -o ro "$dev" "$seed" || fail "cannot mount $dev"
step mount

changed=
binaries=
for b in {{.Binaries}}; do
	[ -x "/usr/local/bin/$b" ] || binaries=1
done
if [ "$(applied release)" != "$SHA256" ] || [ -n "$binaries" ]; then
	echo "$SHA256  $seed/{{.SeedDir}}/$TARBALL" | sha256sum -c --status - ||
		fail "$TARBALL on the seed does not match sha256 $SHA256; rebuild the seed"
	step checksum

	stage=$(mktemp -d /usr/local/bin/.etcdimg.XXXXXX)
	tar -xzf "$seed/{{.SeedDir}}/$TARBALL" -C "$stage" --strip-components=1 --no-same-owner --no-same-permissions \
		"$TOPDIR/etcd" "$TOPDIR/etcdctl" "$TOPDIR/etcdutl"
	step extract
{{- if and .Container .Container.LocalImage}}
{{- with .Container}}

	# No registry on first boot: the image is the release's static etcd
	# binary alone, imported under a local name the unit runs.
	rootfs=$(mktemp -d /var/tmp/etcdimg-rootfs.XXXXXX)
	mkdir -p "$rootfs/usr/local/bin"
	mv "$stage/etcd" "$rootfs/usr/local/bin/etcd"
	chmod 0755 "$rootfs/usr/local/bin/etcd"
{{- if eq .Engine "docker"}}
	systemctl start docker.service
{{- end}}
	tar -C "$rootfs" -c . | "$ENGINE" import - {{sq .Image}} >/dev/null ||
		fail "cannot import the etcd image into {{.Engine}}"
	rm -rf "$rootfs"
	step image
{{- end}}
{{- end}}

	# A running etcd keeps the binary it started from: the rename is safe.
	for b in {{.Binaries}}; do
		chown root:root "$stage/$b"
		chmod 0755 "$stage/$b"
		mv -f "$stage/$b" "/usr/local/bin/$b"
	done
	changed="$changed binaries"
fi
install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" "$DATA_DIR"
# An existing data dir (a reused disk) may be looser; etcd wants 0700.
chmod 0700 "$DATA_DIR"
chown "$ETCD_USER:$ETCD_GROUP" "$DATA_DIR"
{{- if .Cluster.TLS.Enabled}}
install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" "$PKI_DIR"
{{- range .PKIFiles}}
put "$seed/{{$.SeedDir}}/pki/{{.Name}}" "$PKI_DIR/{{.Name}}" {{.Mode}} {{.Owner}} {{.Group}} && changed="$changed {{.Name}}"
{{- end}}
{{- end}}
{{- if .BackupDir}}
install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" {{sq .BackupDir}}
chmod 0700 {{sq .BackupDir}}
chown "$ETCD_USER:$ETCD_GROUP" {{sq .BackupDir}}
{{- end}}
{{- if .Unit}}
put {{sq .StagedUnit}} {{sq .Unit}} 0644 root root && changed="$changed unit"
{{- end}}
step install
{{- if .Restore}}

# Before etcd's first start: the member comes up from the snapshot, in a new
# cluster. The script leaves an existing member alone and refuses a data dir
# holding anything else.
if [ -z "$converge" ]; then
	{{.RestoreScript}} "$seed/{{.RestoreSeed}}" || fail "restore of the snapshot failed; etcd was not started"
	step restore
fi
{{- end}}

umount "$seed"
{{- with .StaticPod}}
# kubelet may already watch the folder: it must never see a partial file,
# and it ignores dot-files, so the manifest is staged and renamed in. A
# changed manifest is kubelet's cue to restart the pod.
# Its etcdimg.io/applied annotation changes with the release and the
# certificates, so a seed that brings either restarts the pod.
manifest={{sq .ManifestPath}}
install -d -m 0755 "$(dirname "$manifest")"
if ! cmp -s {{sq $.StagedManifest}} "$manifest"; then
	install -m 0644 {{sq $.StagedManifest}} "$(dirname "$manifest")/.etcdimg-manifest.tmp"
	mv -f "$(dirname "$manifest")/.etcdimg-manifest.tmp" "$manifest"
	changed="$changed manifest"
fi
if systemctl cat kubelet.service >/dev/null 2>&1; then
{{- if $.Cluster.Kubeadm}}
	# The drop-in (written before this script) replaces kubelet's command;
	# a kubelet the image already started runs the old one until restarted,
	# and systemd has the old unit loaded: the one reload of this boot.
	systemctl daemon-reload
	systemctl enable --no-reload kubelet.service{{range $.Timers}} {{.}}{{end}}
	systemctl restart --no-block kubelet.service
{{- else}}
	systemctl enable --no-reload kubelet.service{{range $.Timers}} {{.}}{{end}}
	systemctl start --no-block kubelet.service
{{- end}}
{{- if $.Timers}}
	systemctl start --no-block{{range $.Timers}} {{.}}{{end}}
{{- end}}
else
	echo "etcdimg: kubelet is not installed; etcd starts when kubelet runs with staticPodPath $(dirname "$manifest")" >&2
{{- if $.Timers}}
	systemctl enable --no-reload{{range $.Timers}} {{.}}{{end}}
	systemctl start --no-block{{range $.Timers}} {{.}}{{end}}
{{- end}}
fi
[ -z "$converge" ] || echo "etcdimg: changed:${changed:- nothing}"
step manifest
{{- else}}
# No systemd reload on a first boot: systemd loads a unit it has never
# loaded from disk when it is started (a reload costs seconds under
# emulation), and enable only has to link it for later boots.
if [ -n "$converge" ]; then
	# Units this script or write_files rewrote are reloaded, once, only when
	# systemd holds an older copy.
	if systemctl show -p NeedDaemonReload --value etcd.service{{range .Timers}} {{.}}{{end}}{{range .TimerServices}} {{.}}{{end}} 2>/dev/null | grep -qx yes; then
		systemctl daemon-reload
	fi
	systemctl enable --no-reload etcd.service{{range .Timers}} {{.}}{{end}}
	if [ -n "$changed" ] && systemctl is-active --quiet etcd.service; then
		# Once, and only because something etcd reads changed.
		echo "etcdimg: changed:$changed"
		systemctl restart --no-block etcd.service
		step restart
	else
		echo "etcdimg: changed:${changed:- nothing}"
		systemctl start --no-block etcd.service
		step start
	fi
{{- if .Timers}}
	systemctl start --no-block{{range .Timers}} {{.}}{{end}}
{{- end}}
{{- if $.Join}}
else
	# A {{$.Kind}} seed: etcdimg-join adds this node to the running cluster
	# and starts etcd; it may wait for the cluster far longer than
	# cloud-init should.
	systemctl enable --no-reload etcdimg-join.service{{range .Timers}} {{.}}{{end}}
	systemctl start --no-block etcdimg-join.service{{range .Timers}} {{.}}{{end}}
	step start-join
{{- else}}
else
	systemctl enable --no-reload etcd.service{{range .Timers}} {{.}}{{end}}
	systemctl start --no-block etcd.service{{range .Timers}} {{.}}{{end}}
	step start
{{- end}}
fi
{{- end}}

printf 'ident=%s\nversion=%s\nrelease=%s\n' "$IDENT" "$VERSION" "$SHA256" >"$STATE.tmp"
mv -f "$STATE.tmp" "$STATE"
echo "etcdimg: etcd $VERSION installed; member {{.Node.Name}} {{if .Join}}joining or {{end}}starting"
`))

// StagedManifestPath is where user-data leaves the static pod manifest
// until the first-boot script has made the folders and certificates it
// refers to.
const StagedManifestPath = "/etc/etcdimg/etcd.yaml"

// StagedUnitPath is where user-data leaves etcd's unit; the first-boot
// script installs it as UnitPath. write_files runs before the script can
// refuse a seed (a downgrade, another cluster's data dir), and a unit
// written in place would be what etcd restarts with after such a refusal.
const (
	StagedUnitPath = "/etc/etcdimg/etcd.service"
	UnitPath       = "/etc/systemd/system/etcd.service"
)

// StatePath records what the node applied last: the member identity its
// data dir holds, the etcd version and the release's sha256.
const StatePath = "/etc/etcdimg/node"

// ident names the member a node's data dir holds: a later seed converges
// that data dir only if it names the same member.
func ident(c *model.Cluster, n model.Node) string {
	return "cluster=" + c.Name + " token=" + c.Token + " node=" + n.Name
}

// vmPKIFile is one install line: owner and group are shell words.
type vmPKIFile struct{ Name, Mode, Owner, Group string }

// vmPKIFiles are the certificate files installed on the VM, as
// pki.NodeFiles describes them.
func vmPKIFiles() []vmPKIFile {
	var out []vmPKIFile
	for _, f := range pki.NodeFiles() {
		v := vmPKIFile{Name: f.Name, Mode: fmt.Sprintf("%04o", f.Mode)}
		switch f.Owner {
		case pki.OwnerEtcd:
			v.Owner, v.Group = `"$ETCD_USER"`, `"$ETCD_GROUP"`
		default:
			panic("generator: no owner " + f.Owner + " on the VM")
		}
		out = append(out, v)
	}
	return out
}

func firstBootScript(c *model.Cluster, n model.Node, rel *release.Release) (string, error) {
	data := struct {
		Cluster        *model.Cluster
		Node           model.Node
		Release        *release.Release
		SeedDir        string
		PKIFiles       []vmPKIFile
		Binaries       string
		Container      *model.ContainerRuntime // nil unless that runtime
		StaticPod      *model.StaticPodRuntime // nil unless that runtime
		StagedManifest string
		Join           bool
		Kind           string
		BackupDir      string
		Restore        bool
		RestoreScript  string
		RestoreSeed    string
		Timers         []string
		TimerServices  []string
		StatePath      string
		// cloud-init's folder of the node's instance before instance-ids
		// carried a digest.
		LegacyInstanceDir string
		Ident             string
		Unit              string
		StagedUnit        string
	}{
		Cluster: c, Node: n, Release: rel, SeedDir: SeedDir, PKIFiles: vmPKIFiles(),
		Binaries: "etcd etcdctl etcdutl", StagedManifest: StagedManifestPath,
		Restore: c.Restores(n), RestoreScript: RestoreScriptPath, RestoreSeed: RestoreSeedPath,
		Timers: maintenanceTimers(c), TimerServices: timerServices(c), StatePath: StatePath, Ident: ident(c, n),
		LegacyInstanceDir: "/var/lib/cloud/instances/" + c.InstanceID(n),
		Unit:              UnitPath, StagedUnit: StagedUnitPath,
	}
	if b := c.Etcd.Maintenance.Backup; b != nil {
		data.BackupDir = b.Dir
	}
	data.Kind, _ = c.SeedKind(n)
	data.Join = data.Kind != model.SeedBootstrap
	switch rt := c.Etcd.Runtime.(type) {
	case *model.SystemdRuntime:
	case *model.ContainerRuntime:
		data.Container = rt
	case *model.StaticPodRuntime:
		data.StaticPod = rt
		data.Unit, data.StagedUnit = "", ""
	default:
		panic(fmt.Sprintf("generator: runtime %T has no first-boot steps", rt))
	}
	if data.Container != nil || data.StaticPod != nil {
		// etcd itself runs from an image; the host keeps the tools so
		// etcdctl.env works the same under every runtime.
		data.Binaries = "etcdctl etcdutl"
	}
	var b bytes.Buffer
	err := firstBootTemplate.Execute(&b, data)
	return b.String(), err
}

// timerServices are the services the maintenance timers start.
func timerServices(c *model.Cluster) []string {
	var out []string
	for _, t := range maintenanceTimers(c) {
		out = append(out, strings.TrimSuffix(t, ".timer")+".service")
	}
	return out
}

// shellQuote single-quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
