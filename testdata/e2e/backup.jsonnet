// TestBackupRestore: three TLS nodes with scheduled snapshots. The schedule
// fires every minute (spread by up to 15 s per node) so the test, which
// waits for the first run over SSH (the harness's key for the default user),
// sees a snapshot soon after first boot.
std.mergePatch((import 'cluster.libsonnet').cluster('backup', 3), {
  etcd: { backup: { schedule: '*:*:00', keep: 3, randomizedDelaySec: 15 } },
  access: { sshAuthorizedKeys: [std.extVar('e2e_ssh_key')] },
})
