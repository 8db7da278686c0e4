// The cluster from the blog post "Kubernetes cluster step-by-step: ETCD":
// three Debian VMs k8s01-k8s03 at 192.168.0.147-149, etcd as a systemd
// service running as user etcd (uid/gid 1501), heartbeat 1000 ms, election
// 5000 ms, LimitNOFILE 40000 and the legacy client port 4001 - now with etcd
// 3.6 and TLS (the blog's optional section) on by default.
//
//   etcdimg build jsonnet/examples/seed-cluster.jsonnet -o out/seed-cluster \
//     --ext-str etcd_sha256=$(cut -d' ' -f1 out/etcd-release/etcd-v3.6.16-linux-amd64.tar.gz.sha256)
local etcdimg = import 'etcdimg.libsonnet';
local version = '3.6.16';

etcdimg.cluster({
  name: 'k8s',
  token: 'etcd-cluster-1',
  domain: 'virtual.local',
  network: { cidr: '192.168.0.0/24', gateway: '192.168.0.1', dns: ['192.168.0.1'] },
  etcd: {
    version: version,
    // Built offline by `make etcd-release`; pinned by its sha256.
    release: etcdimg.release(version, std.extVar('etcd_sha256'), path='../../out/etcd-release/' + etcdimg.tarballName(version)),
    heartbeatIntervalMs: 1000,
    electionTimeoutMs: 5000,
    extraClientPorts: [4001],
    limitNOFILE: 40000,
  },
  // MACs pin each NIC (network-config matches them); give the VMs these MACs
  // (the scripts of `etcdimg attach` do).
  nodes: [
    etcdimg.node('k8s01', '192.168.0.147', mac='52:54:00:00:01:47'),
    etcdimg.node('k8s02', '192.168.0.148', mac='52:54:00:00:01:48'),
    etcdimg.node('k8s03', '192.168.0.149', mac='52:54:00:00:01:49'),
  ],
})
