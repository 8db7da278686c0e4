package model

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/etcdimg/etcdimg/spec"
)

// Maintenance is what keeps a long-lived cluster inside its quota: history
// compaction, the backend quota, and (opt-in) scheduled snapshots and
// defragmentation.
type Maintenance struct {
	CompactionMode      string // "periodic" or "revision"
	CompactionRetention string // as etcd reads it: "1h", "10000", "0" (off)
	QuotaBackendBytes   int64
	Backup              *Backup // nil: no scheduled snapshots
	Defrag              *Defrag // nil: no scheduled defragmentation
}

// Backup is the node-side snapshot schedule.
type Backup struct {
	Schedule           string // systemd OnCalendar
	Keep               int
	Dir                string
	RandomizedDelaySec int
}

// Defrag is the node-side defragmentation schedule.
type Defrag struct {
	Schedule           string
	RandomizedDelaySec int
}

// Restore is set (by the pipeline, from `build --restore-from`) when every
// node's first boot restores a snapshot instead of starting empty.
type Restore struct {
	SHA256 string // of the snapshot file the seeds carry
	Size   int64
	Path   string // the snapshot on the build host, read when writing seeds
	// Revision and Keys are what etcd's check read from the snapshot.
	Revision int64
	Keys     int
	// Token is the new cluster's --initial-cluster-token; the pipeline also
	// makes it the cluster's Token, so the unit and the restore agree.
	Token string
}

// Restores reports whether n's seed restores the snapshot of `build
// --restore-from`: only a bootstrap seed does. A join or replace seed adds
// a member to a running cluster, which replicates the keys to it; a
// snapshot restored there would make a second, separate cluster.
func (c *Cluster) Restores(n Node) bool {
	return c.Restore != nil && c.IsBootstrap(n)
}

// RestoreToken derives the token of a cluster restored from a snapshot:
// new, so the restored members can never be mistaken for (or talk to)
// members of the cluster the snapshot came from, yet deterministic, so the
// same spec and snapshot give byte-identical seeds.
func RestoreToken(token, snapshotSHA256 string) string {
	const suffix = 13 // "-r" + 11 hex digits
	if len(token) > 128-suffix {
		token = token[:128-suffix]
	}
	return token + "-r" + snapshotSHA256[:11]
}

const (
	// quotaMin: below this etcd would raise NOSPACE almost at once.
	quotaMin = 16 << 20
	// QuotaRecommendedMax is etcd's suggested maximum backend size.
	QuotaRecommendedMax = 8 << 30
)

var systemDataDirs = map[string]bool{"/var/backups": true, "/var/log": true, "/var/cache": true, "/var/tmp": true,
	"/srv": true, "/opt": true, "/mnt": true, "/media": true, "/var/lib/etcd": false}

