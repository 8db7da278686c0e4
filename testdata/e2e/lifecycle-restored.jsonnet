// TestLifecycle's restored cluster: the same spec, built with
// --restore-from and a new PKI folder (the old one records the old
// cluster), keeping the old CA (its files in the old PKI folder, passed as
// e2e_old_pki) so clients keep trusting the cluster.
std.mergePatch(import 'lifecycle.jsonnet', {
  tls: { ca: { cert: std.extVar('e2e_old_pki') + '/ca.crt', key: std.extVar('e2e_old_pki') + '/ca.key' } },
})
