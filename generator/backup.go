package generator

import (
	"bytes"
	"path"
	"strconv"
	"text/template"

	"github.com/etcdimg/etcdimg/model"
)

// Maintenance on the node: the flags that keep the keyspace inside its
// quota, and the opt-in snapshot and defragmentation timers; plus the
// restore that first boot runs for `build --restore-from`.

// Paths on the VM.
const (
	BackupScriptPath  = "/usr/local/sbin/etcdimg-backup"
	DefragScriptPath  = "/usr/local/sbin/etcdimg-defrag"
	RestoreScriptPath = "/usr/local/sbin/etcdimg-restore"
	BackupUnit        = "etcdimg-backup"
	DefragUnit        = "etcdimg-defrag"
	// RestoreMarkerPath records which member the restore script put into
	// the data dir (node, token, snapshot sha256).
	RestoreMarkerPath = "/etc/etcdimg/restored"
	// RestoreSeedPath is the snapshot on the seed, beside the release.
	RestoreSeedPath = SeedDir + "/restore/snapshot.db"
	// DefragLockKey is the key a defragmenting member holds (bound to a
	// lease, so a crashed run frees it) so no two members defragment at once.
	DefragLockKey = "/etcdimg/maintenance/defrag"
)

// maintenanceArgs are etcd's compaction and quota flags.
func maintenanceArgs(c *model.Cluster) []string {
	m := c.Etcd.Maintenance
	return []string{
		"--auto-compaction-mode=" + m.CompactionMode,
		"--auto-compaction-retention=" + m.CompactionRetention,
		"--quota-backend-bytes=" + strconv.FormatInt(m.QuotaBackendBytes, 10),
	}
}

// LocalEndpoint is the client URL of n's own member as seen from n: the
// loopback URL when etcd listens there (it survives an address change),
// else the node's first client URL.
func LocalEndpoint(c *model.Cluster, n model.Node) string {
	urls := c.ListenClientURLs(n)
	return urls[len(urls)-1]
}

// etcdctlTLSArgs authenticate the node's tools with its healthcheck client
// certificate, the one certificate the node holds for client use.
func etcdctlTLSArgs(c *model.Cluster) []string {
	if !c.TLS.Enabled {
		return nil
	}
	return []string{"--cacert=" + VMPKIFile(c, "ca.crt"), "--cert=" + VMPKIFile(c, "healthcheck-client.crt"),
		"--key=" + VMPKIFile(c, "healthcheck-client.key")}
}

var maintFuncs = template.FuncMap{"sq": shellQuote, "arg": systemdArg, "spec": systemdSpecifierEscape}

// The backup script runs as the etcd user from its service. etcdctl writes
// the snapshot to "<tmp>.part", fsyncs and renames it to <tmp>; the script
// checks it with etcdutl and only then gives it its final name, so a
// "<node>-<time>.db" file is always a complete, readable snapshot.
var backupScriptTemplate = template.Must(template.New("backup").Funcs(maintFuncs).Parse(`#!/bin/sh
# Written by etcdimg: a snapshot of member {{.Node.Name}} (the local one) into {{.B.Dir}},
# keeping the newest {{.B.Keep}}. Run by {{.Unit}}.service ({{.Unit}}.timer); by hand:
#   systemctl start {{.Unit}}.service; journalctl -u {{.Unit}}.service
set -eu
umask 077
DIR={{sq .B.Dir}}
KEEP={{.B.Keep}}
NODE={{sq .Node.Name}}
ENDPOINT={{sq .Endpoint}}

[ -d "$DIR" ] || { echo "etcdimg-backup: $DIR does not exist" >&2; exit 1; }
start=$(date +%s.%N)
name="$NODE-$(date -u +%Y%m%dT%H%M%SZ).db"
tmp="$DIR/.$name.tmp"
trap 'rm -f "$tmp" "$tmp.part"' EXIT
/usr/local/bin/etcdctl --endpoints="$ENDPOINT"{{range .TLSArgs}} {{sq .}}{{end}} \
	--dial-timeout=10s --command-timeout=30m snapshot save "$tmp" >/dev/null
# etcd's own reading of the file: it must open as a backend.
/usr/local/bin/etcdutl snapshot status "$tmp" >/dev/null
chmod 0600 "$tmp"
mv -f "$tmp" "$DIR/$name"
sync "$DIR"
# Names sort by time (UTC, fixed width): keep the newest $KEEP of this node's.
find "$DIR" -maxdepth 1 -type f -name "$NODE-*.db" | sort -r | tail -n "+$((KEEP + 1))" | while read -r old; do
	rm -f -- "$old"
done
echo "etcdimg-backup: $DIR/$name $(stat -c %s "$DIR/$name") bytes in $(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}')s"
`))

