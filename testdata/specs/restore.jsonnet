// Three nodes with snapshot and defragmentation timers on their defaults;
// the golden test also renders it as a cluster restored from a snapshot
// (what `build --restore-from` adds), so both appear in the goldens.
local etcdimg = import 'etcdimg.libsonnet';

etcdimg.cluster({
  name: 'kv',
  network: { cidr: '10.20.0.0/24', gateway: '10.20.0.1' },
  etcd: {
    version: '3.6.16',
    release: etcdimg.release('3.6.16', std.repeat('cd', 32), path='etcd-v3.6.16-linux-amd64.tar.gz'),
    backup: {},
    defrag: {},
  },
  nodes: [
    etcdimg.node('kv1', '10.20.0.11', mac='52:54:00:20:00:11'),
    etcdimg.node('kv2', '10.20.0.12', mac='52:54:00:20:00:12'),
    etcdimg.node('kv3', '10.20.0.13', mac='52:54:00:20:00:13'),
  ],
})
