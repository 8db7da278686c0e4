// etcdimg.libsonnet: helpers for etcdimg cluster specs.
//
// Served from memory by etcdimg (`import 'etcdimg.libsonnet'`), so it always
// matches the binary that reads the result. Defaults are applied by etcdimg
// itself; `defaults` below shows them (it is generated from the same values).
local defaults = import 'etcdimg-defaults.json';

{
  // The value every field gets when a spec leaves it out.
  defaults:: defaults,

  // cluster(spec) returns the spec; it exists so that a spec reads as what it
  // is and so the shape is checked before etcdimg sees it.
  cluster(spec)::
    assert std.isObject(spec) : 'etcdimg.cluster() takes an object';
    assert std.objectHas(spec, 'nodes') : 'etcdimg.cluster(): a cluster needs nodes';
    spec,

  // node(name, ip) is one member. mac pins the NIC (network-config matches on
  // it); interface names it when there is no MAC.
  node(name, ip, mac=null, interface=null, extraSANs=[])::
    { name: name, ip: ip }
    + (if mac != null then { mac: mac } else {})
    + (if interface != null then { interface: interface } else {})
    + (if extraSANs != [] then { extraSANs: extraSANs } else {}),

  // nodes('k8s', ips) names nodes k8s01, k8s02, ... in the order of ips.
  nodes(prefix, ips, first=1, width=2)::
    [
      $.node(prefix + std.format('%0' + width + 'd', first + i), ips[i])
      for i in std.range(0, std.length(ips) - 1)
    ],

  // The file name upstream gives a release tarball; arch is etcd.arch.
  tarballName(version, arch='amd64'):: 'etcd-v%s-linux-%s.tar.gz' % [version, arch],

  // Where upstream publishes it (for operators with internet access).
  upstreamURL(version, arch='amd64')::
    'https://github.com/etcd-io/etcd/releases/download/v%s/%s' % [version, $.tarballName(version, arch)],

  // release(version, sha256) describes the tarball the ISOs carry: a local
  // file (default: what `make etcd-release` writes) or a URL, always pinned
  // by sha256.
  release(version, sha256, path=null, url=null, arch='amd64')::
    { sha256: sha256 }
    + (if url != null then { url: url }
       else { path: if path != null then path else 'out/etcd-release/' + $.tarballName(version, arch) }),

  // Mix in to run the blog's first, unencrypted setup (etcdimg warns).
  plainHTTP:: { tls+: { enabled: false } },
}
