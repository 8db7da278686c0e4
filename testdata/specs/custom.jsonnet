// Everything away from the defaults: IPv6 node network, etcd 3.5, own user
// and ids, extra flags with values that need quoting, TLS 1.3, one node,
// revision compaction, a larger quota, snapshot and defragmentation timers.
local etcdimg = import 'etcdimg.libsonnet';

etcdimg.cluster({
  name: 'edge',
  network: { cidr: 'fd00:10::/64', gateway: 'fd00:10::1', interface: 'ens3' },
  etcd: {
    version: '3.5.21',
    release: { url: 'https://example.invalid/etcd-v3.5.21-linux-amd64.tar.gz', sha256: std.repeat('ab', 32) },
    clientPort: 12379,
    peerPort: 12380,
    listenLocalhost: false,
    dataDir: '/srv/etcd/data',
    limitNOFILE: 65536,
    user: { name: 'kv', uid: 2001, group: 'kvgrp', gid: 2002 },
    autoCompaction: { mode: 'revision', retention: 10000 },
    quotaBackendBytes: 4294967296,
    backup: { schedule: '*-*-* 02:30:00', keep: 3, dir: '/srv/etcd/snapshots', randomizedDelaySec: 600 },
    defrag: { schedule: 'Sat *-*-* 04:00' },
    extraFlags: {
      'snapshot-count': 5000,
      'log-level': 'warn',
    },
  },
  tls: { minVersion: 'TLS1.3', dir: '/etc/kv/tls' },
  nodes: [etcdimg.node('edge1', 'fd00:10::11', extraSANs=['kv.example.com', '10.0.0.1'])],
})
