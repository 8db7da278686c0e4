// An arm64 cluster: etcd.arch picks the linux-arm64 release, whose binaries
// the build checks are aarch64 ELF files.
local etcdimg = import 'etcdimg.libsonnet';
etcdimg.cluster({
  name: 'arm',
  network: { cidr: '10.20.0.0/24', gateway: '10.20.0.1' },
  etcd: {
    version: '3.6.16',
    arch: 'arm64',
    release: etcdimg.release('3.6.16', std.repeat('a', 64), arch='arm64'),
  },
  nodes: [
    etcdimg.node('arm1', '10.20.0.11', mac='52:54:00:20:00:11'),
    etcdimg.node('arm2', '10.20.0.12', mac='52:54:00:20:00:12'),
    etcdimg.node('arm3', '10.20.0.13', mac='52:54:00:20:00:13'),
  ],
})