// The defragmentation script runs as the etcd user. Defragmenting blocks
// the member it runs on, so it runs on the local member only, only when the
// others keep quorum without it, and never while another member does it:
// a lease-bound key taken in a transaction only when absent is the lock
// (a crashed run frees it when the lease expires).
var defragScriptTemplate = template.Must(template.New("defrag").Funcs(maintFuncs).Parse(`#!/bin/sh
# Written by etcdimg: defragments member {{.Node.Name}} (the local one) when the cluster can
# spare it. Run by {{.Unit}}.service ({{.Unit}}.timer).
set -eu
umask 077
NODE={{sq .Node.Name}}
ENDPOINT={{sq .Endpoint}}
LOCK={{sq .LockKey}}

ctl() {
	/usr/local/bin/etcdctl --endpoints="$ENDPOINT"{{range .TLSArgs}} {{sq .}}{{end}} \
		--dial-timeout=10s --command-timeout=30s "$@"
}
log() { echo "etcdimg-defrag: $*"; }

members=$(ctl member list | grep -c . || true)
healthy=$(ctl endpoint health --cluster 2>&1 | grep -c ' is healthy' || true)
if [ "$members" -gt 1 ] && [ $((healthy - 1)) -lt $((members / 2 + 1)) ]; then
	log "skipped: $healthy of $members members are healthy; without this one the rest would not keep quorum"
	exit 0
fi

lease=$(ctl lease grant 3600 | awk '{print $2}')
trap 'ctl lease revoke "$lease" >/dev/null 2>&1 || true' EXIT
got=$(printf 'create("%s") = "0"\n\nput --lease=%s %s %s\n\n\n' "$LOCK" "$lease" "$LOCK" "$NODE" | ctl txn | head -n 1)
if [ "$got" != SUCCESS ]; then
	log "skipped: member $(ctl get --print-value-only "$LOCK" || echo '?') is defragmenting"
	exit 0
fi

before=$(ctl endpoint status -w fields | awk -F' : ' '/"DbSize"/ {print $2}')
start=$(date +%s.%N)
ctl --command-timeout=30m defrag >/dev/null
after=$(ctl endpoint status -w fields | awk -F' : ' '/"DbSize"/ {print $2}')
log "member $NODE defragmented in $(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}')s: $before -> $after bytes"
`))

