// TestBackupRestore: three TLS nodes with scheduled snapshots. The schedule
// fires every minute (spread by up to 15 s per node) so the guest report,
// which waits for the first run, sees a snapshot soon after first boot; the
// same spec builds the restored cluster (with --restore-from).
std.mergePatch((import 'cluster.libsonnet').cluster('backup', 3), {
  etcd: { backup: { schedule: '*:*:00', keep: 3, randomizedDelaySec: 15 } },
})
