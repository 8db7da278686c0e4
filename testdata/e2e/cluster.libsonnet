// Shared by the e2e specs: nodes on the harness's bridge 10.88.0.0/24 (inside
// a network namespace the test creates), NICs pinned by MAC, the release from
// `make etcd-release` (or the older one TestLifecycle upgrades from), its
// version and sha256 passed in by the harness (--ext-str etcd_version,
// etcd_sha256).
local etcdimg = import 'etcdimg.libsonnet';
{
  cluster(name, count, tls=true)::
    etcdimg.cluster({
      name: name,
      domain: 'e2e.test',
      network: { cidr: '10.88.0.0/24', gateway: '10.88.0.1' },
      etcd: {
        version: std.extVar('etcd_version'),
        release: etcdimg.release(std.extVar('etcd_version'), std.extVar('etcd_sha256')),
        // TCG guests are slow; the blog's timings leave room.
        heartbeatIntervalMs: 1000,
        electionTimeoutMs: 5000,
      },
      nodes: [
        etcdimg.node('%s%d' % [name, i], '10.88.0.%d' % (10 + i), mac='52:54:00:88:00:%02x' % (10 + i))
        for i in std.range(1, count)
      ],
    } + (if tls then {} else etcdimg.plainHTTP)),

  // Node access (VerifyAccess): the harness's key for the image's default
  // user (debian) and for an admin user with a console password hash; the
  // harness logs in with both.
  access:: {
    access: {
      sshAuthorizedKeys: [std.extVar('e2e_ssh_key')],
      admin: {
        name: 'ops',
        sshAuthorizedKeys: ['from="10.88.0.0/24" ' + std.extVar('e2e_ssh_key')],
        passwordHash: std.extVar('e2e_admin_hash'),
      },
    },
  },

  // TestLifecycle's cluster 'k8s0' of count nodes, with node access and
  // scheduled snapshots (for its backup and restore at the end). The
  // schedule fires every two minutes (spread by up to 15 s per node), so the
  // test, which checks the timer's runs over SSH and waits up to 150 s for
  // one since the node's last boot, finds snapshots; not every minute: each
  // run is two Go binaries and a snapshot in a TCG guest, through the
  // rolling upgrade and the joins too.
  lifecycle(count)::
    std.mergePatch($.cluster('k8s0', count), $.access + {
      etcd: { backup: { schedule: '*:0/2:00', keep: 3, randomizedDelaySec: 15 } },
    }),
}