// The restore script runs as root from the first-boot script, before etcd
// first starts. It never restores over an existing data dir. A member this
// very restore put there (recorded in RestoreMarkerPath before the member
// is moved into place) is left as it is, so running the script again is
// safe; any other member (the old cluster's, on a reused disk) is refused,
// as is a data dir holding anything else: a restored cluster must start
// from the snapshot alone, and etcd must not start beside files nobody can
// vouch for.
var restoreScriptTemplate = template.Must(template.New("restore").Funcs(maintFuncs).Parse(`#!/bin/sh
# Written by etcdimg: restores the snapshot from the seed (sha256 {{.R.SHA256}})
# into {{.DataDir}} as member {{.Node.Name}} of a new cluster (token {{.R.Token}}).
# Usage: etcdimg-restore SNAPSHOT
set -eu
umask 077
SNAPSHOT=$1
SHA256={{sq .R.SHA256}}
TOKEN={{sq .R.Token}}
MARKER={{sq .Marker}}
DATA_DIR={{sq .DataDir}}
ETCD_USER={{sq .User}}
ETCD_GROUP={{sq .Group}}

log() {
	echo "etcdimg-restore: $*"
	logger -t etcdimg -- "restore: $*" 2>/dev/null || true
}

restored="{{.Node.Name}} $TOKEN $SHA256"
if [ -d "$DATA_DIR/member" ]; then
	if [ "$(cat "$MARKER" 2>/dev/null)" = "$restored" ]; then
		log "$DATA_DIR already holds the member this snapshot restored; not restoring over it"
		exit 0
	fi
	log "refusing to restore: $DATA_DIR holds a member this seed did not restore (another cluster's, e.g. on a reused disk); boot the restored node on an empty data dir"
	exit 1
fi
# A file system's lost+found is all a fresh data-dir mount holds.
if [ -n "$(find "$DATA_DIR" -mindepth 1 -maxdepth 1 ! -name lost+found -print 2>/dev/null | head -n 1)" ]; then
	log "refusing to restore: $DATA_DIR is not empty but holds no member; move its contents away and run $0 again"
	exit 1
fi
echo "$SHA256  $SNAPSHOT" | sha256sum -c --status - || {
	log "$SNAPSHOT does not match sha256 $SHA256; rebuild the seed"
	exit 1
}
# Restored beside the data dir (same file system) and moved in by rename.
work=$(mktemp -d "$(dirname "$DATA_DIR")/.etcdimg-restore.XXXXXX")
trap 'rm -rf "$work"' EXIT
{{.Bin}}/etcdutl snapshot restore "$SNAPSHOT"{{range .Args}} {{sq .}}{{end}} --data-dir="$work/data"
chown -R "$ETCD_USER:$ETCD_GROUP" "$work/data"
chmod 0700 "$work/data/member"
install -d -m 0700 -o "$ETCD_USER" -g "$ETCD_GROUP" "$DATA_DIR"
chmod 0700 "$DATA_DIR"
# The marker first: a crash between the two leaves no member, and the next
# run restores again; the other order would leave a member it refuses.
install -d -m 0755 "$(dirname "$MARKER")"
printf '%s\n' "$restored" >"$MARKER.tmp"
mv -f "$MARKER.tmp" "$MARKER"
mv "$work/data/member" "$DATA_DIR/member"
sync "$DATA_DIR" "$MARKER"
log "restored member {{.Node.Name}} of a new cluster from the snapshot (sha256 $SHA256)"
`))

// RestoreArgs are the etcdutl snapshot restore flags for n, without the
// snapshot and --data-dir.
func RestoreArgs(c *model.Cluster, n model.Node) []string {
	return []string{
		"--name=" + n.Name,
		"--initial-cluster=" + c.InitialCluster(),
		"--initial-cluster-token=" + c.Token,
		"--initial-advertise-peer-urls=" + c.PeerURL(n),
	}
}

// RestoreScript renders n's restore script. bin is where etcdutl is
// (/usr/local/bin on the VM; tests pass the release's).
func RestoreScript(c *model.Cluster, n model.Node, bin string) (string, error) {
	return render(restoreScriptTemplate, struct {
		Node                 model.Node
		R                    *model.Restore
		DataDir, User, Group string
		Bin, Marker          string
		Args                 []string
	}{n, c.Restore, c.Etcd.DataDir, c.Etcd.User.Name, c.Etcd.User.Group, bin, RestoreMarkerPath, RestoreArgs(c, n)})
}

// BackupScript and DefragScript render n's maintenance scripts.
func BackupScript(c *model.Cluster, n model.Node) (string, error) {
	return render(backupScriptTemplate, scriptData(c, n, BackupUnit))
}

func DefragScript(c *model.Cluster, n model.Node) (string, error) {
	return render(defragScriptTemplate, scriptData(c, n, DefragUnit))
}

type maintData struct {
	Cluster  *model.Cluster
	Node     model.Node
	B        *model.Backup
	D        *model.Defrag
	Unit     string
	Endpoint string
	TLSArgs  []string
	LockKey  string
	// For the units.
	Script, What, Schedule string
	Delay                  int
	Persistent             bool
	ReadWrite              string
	AllowIPs               []string
}

func scriptData(c *model.Cluster, n model.Node, unit string) maintData {
	return maintData{Cluster: c, Node: n, B: c.Etcd.Maintenance.Backup, D: c.Etcd.Maintenance.Defrag, Unit: unit,
		Endpoint: LocalEndpoint(c, n), TLSArgs: etcdctlTLSArgs(c), LockKey: DefragLockKey}
}

func render(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	err := t.Execute(&b, data)
	return b.String(), err
}

