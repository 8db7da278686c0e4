// Shared by the e2e specs: nodes on the harness's bridge 10.88.0.0/24 (inside
// a network namespace the test creates), NICs pinned by MAC, the release from
// `make etcd-release` (or the older one TestFirstBootTLS upgrades from), its
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
}
