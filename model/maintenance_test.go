package model_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

func TestMaintenanceRules(t *testing.T) {
	backup := func(mut func(*spec.Backup)) func(*spec.Cluster) {
		return func(c *spec.Cluster) {
			c.Etcd.Backup = &spec.Backup{}
			mut(c.Etcd.Backup)
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*spec.Cluster)
		want   string
	}{
		{"managed compaction flag", func(c *spec.Cluster) {
			c.Etcd.ExtraFlags = map[string]spec.Scalar{"auto-compaction-retention": {Text: "1h", Kind: "string"}}
		}, `error: etcd.extraFlags.auto-compaction-retention: --auto-compaction-retention is set by etcdimg; use etcd.autoCompaction.retention instead`},
		{"managed quota flag", func(c *spec.Cluster) {
			c.Etcd.ExtraFlags = map[string]spec.Scalar{"quota-backend-bytes": {Text: "1", Kind: "number"}}
		}, `error: etcd.extraFlags.quota-backend-bytes: --quota-backend-bytes is set by etcdimg; use etcd.quotaBackendBytes instead`},
		{"managed compaction mode", func(c *spec.Cluster) {
			c.Etcd.ExtraFlags = map[string]spec.Scalar{"auto-compaction-mode": {Text: "revision", Kind: "string"}}
		}, `error: etcd.extraFlags.auto-compaction-mode: --auto-compaction-mode is set by etcdimg; use etcd.autoCompaction.mode instead`},
		{"compaction mode", func(c *spec.Cluster) { c.Etcd.AutoCompaction.Mode = new("hourly") }, `error: etcd.autoCompaction.mode: "hourly" is not periodic or revision`},
		{"revision needs retention", func(c *spec.Cluster) { c.Etcd.AutoCompaction.Mode = new("revision") }, `error: etcd.autoCompaction.retention: required`},
		{"revision retention", func(c *spec.Cluster) {
			c.Etcd.AutoCompaction = spec.AutoCompaction{Mode: new("revision"), Retention: &spec.Scalar{Text: "1h", Kind: "string"}}
		}, `error: etcd.autoCompaction.retention: "1h" is not a number of revisions`},
		{"periodic retention", func(c *spec.Cluster) {
			c.Etcd.AutoCompaction.Retention = &spec.Scalar{Text: "an hour", Kind: "string"}
		}, `error: etcd.autoCompaction.retention: "an hour" is not a duration`},
		{"compaction off", func(c *spec.Cluster) { c.Etcd.AutoCompaction.Retention = &spec.Scalar{Text: "0", Kind: "number"} }, `warning: etcd.autoCompaction.retention: 0 turns automatic compaction off`},
		{"quota tiny", func(c *spec.Cluster) { c.Etcd.QuotaBackendBytes = new(1000) }, `error: etcd.quotaBackendBytes: 1000 is below 16 MiB`},
		{"quota big", func(c *spec.Cluster) { c.Etcd.QuotaBackendBytes = new(16 << 30) }, `warning: etcd.quotaBackendBytes: 17179869184 is above etcd's suggested maximum of 8 GiB`},
		{"backup schedule", backup(func(b *spec.Backup) { b.Schedule = new("every day") }), `error: etcd.backup.schedule: "every day" is not a systemd calendar expression`},
		{"backup hour", backup(func(b *spec.Backup) { b.Schedule = new("*-*-* 25:00") }), `error: etcd.backup.schedule: "*-*-* 25:00" is not a systemd calendar expression (see systemd.time(7)): hour 25 is out of range 0-23`},
		{"backup keep", backup(func(b *spec.Backup) { b.Keep = new(-1) }), `error: etcd.backup.keep: -1 is out of range 1-1000`},
		{"backup dir in data dir", backup(func(b *spec.Backup) { b.Dir = new("/var/lib/etcd/backups") }), `error: etcd.backup.dir: "/var/lib/etcd/backups" overlaps the data dir "/var/lib/etcd"`},
		{"backup dir system", backup(func(b *spec.Backup) { b.Dir = new("/var/backups") }), `error: etcd.backup.dir: "/var/backups" is a system folder`},
		{"backup dir pki", backup(func(b *spec.Backup) { b.Dir = new("/etc/etcd/pki/snap") }), `error: etcd.backup.dir: "/etc/etcd/pki/snap" overlaps the certificate folder`},
		{"backup dir relative", backup(func(b *spec.Backup) { b.Dir = new("backups") }), `error: etcd.backup.dir: "backups" is not an absolute path`},
		{"backup delay", backup(func(b *spec.Backup) { b.RandomizedDelaySec = new(-5) }), `error: etcd.backup.randomizedDelaySec: -5 is out of range`},
		{"defrag schedule", func(c *spec.Cluster) { c.Etcd.Defrag = &spec.Defrag{Schedule: new("Funday 03:00")} }, `error: etcd.defrag.schedule: "Funday 03:00" is not a systemd calendar expression`},
		{"defrag one member", func(c *spec.Cluster) {
			c.Nodes = c.Nodes[:1]
			c.Etcd.Defrag = &spec.Defrag{}
		}, `warning: etcd.defrag: the only member is unavailable while it defragments`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			_, r := model.Validate(c)
			found := false
			for _, e := range r.Entries {
				if strings.HasPrefix(e.String(), tc.want) {
					found = true
				}
			}
			if !found || len(r.Entries) != 1 {
				t.Errorf("want exactly one entry starting %q, got:\n%s", tc.want, r)
			}
		})
	}
}

