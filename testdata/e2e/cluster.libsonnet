// Shared by the e2e specs: nodes on the harness's bridge 10.88.0.0/24 (inside
// a network namespace the test creates), NICs pinned by MAC, the release from
// `make etcd-release` pinned by the sha256 the harness passes in.
local etcdimg = import 'etcdimg.libsonnet';
{
  cluster(name, count, tls=true)::
    etcdimg.cluster({
      name: name,
      domain: 'e2e.test',
      network: { cidr: '10.88.0.0/24', gateway: '10.88.0.1' },
      etcd: {
        version: '3.6.16',
        release: etcdimg.release('3.6.16', std.extVar('etcd_sha256')),
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
