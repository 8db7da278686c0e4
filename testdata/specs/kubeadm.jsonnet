// kubeadm's external etcd: certificates in /etc/kubernetes/pki/etcd, etcd
// as a static pod run by a standalone kubelet (the kubelet drop-in of
// kubeadm's "HA etcd cluster with kubeadm" guide), the API server's client
// certificate in the host PKI.
local etcdimg = import 'etcdimg.libsonnet';
etcdimg.cluster({
  name: 'kube',
  domain: 'virtual.local',
  network: { cidr: '192.168.0.0/24', gateway: '192.168.0.1' },
  etcd: {
    version: '3.6.16',
    release: etcdimg.release('3.6.16', std.repeat('0', 64)),
    runtime: 'static-pod',
  },
  kubeadm: { enabled: true },
  nodes: [
    etcdimg.node('etcd1', '192.168.0.31', mac='52:54:00:00:00:31'),
    etcdimg.node('etcd2', '192.168.0.32', mac='52:54:00:00:00:32'),
    etcdimg.node('etcd3', '192.168.0.33', mac='52:54:00:00:00:33'),
  ],
})
