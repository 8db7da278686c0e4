// Node access: a key for the image's default user, and an admin user with
// two keys (one with authorized_keys options) and a console password hash
// (`openssl passwd -6 -salt etcdimgsalt 'correct horse'`).
local etcdimg = import 'etcdimg.libsonnet';

etcdimg.cluster({
  name: 'ops',
  network: { cidr: '10.20.0.0/24', gateway: '10.20.0.1', dns: ['10.20.0.1'] },
  etcd: {
    version: '3.6.16',
    release: { url: 'https://example.invalid/etcd-v3.6.16-linux-amd64.tar.gz', sha256: std.repeat('cd', 32) },
  },
  access: {
    sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEbeeu14JfRlT/HO+00s4MAMDkunL9IB4JTEMG0B3wmf alice@workstation'],
    admin: {
      name: 'ops',
      sshAuthorizedKeys: [
        'from="10.20.0.0/24",no-agent-forwarding ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEbeeu14JfRlT/HO+00s4MAMDkunL9IB4JTEMG0B3wmf alice@workstation',
        'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC1WhFJfTgzskbZ6CjQsf6f5T9LU0BrBA61jewes0z/pvrfkcAYwstp/QCM+Kg61zDmjpO5U3yJfsevq+CybDiN+Mopp12ABNKpT1sHaRWAVyqRoMdZcEdaVt+s/66tEhMhmUYuJ7mQ37Ryzk5g4li0CjqSoAbYmp3Fb8RhilW3CR7cg4TLY8Vm2MHfwA/8hmqqE95+WfKHMr2mDfrtN1B0wXDVzxPJEl1tjSv4KOoX6ABiDXfRNXkiq3tfgXBsafhcRo8yNkZvvOaDXU+nWic82xKaiRohznbWtaOUfmhjp2ypJc2Abm2ZBfmKDVmR+5QaADiYWrTJ/G2/hJRPvP53qneYOWqYzbs7PArZHTSHfDTWp/q49K8uy+f/mhtNPJr1NVy6XVT6tjYmRysmkupmB4ToIBgv4V9HEsoUg/18pcR7iI6xLl3YJ61RHZbMMD8M/0Qsh6nRuxO6y3qF4blVcv0C8rXpHlZ2dAWp5nXDslxbObKDCW1eV7/nN3GmxOU= ops@bastion',
      ],
      passwordHash: '$6$etcdimgsalt$Yy38DG0UkPeSkoOGQzmmn3YZzufCy8ZBPs25Ohy0/EAl2k8pZN4boeECAZPR/bAc/VpKRZ26w5nzAnNh4xNWp/',
    },
  },
  nodes: [etcdimg.node('ops1', '10.20.0.11', mac='52:54:00:20:00:11')],
})
