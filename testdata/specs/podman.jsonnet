// Option 3 with podman and an image the VM pulls or has preloaded.
(import 'container.jsonnet') + {
  name: 'podman',
  etcd+: { container: { engine: 'podman', image: 'quay.io/coreos/etcd:v3.6.16' } },
}