func TestMaintenanceDefaults(t *testing.T) {
	c := base()
	c.Etcd.Backup = &spec.Backup{}
	c.Etcd.Defrag = &spec.Defrag{}
	m, r := model.Validate(c)
	if r.IsFatal() || len(r.Entries) != 0 {
		t.Fatal(r)
	}
	got := m.Etcd.Maintenance
	want := model.Maintenance{CompactionMode: "periodic", CompactionRetention: "1h", QuotaBackendBytes: 2 << 30,
		Backup: &model.Backup{Schedule: "daily", Keep: 7, Dir: "/var/backups/etcd", RandomizedDelaySec: 900},
		Defrag: &model.Defrag{Schedule: "Sun *-*-* 03:00:00", RandomizedDelaySec: 3600}}
	if got.CompactionMode != want.CompactionMode || got.CompactionRetention != want.CompactionRetention ||
		got.QuotaBackendBytes != want.QuotaBackendBytes || *got.Backup != *want.Backup || *got.Defrag != *want.Defrag {
		t.Errorf("defaults:\n got %+v %+v %+v\nwant %+v %+v %+v", got, got.Backup, got.Defrag, want, want.Backup, want.Defrag)
	}
	// Off unless asked for.
	m, _ = model.Validate(base())
	if m.Etcd.Maintenance.Backup != nil || m.Etcd.Maintenance.Defrag != nil {
		t.Error("backup or defrag on without being asked for")
	}
}

// TestCheckCalendarAgreesWithSystemd holds the calendar check against
// systemd's own parser: what systemd refuses must be refused at validate
// time, and what etcdimg accepts systemd must accept.
func TestCheckCalendarAgreesWithSystemd(t *testing.T) {
	exprs := []struct {
		s  string
		ok bool // etcdimg's verdict; systemd must agree
	}{
		{"daily", true}, {"hourly", true}, {"weekly", true}, {"minutely", true}, {"Daily", true},
		{"*-*-* 02:30:00", true}, {"*-*-* 02:30", true}, {"02:30", true}, {"*:0/15", true}, {"*:*:00", true},
		{"Sun *-*-* 03:00:00", true}, {"Mon..Fri 22:00", true}, {"Sat,Sun 04:10", true}, {"Mon,Wed..Fri *-*-* 01:00", true},
		{"*-*-01 00:00:00", true}, {"*-02~03 00:00", true}, {"2030-01-01 00:00", true}, {"*-1,4,7,10-1 00:00", true},
		{"*-*-* 00/6:00", true}, {"*-*-* 02:30:00 UTC", true}, {"03:00 Europe/Berlin", true}, {"Sunday 03:00", true},
		{"*-*-* *:00/5:00", true}, {"12:00:30.5", true},
		{"", false}, {"every day", false}, {"*-*-* 25:00", false}, {"*-13-* 00:00", false}, {"*-*-32 00:00", false},
		{"Funday 03:00", false}, {"*-*-* 00:60", false}, {"now", false}, {"02:30:00:00", false}, {"*-*-*-* 00:00", false},
		{"*:0/0", false}, {"mon 3:00 extra", false},
	}
	sa, err := exec.LookPath("systemd-analyze")
	for _, e := range exprs {
		got := model.CheckCalendar(e.s) == nil
		if got != e.ok {
			t.Errorf("CheckCalendar(%q) ok=%v, want %v (%v)", e.s, got, e.ok, model.CheckCalendar(e.s))
		}
		if err != nil || e.s == "" {
			continue
		}
		out, serr := exec.Command(sa, "calendar", e.s).CombinedOutput()
		if (serr == nil) != e.ok {
			t.Errorf("systemd-analyze calendar %q: ok=%v, etcdimg says %v:\n%s", e.s, serr == nil, e.ok, out)
		}
	}
	if err != nil {
		t.Skip("systemd-analyze not installed: checked etcdimg's verdicts only")
	}
}

func TestRestoreToken(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	if got := model.RestoreToken("k8s", sum); got != "k8s-rabababababa" {
		t.Errorf("RestoreToken = %q", got)
	}
	long := strings.Repeat("t", 128)
	got := model.RestoreToken(long, sum)
	if len(got) != 128 || !strings.HasSuffix(got, "-rabababababa") {
		t.Errorf("RestoreToken of a 128-character token = %q (%d), want 128 characters ending in the snapshot's digits", got, len(got))
	}
	// The restore token of a restored cluster is new again.
	if again := model.RestoreToken(got, strings.Repeat("cd", 32)); again == got {
		t.Error("restoring a restored cluster kept its token")
	}
}
