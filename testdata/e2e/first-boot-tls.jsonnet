// Also node access: the harness's key for the image's default user (debian)
// and for an admin user with a console password hash; it logs in with both.
(import 'cluster.libsonnet').cluster('tls', 3) + {
  access: {
    sshAuthorizedKeys: [std.extVar('e2e_ssh_key')],
    admin: {
      name: 'ops',
      sshAuthorizedKeys: ['from="10.88.0.0/24" ' + std.extVar('e2e_ssh_key')],
      passwordHash: std.extVar('e2e_admin_hash'),
    },
  },
}
