// The blog's Option 3: etcd in a Docker container under systemd, with the
// image made on first boot from the release on the ISO (no registry).
local etcdimg = import 'etcdimg.libsonnet';
(import 'plain-http.jsonnet') + {
  name: 'docker',
  tls+: { enabled: true },
  etcd+: { runtime: 'container' },
}