func (v *validator) maintenance(m *Etcd, e spec.Etcd, dataDir, tlsDir string, nodes int) {
	d := v.d.Etcd
	ac := spec.AutoCompaction{Mode: e.AutoCompaction.Mode, Retention: e.AutoCompaction.Retention}
	mode := or(ac.Mode, d.AutoCompaction.Mode)
	// The default retention is a duration: it goes with the default mode
	// only; a revision count must be given.
	retention := ac.Retention
	if retention == nil && mode == *d.AutoCompaction.Mode {
		retention = d.AutoCompaction.Retention
	}
	var ret spec.Scalar
	if retention != nil {
		ret = *retention
	}
	m.Maintenance.CompactionMode = mode
	m.Maintenance.CompactionRetention = ret.Text
	switch mode {
	case "periodic":
		if ret.Kind == "" {
			v.errf("etcd.autoCompaction.retention", "required: how much history to keep, e.g. \"1h\"")
			break
		}
		if n, err := strconv.Atoi(ret.Text); err == nil && ret.Kind == "number" {
			if n < 0 {
				v.errf("etcd.autoCompaction.retention", "%d must not be negative", n)
			} else if n == 0 {
				v.warnf("etcd.autoCompaction.retention", "0 turns automatic compaction off: the keyspace history grows until the quota raises NOSPACE unless a client compacts")
			}
			break // etcd reads a bare number as hours
		}
		dur, err := time.ParseDuration(ret.Text)
		switch {
		case err != nil || ret.Kind != "string":
			v.errf("etcd.autoCompaction.retention", "%q is not a duration such as \"1h\" or \"30m\"", ret.Text)
		case dur < 0:
			v.errf("etcd.autoCompaction.retention", "%q must not be negative", ret.Text)
		case dur == 0:
			v.warnf("etcd.autoCompaction.retention", "0 turns automatic compaction off: the keyspace history grows until the quota raises NOSPACE unless a client compacts")
		case dur < time.Minute:
			v.warnf("etcd.autoCompaction.retention", "%q keeps under a minute of history: watchers that fall behind that much must re-list", ret.Text)
		}
	case "revision":
		n, err := strconv.ParseInt(ret.Text, 10, 64)
		switch {
		case ret.Kind == "":
			v.errf("etcd.autoCompaction.retention", "required: how many revisions to keep, e.g. 10000")
		case err != nil || n < 0:
			v.errf("etcd.autoCompaction.retention", "%q is not a number of revisions", ret.Text)
		case n == 0:
			v.warnf("etcd.autoCompaction.retention", "0 turns automatic compaction off: the keyspace history grows until the quota raises NOSPACE unless a client compacts")
		}
	default:
		v.errf("etcd.autoCompaction.mode", "%q is not periodic or revision", mode)
	}

	q := int64(or(e.QuotaBackendBytes, d.QuotaBackendBytes))
	m.Maintenance.QuotaBackendBytes = q
	switch {
	case q < quotaMin:
		v.errf("etcd.quotaBackendBytes", "%d is below 16 MiB (%d); etcd's default is 2 GiB (2147483648)", q, quotaMin)
	case q > QuotaRecommendedMax:
		v.warnf("etcd.quotaBackendBytes", "%d is above etcd's suggested maximum of 8 GiB (%d): startup, snapshots, restore and defragmentation all grow with the backend", q, QuotaRecommendedMax)
	}

	if b := e.Backup; b != nil {
		bd := spec.BackupDefaults()
		mb := &Backup{Schedule: or(b.Schedule, bd.Schedule), Keep: or(b.Keep, bd.Keep), Dir: or(b.Dir, bd.Dir),
			RandomizedDelaySec: or(b.RandomizedDelaySec, bd.RandomizedDelaySec)}
		if err := CheckCalendar(mb.Schedule); err != nil {
			v.errf("etcd.backup.schedule", "%v", err)
		}
		if mb.Keep < 1 || mb.Keep > 1000 {
			v.errf("etcd.backup.keep", "%d is out of range 1-1000", mb.Keep)
		}
		v.delay("etcd.backup.randomizedDelaySec", mb.RandomizedDelaySec)
		if v.absPath("etcd.backup.dir", mb.Dir) {
			switch {
			case systemDataDirs[mb.Dir]:
				v.errf("etcd.backup.dir", "%q is a system folder; etcdimg makes the folder 0700 and gives it to the etcd user, so use one of its own such as /var/backups/etcd", mb.Dir)
			case within(mb.Dir, dataDir) || within(dataDir, mb.Dir):
				v.errf("etcd.backup.dir", "%q overlaps the data dir %q; keep snapshots apart from the data they back up", mb.Dir, dataDir)
			case tlsDir != "" && (within(mb.Dir, tlsDir) || within(tlsDir, mb.Dir)):
				v.errf("etcd.backup.dir", "%q overlaps the certificate folder %q", mb.Dir, tlsDir)
			}
		}
		m.Maintenance.Backup = mb
	}
	if f := e.Defrag; f != nil {
		dd := spec.DefragDefaults()
		md := &Defrag{Schedule: or(f.Schedule, dd.Schedule), RandomizedDelaySec: or(f.RandomizedDelaySec, dd.RandomizedDelaySec)}
		if err := CheckCalendar(md.Schedule); err != nil {
			v.errf("etcd.defrag.schedule", "%v", err)
		}
		v.delay("etcd.defrag.randomizedDelaySec", md.RandomizedDelaySec)
		switch nodes {
		case 1:
			v.warnf("etcd.defrag", "the only member is unavailable while it defragments")
		case 2:
			v.warnf("etcd.defrag", "with 2 members, one defragmenting leaves 1 of the 2 a quorum needs, so the defragmentation timer always skips; use 3 or more members")
		}
		m.Maintenance.Defrag = md
	}
}

func (v *validator) delay(p string, s int) {
	if s < 0 || s > 7*86400 {
		v.errf(p, "%d is out of range 0-604800 (a week)", s)
	}
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// ---------------------------------------------------------------------------
// systemd calendar expressions (systemd.time(7), "Calendar Events")

var calendarShorthands = map[string]bool{"minutely": true, "hourly": true, "daily": true, "monthly": true,
	"weekly": true, "yearly": true, "annually": true, "quarterly": true, "semiannually": true}

var weekdays = map[string]bool{}

func init() {
	for _, d := range []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"} {
		weekdays[d] = true
		weekdays[d[:3]] = true
	}
}

var (
	calComponentRE = regexp.MustCompile(`^(\*|[0-9]+)(\.\.[0-9]+)?(/[0-9]+)?$`)
	secComponentRE = regexp.MustCompile(`^(\*|[0-9]+(\.[0-9]{1,6})?)(\.\.[0-9]+(\.[0-9]{1,6})?)?(/[0-9]+(\.[0-9]{1,6})?)?$`)
	timezoneRE     = regexp.MustCompile(`^(UTC|[A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+){0,2})$`)
)