// The service is sandboxed like etcd's own unit, tighter still: the etcd
// user, nothing writable but the snapshot folder (backup), and IP traffic
// only to the node's own addresses (backup) or the members (defrag).
var maintServiceTemplate = template.Must(template.New("service").Funcs(maintFuncs).Parse(`# Written by etcdimg for member {{spec .Node.Name}} of cluster {{spec .Cluster.Name}}.
[Unit]
Description={{.What}} (member {{spec .Node.Name}} of {{spec .Cluster.Name}})
Documentation=https://etcd.io/docs/v3.6/op-guide/maintenance/
After=etcd.service network-online.target

[Service]
Type=oneshot
User={{arg .Cluster.Etcd.User.Name}}
Group={{arg .Cluster.Etcd.User.Group}}
ExecStart={{.Script}}
UMask=0077
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
NoNewPrivileges=yes
ProtectSystem=strict
{{- if .ReadWrite}}
ReadWritePaths={{arg .ReadWrite}}
{{- end}}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
IPAddressDeny=any
IPAddressAllow=localhost{{range .AllowIPs}} {{.}}{{end}}
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
`))

// The timer fires on the spec's schedule plus a fixed per-machine offset
// (RandomizedDelaySec with FixedRandomDelay: systemd derives it from the
// machine id, so it is the same every day on one node and differs between
// nodes), so the members do not all snapshot or defragment at once.
var maintTimerTemplate = template.Must(template.New("timer").Funcs(maintFuncs).Parse(`# Written by etcdimg for member {{spec .Node.Name}} of cluster {{spec .Cluster.Name}}.
[Unit]
Description={{.What}} on schedule (member {{spec .Node.Name}} of {{spec .Cluster.Name}})

[Timer]
OnCalendar={{spec .Schedule}}
RandomizedDelaySec={{.Delay}}
FixedRandomDelay=yes
AccuracySec=1s
Persistent={{if .Persistent}}yes{{else}}no{{end}}

[Install]
WantedBy=timers.target
`))

// maintenanceFiles are the write_files entries of the maintenance timers
// and of the restore script, in a fixed order.
func maintenanceFiles(c *model.Cluster, n model.Node) ([]writeFile, error) {
	var files []writeFile
	m := c.Etcd.Maintenance
	add := func(unit, what, script string, scriptFn func(*model.Cluster, model.Node) (string, error), schedule string, delay int, persistent bool, rw string, allow []string) error {
		body, err := scriptFn(c, n)
		if err != nil {
			return err
		}
		d := scriptData(c, n, unit)
		d.Script, d.What, d.Schedule, d.Delay, d.Persistent, d.ReadWrite, d.AllowIPs = script, what, schedule, delay, persistent, rw, allow
		svc, err := render(maintServiceTemplate, d)
		if err != nil {
			return err
		}
		timer, err := render(maintTimerTemplate, d)
		if err != nil {
			return err
		}
		files = append(files,
			writeFile{Path: script, Owner: "root:root", Permissions: "0755", Content: body},
			writeFile{Path: path.Join("/etc/systemd/system", unit+".service"), Owner: "root:root", Permissions: "0644", Content: svc},
			writeFile{Path: path.Join("/etc/systemd/system", unit+".timer"), Owner: "root:root", Permissions: "0644", Content: timer},
		)
		return nil
	}
	if b := m.Backup; b != nil {
		// Missed runs (the node was off) happen at the next boot.
		if err := add(BackupUnit, "etcd snapshot", BackupScriptPath, BackupScript, b.Schedule, b.RandomizedDelaySec, true, b.Dir, []string{n.IP.String()}); err != nil {
			return nil, err
		}
	}
	if d := m.Defrag; d != nil {
		// A missed defragmentation waits for its next slot rather than
		// running at boot, when the cluster may still be settling.
		if err := add(DefragUnit, "etcd defragmentation", DefragScriptPath, DefragScript, d.Schedule, d.RandomizedDelaySec, false, "", nodeIPs(c)); err != nil {
			return nil, err
		}
	}
	if c.Restores(n) {
		body, err := RestoreScript(c, n, "/usr/local/bin")
		if err != nil {
			return nil, err
		}
		files = append(files, writeFile{Path: RestoreScriptPath, Owner: "root:root", Permissions: "0755", Content: body})
	}
	return files, nil
}

func nodeIPs(c *model.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.IP.String())
	}
	return out
}

// maintenanceTimers are the timers first boot enables.
func maintenanceTimers(c *model.Cluster) []string {
	var out []string
	if c.Etcd.Maintenance.Backup != nil {
		out = append(out, BackupUnit+".timer")
	}
	if c.Etcd.Maintenance.Defrag != nil {
		out = append(out, DefragUnit+".timer")
	}
	return out
}
