package spec

import "encoding/json"

// The maintenance a long-lived cluster needs: history compaction, the
// backend quota, scheduled snapshots and defragmentation. Their defaults
// are in Defaults (compaction, quota) and in BackupDefaults and
// DefragDefaults (the values an opt-in feature gets once it is set).

// AutoCompaction is etcd's --auto-compaction-mode and -retention.
type AutoCompaction struct {
	// Mode is "periodic" (Retention is a duration: "1h", "30m") or
	// "revision" (Retention is a number of revisions).
	Mode *string `json:"mode,omitempty"`
	// Retention "0" turns automatic compaction off.
	Retention *Scalar `json:"retention,omitempty"`
}

// Backup turns on scheduled snapshots of each node's local member.
type Backup struct {
	// Schedule is a systemd OnCalendar expression or one of its shorthands
	// ("hourly", "daily", "weekly", …).
	Schedule *string `json:"schedule,omitempty"`
	// Keep is how many snapshots each node keeps; older ones are deleted.
	Keep *int `json:"keep,omitempty"`
	// Dir holds the snapshots on the node (0700, owned by the etcd user).
	Dir *string `json:"dir,omitempty"`
	// RandomizedDelaySec spreads the nodes: each node's timer fires at a
	// fixed offset in [0, RandomizedDelaySec) after Schedule, derived by
	// systemd from the machine id, so they do not snapshot at once.
	RandomizedDelaySec *int `json:"randomizedDelaySec,omitempty"`
}

// Defrag turns on scheduled defragmentation, one member at a time.
type Defrag struct {
	Schedule           *string `json:"schedule,omitempty"`
	RandomizedDelaySec *int    `json:"randomizedDelaySec,omitempty"`
}

// compactionDefaults: periodic compaction keeping one hour of history,
// the example of etcd's maintenance guide: clients that never compact
// (Traefik, CNI plugins) no longer grow the keyspace until NOSPACE, a
// watcher can still resume after an hour's outage, and kube-apiserver's own
// 5-minute compaction is unaffected.
func compactionDefaults() AutoCompaction {
	return AutoCompaction{Mode: new("periodic"), Retention: &Scalar{Text: "1h", Kind: "string"}}
}

// quotaDefault is etcd's own default, written out so it is visible.
func quotaDefault() *int { return new(2 << 30) }

// BackupDefaults are the values etcd.backup's fields take once it is set.
func BackupDefaults() *Backup {
	return &Backup{Schedule: new("daily"), Keep: new(7), Dir: new("/var/backups/etcd"), RandomizedDelaySec: new(900)}
}

// DefragDefaults are the values etcd.defrag's fields take once it is set.
func DefragDefaults() *Defrag {
	return &Defrag{Schedule: new("Sun *-*-* 03:00:00"), RandomizedDelaySec: new(3600)}
}

// MarshalJSON writes a Scalar as the Jsonnet value it came from (for
// etcdimg.defaults).
func (s Scalar) MarshalJSON() ([]byte, error) {
	if s.Kind == "string" {
		return json.Marshal(s.Text)
	}
	return []byte(s.Text), nil
}