// CheckCalendar checks a systemd OnCalendar expression as far as can be
// done without systemd: the shorthands, or "[weekdays] [date] [time]
// [timezone]" with every field's values in range. Tests hold it against
// `systemd-analyze calendar`.
func CheckCalendar(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("required: a systemd calendar expression such as \"daily\" or \"*-*-* 02:30:00\"")
	}
	if strings.ContainsAny(s, "\n\r\x00%\\\"'") {
		return fmt.Errorf("%q has characters a systemd calendar expression never has", s)
	}
	if calendarShorthands[strings.ToLower(s)] {
		return nil
	}
	fields := strings.Fields(s)
	bad := func(why string, a ...any) error {
		return fmt.Errorf("%q is not a systemd calendar expression (see systemd.time(7)): %s", s, fmt.Sprintf(why, a...))
	}
	i := 0
	if i < len(fields) && isWeekdays(fields[i]) {
		i++
	}
	var date, tod bool
	if i < len(fields) && strings.ContainsAny(fields[i], "-~") && !strings.Contains(fields[i], ":") {
		if err := checkDate(fields[i]); err != nil {
			return bad("%v", err)
		}
		date = true
		i++
	}
	if i < len(fields) && strings.Contains(fields[i], ":") {
		if err := checkTime(fields[i]); err != nil {
			return bad("%v", err)
		}
		tod = true
		i++
	}
	if i < len(fields) && timezoneRE.MatchString(fields[i]) && (date || tod || i > 0) {
		i++
	}
	switch {
	case i < len(fields):
		return bad("unexpected %q", fields[i])
	case !date && !tod && i == 0:
		return bad("no weekday, date or time")
	}
	return nil
}

func isWeekdays(f string) bool {
	for _, part := range strings.Split(f, ",") {
		for _, d := range strings.SplitN(part, "..", 2) {
			if !weekdays[strings.ToLower(d)] {
				return false
			}
		}
	}
	return true
}

func checkDate(f string) error {
	last := false
	if strings.Contains(f, "~") {
		f = strings.Replace(f, "~", "-", 1)
		last = true
	}
	parts := strings.Split(f, "-")
	if len(parts) == 2 {
		parts = append([]string{"*"}, parts...)
	}
	if len(parts) != 3 {
		return fmt.Errorf("date %q is not [YEAR-]MONTH-DAY", f)
	}
	if err := checkComponent("year", parts[0], 1970, 2199); err != nil {
		return err
	}
	if err := checkComponent("month", parts[1], 1, 12); err != nil {
		return err
	}
	maxDay := 31
	if last {
		maxDay = 28 // "~N": the Nth last day, at most 28 back in every month
	}
	return checkComponent("day", parts[2], 1, maxDay)
}

func checkTime(f string) error {
	parts := strings.Split(f, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("time %q is not HOUR:MINUTE[:SECOND]", f)
	}
	if err := checkComponent("hour", parts[0], 0, 23); err != nil {
		return err
	}
	if err := checkComponent("minute", parts[1], 0, 59); err != nil {
		return err
	}
	if len(parts) == 3 {
		for _, c := range strings.Split(parts[2], ",") {
			if !secComponentRE.MatchString(c) {
				return fmt.Errorf("second %q is not a value, range or repetition", c)
			}
			if n, err := strconv.Atoi(strings.SplitN(strings.SplitN(strings.SplitN(c, ".", 2)[0], "/", 2)[0], ".", 2)[0]); err == nil && n > 59 {
				return fmt.Errorf("second %d is out of range 0-59", n)
			}
		}
	}
	return nil
}

// checkComponent checks a comma list of "*", "N", "N..M", with an optional
// "/STEP", each value in lo-hi.
func checkComponent(name, f string, lo, hi int) error {
	for _, c := range strings.Split(f, ",") {
		m := calComponentRE.FindStringSubmatch(c)
		if m == nil {
			return fmt.Errorf("%s %q is not a value, range or repetition", name, c)
		}
		vals := []string{}
		if m[1] != "*" {
			vals = append(vals, m[1])
		}
		if m[2] != "" {
			if m[1] == "*" {
				return fmt.Errorf("%s %q: a range needs a start", name, c)
			}
			vals = append(vals, m[2][2:])
		}
		for _, s := range vals {
			n, _ := strconv.Atoi(s)
			if n < lo || n > hi {
				return fmt.Errorf("%s %d is out of range %d-%d", name, n, lo, hi)
			}
		}
		if m[3] != "" {
			if n, _ := strconv.Atoi(m[3][1:]); n < 1 {
				return fmt.Errorf("%s %q: the repetition must be at least 1", name, c)
			}
		}
	}
	return nil
}
