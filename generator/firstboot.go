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

// The script runs once per instance from runcmd. cloud-init has unmounted
// the seed by then, so it mounts it again (read-only) to reach the tarball
// and the certificates. It ends by starting etcd without waiting: etcd only
// reports ready at quorum, and a blocking start inside cloud-final can
// deadlock first boot. Every step logs "etcdimg: <step> <seconds>" so boot
// cost can be read from the journal.
var firstBootTemplate = template.Must(template.New("firstboot").Funcs(template.FuncMap{
	"sq": shellQuote,
}).Parse(`#!/bin/sh
# Written by etcdimg: installs etcd {{.Release.Version}} from the seed ISO (label cidata)
# and starts member {{.Node.Name}}. Runs once, from cloud-init's runcmd.
set -eu
umask 022

TARBALL={{sq .Release.Name}}
TOPDIR={{sq .Release.Dir}}
SHA256={{sq .Release.SHA256}}
DATA_DIR={{sq .Cluster.Etcd.DataDir}}
ETCD_USER={{sq .Cluster.Etcd.User.Name}}
ETCD_GROUP={{sq .Cluster.Etcd.User.Group}}
{{- if .Cluster.TLS.Enabled}}
PKI_DIR={{sq .Cluster.TLS.Dir}}
{{- end}}

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

{{- with .Container}}

ENGINE={{sq .EnginePath}}
[ -x "$ENGINE" ] || fail "runtime container needs $ENGINE on the node; etcdimg does not install {{.Engine}}: put it in the base image"
{{- end}}

# The mount point lives in /run, but nothing is unpacked there: /run is a
# small tmpfs, and filling it stops systemd from reloading units. The
# binaries unpack beside their destination, so installing them is a rename.
seed=$(mktemp -d /run/etcdimg-seed.XXXXXX)
stage=$(mktemp -d /usr/local/bin/.etcdimg.XXXXXX)
cleanup() {
	umount "$seed" 2>/dev/null || true
	rmdir "$seed" 2>/dev/null || true
	rm -rf "$stage"
}
trap cleanup EXIT

dev=/dev/disk/by-label/cidata
udevadm settle --timeout=30 2>/dev/null || true
[ -e "$dev" ] || fail "no seed device $dev; is the seed ISO still attached?"
mount -o ro "$dev" "$seed" || fail "cannot mount $dev"
step mount

echo "$SHA256  $seed/{{.SeedDir}}/$TARBALL" | sha256sum -c --status - ||
	fail "$TARBALL on the seed does not match sha256 $SHA256; rebuild the seed"
step checksum

tar -xzf "$seed/{{.SeedDir}}/$TARBALL" -C "$stage" --strip-components=1 --no-same-owner --no-same-permissions \
	"$TOPDIR/etcd" "$TOPDIR/etcdctl" "$TOPDIR/etcdutl"
step extract
{{- if and .Container .Container.LocalImage}}
{{- with .Container}}

# No registry on first boot: the image is the release's static etcd binary
# alone, imported under a local name the unit runs.
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

for b in {{.Binaries}}; do
	chown root:root "$stage/$b"
	chmod 0755 "$stage/$b"
	mv -f "$stage/$b" "/usr/local/bin/$b"
done
install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" "$DATA_DIR"
# An existing data dir (a reused disk) may be looser; etcd wants 0700.
chmod 0700 "$DATA_DIR"
chown "$ETCD_USER:$ETCD_GROUP" "$DATA_DIR"
{{- if .Cluster.TLS.Enabled}}
install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" "$PKI_DIR"
{{- range .PKIFiles}}
install -m {{.Mode}} -o {{.Owner}} -g {{.Group}} "$seed/{{$.SeedDir}}/pki/{{.Name}}" "$PKI_DIR/{{.Name}}"
{{- end}}
{{- end}}
{{- if .BackupDir}}
install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" {{sq .BackupDir}}
chmod 0700 {{sq .BackupDir}}
chown "$ETCD_USER:$ETCD_GROUP" {{sq .BackupDir}}
{{- end}}
step install
{{- if .Restore}}

# Before etcd's first start: the member comes up from the snapshot, in a new
# cluster. The script leaves an existing member alone and refuses a data dir
# holding anything else.
{{.RestoreScript}} "$seed/{{.RestoreSeed}}" || fail "restore of the snapshot failed; etcd was not started"
step restore
{{- end}}

umount "$seed"
{{- with .StaticPod}}
# kubelet may already watch the folder: it must never see a partial file,
# and it ignores dot-files, so the manifest is staged and renamed in.
manifest={{sq .ManifestPath}}
install -d -m 0755 "$(dirname "$manifest")"
install -m 0644 {{sq $.StagedManifest}} "$(dirname "$manifest")/.etcdimg-manifest.tmp"
mv -f "$(dirname "$manifest")/.etcdimg-manifest.tmp" "$manifest"
if systemctl cat kubelet.service >/dev/null 2>&1; then
{{- if $.Cluster.Kubeadm}}
	# The drop-in (written before this script) replaces kubelet's command;
	# a kubelet the image already started runs the old one until restarted.
	systemctl daemon-reload
	systemctl enable kubelet.service
	systemctl restart --no-block kubelet.service
{{- else}}
	systemctl enable --now --no-block kubelet.service
{{- end}}
else
	echo "etcdimg: kubelet is not installed; etcd starts when kubelet runs with staticPodPath $(dirname "$manifest")" >&2
fi
step manifest
{{- else}}
{{- if $.Join}}
# A {{$.Kind}} seed: etcdimg-join adds this node to the running cluster and
# starts etcd; it may wait for the cluster far longer than cloud-init should.
systemctl daemon-reload
systemctl enable etcdimg-join.service
systemctl start --no-block etcdimg-join.service
step start-join
{{- else}}
systemctl daemon-reload
systemctl enable --now --no-block etcd.service
step start
{{- end}}
{{- end}}
{{- if .Timers}}
systemctl enable --now{{range .Timers}} {{.}}{{end}}
step timers
{{- end}}
echo "etcdimg: etcd {{.Release.Version}} installed; member {{.Node.Name}} starting"
`))

// StagedManifestPath is where user-data leaves the static pod manifest
// until the first-boot script has made the folders and certificates it
// refers to.
const StagedManifestPath = "/etc/etcdimg/etcd.yaml"

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
	}{
		Cluster: c, Node: n, Release: rel, SeedDir: SeedDir, PKIFiles: vmPKIFiles(),
		Binaries: "etcd etcdctl etcdutl", StagedManifest: StagedManifestPath,
		Restore: c.Restores(n), RestoreScript: RestoreScriptPath, RestoreSeed: RestoreSeedPath,
		Timers: maintenanceTimers(c),
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

// shellQuote single-quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
