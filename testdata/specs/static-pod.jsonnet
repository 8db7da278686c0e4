// The blog's Option 2: a kubelet static pod, with an operator-chosen image
// and a 3-node TLS cluster; kubelet itself comes with the node image.
local etcdimg = import 'etcdimg.libsonnet';
etcdimg.cluster({
  name: 'kube',
  domain: 'virtual.local',
  network: { cidr: '192.168.0.0/24' },
  etcd: {
    version: '3.6.16',
    release: etcdimg.release('3.6.16', std.repeat('0', 64)),
    runtime: 'static-pod',
    staticPod: { image: 'registry.example.com/etcd:3.6.16', manifestPath: '/etc/kubernetes/manifests/etcd.yaml' },
  },
  nodes: etcdimg.nodes('cp', ['192.168.0.21', '192.168.0.22', '192.168.0.23']),
})
