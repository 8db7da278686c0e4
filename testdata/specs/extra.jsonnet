// The operator's own cloud-config merged with etcdimg's: NTP, time zone, an
// apt proxy and mirror, commands before and after etcdimg's, one more user,
// and extra files (one deferred, owned by that user).
local etcdimg = import 'etcdimg.libsonnet';

etcdimg.cluster({
  name: 'extra',
  network: { cidr: '10.30.0.0/24', gateway: '10.30.0.1', dns: ['10.30.0.1'] },
  etcd: {
    version: '3.6.16',
    release: { url: 'https://example.invalid/etcd-v3.6.16-linux-amd64.tar.gz', sha256: std.repeat('ef', 32) },
  },
  cloudConfig: {
    ntp: { enabled: true, servers: ['10.30.0.1'], pools: ['0.debian.pool.ntp.org'] },
    timezone: 'Europe/Berlin',
    locale: 'en_US.UTF-8',
    apt: {
      proxy: 'http://10.30.0.1:3142',
      primary: [{ arches: ['default'], uri: 'http://deb.example.internal/debian' }],
      security: [{ arches: ['default'], uri: 'http://deb.example.internal/debian-security' }],
      sources: { internal: { source: 'deb http://deb.example.internal/tools bookworm main' } },
    },
    ca_certs: { remove_defaults: false },
    packages: ['chrony', ['jq', '1.6*']],
    package_update: false,
    package_upgrade: false,
    package_reboot_if_required: false,
    bootcmd: [['sh', '-c', 'echo early >/run/operator-bootcmd']],
    runcmd: ['echo after etcdimg >/run/operator-runcmd', ['touch', '/run/operator-done']],
    users: [{
      name: 'backup',
      gecos: 'snapshot copier',
      shell: '/bin/sh',
      lock_passwd: true,
      ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEbeeu14JfRlT/HO+00s4MAMDkunL9IB4JTEMG0B3wmf alice@workstation'],
    }],
    final_message: 'etcdimg node up after $UPTIME s',
  },
  files: [
    { path: '/etc/profile.d/etcd-prompt.sh', content: "PS1='[etcd \\h] \\w# '\n" },
    { path: '/home/backup/.config/target', content: 'rsync://10.30.0.1/etcd\n', owner: 'backup:backup', permissions: '0600', defer: true },
  ],
  nodes: [etcdimg.node('extra1', '10.30.0.11', mac='52:54:00:30:00:11')],
})
