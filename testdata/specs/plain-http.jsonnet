// The blog's first setup: plain HTTP, names etcd0-etcd2, the legacy :4001
// client port, node NICs pinned by MAC.
local etcdimg = import 'etcdimg.libsonnet';

etcdimg.cluster({
  name: 'blog',
  token: 'etcd-cluster-1',
  domain: 'virtual.local',
  network: { cidr: '192.168.0.0/24', gateway: '192.168.0.1', dns: ['192.168.0.1'], searchDomains: ['virtual.local'] },
  etcd: {
    version: '3.6.16',
    release: etcdimg.release('3.6.16', std.repeat('0', 64)),
    heartbeatIntervalMs: 1000,
    electionTimeoutMs: 5000,
    extraClientPorts: [4001],
  },
  nodes: [
    etcdimg.node('etcd0', '192.168.0.147', mac='52:54:00:00:01:47'),
    etcdimg.node('etcd1', '192.168.0.148', mac='52:54:00:00:01:48'),
    etcdimg.node('etcd2', '192.168.0.149', mac='52:54:00:00:01:49'),
  ],
} + etcdimg.plainHTTP)
