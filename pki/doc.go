// Package pki issues, persists, reuses and checks every certificate an etcd
// cluster built by etcdimg needs.
//
// Like kubeadm's phases/certs/certlist.go, the certificates are data: a list
// of specs (see certList), each naming the CA that signs it and carrying a
// config built by a profile function. Ensure walks that list, keeps every
// certificate that is still good, issues what is missing, and re-issues what
// no longer matches its spec, reporting each decision as an Event. Plan does
// the same analysis without writing anything.
//
// # Layout on disk
//
// Modelled on kubeadm's /etc/kubernetes/pki/etcd:
//
//	Dir/                         0700
//	Dir/ca.crt                   0644  the CA (an external CA's certificates are copied here)
//	Dir/ca.key                   0600  generated CA only; an external CA's key is read where it is and never copied
//	Dir/admin.crt, admin.key            client certificate for the operator (etcdctl)
//	Dir/nodes/                   0700
//	Dir/nodes/<name>/            0700
//	Dir/nodes/<name>/server.crt, server.key
//	Dir/nodes/<name>/peer.crt, peer.key
//	Dir/nodes/<name>/healthcheck-client.crt, healthcheck-client.key
//
// Certificates are 0644 and keys 0600; keys are always PEM "PRIVATE KEY"
// (PKCS#8), which etcd, etcdctl and OpenSSL all read. Every file is written
// atomically: a temporary file in the same directory, fsync, rename, fsync of
// the directory. A run that dies half way therefore leaves either the old or
// the new version of each file, and the next run repairs a certificate whose
// key was already replaced by issuing a new certificate for that key.
//
// Directories and keys inside Dir with group or other permission bits are not
// refused but tightened (0700, 0600) with a warning event: a PKI committed to
// git comes back from a checkout as 0755/0644, and refusing it would make every
// fresh clone fail. An external CA key with loose permissions only gets a
// warning, since it is not etcdimg's file to change.
//
// # Reuse and re-issue
//
// A certificate is reused only when its key parses and matches it, the key has
// the configured algorithm, it is signed by the current CA and verifies
// against it for the profile's extended key usages, it is valid now and for at
// least 30 more days (or half the leaf validity, if that is shorter), and its
// subject, SANs, key usages and extended key usages equal the spec. Otherwise
// it is re-issued and the event says why. Re-issuing keeps the existing key
// unless the key is missing or of the wrong algorithm: delete a .key file to
// rotate it. A file that exists but cannot be parsed is never overwritten; it
// is an error that names the file.
//
// The CA itself is never replaced: an expired or not yet valid CA, a ca.crt
// without its ca.key, or a generated ca.key next to a configured external CA
// are errors that say how to fix them. Nodes that left the spec keep their
// files, with a warning.
//
// # Determinism
//
// Config.Now and Config.Rand are injected (like Talos' secrets clock) so that
// tests can pin them. Since Go 1.26, crypto/ecdsa, crypto/rsa and friends
// ignore the io.Reader they are given and always use the system CSPRNG
// (GODEBUG=cryptocustomrand=1 restores the reader, but even then
// randutil.MaybeReadByte randomly consumes one extra byte, so the output is
// still not reproducible). This package therefore:
//
//   - always draws serial numbers from Config.Rand;
//   - when Config.Rand is not crypto/rand.Reader, derives ECDSA P-256 keys
//     itself from Config.Rand (rejection-sampled scalar, ecdsa.ParseRawPrivateKey)
//     and signs with deterministic RFC 6979 ECDSA, so that ECDSA issuance is
//     byte-for-byte reproducible from (Now, Rand);
//   - cannot make RSA key generation deterministic: RSA keys always come from
//     the system CSPRNG. RSA signatures (PKCS#1 v1.5) are deterministic anyway.
//
// With the default crypto/rand.Reader, keys come from ecdsa.GenerateKey and
// rsa.GenerateKey and signatures are the standard hedged ones. Reuse is
// deterministic in every case: a second Ensure with an unchanged spec touches
// no file. Package pkitest has the fixed clock and stream tests need;
// testdata/golden is such a PKI, pinned byte for byte by TestGoldenPKI.
//
// # Not handled
//
// Two Ensure calls on the same Dir at the same time are not serialised.
// There is no revocation (CRL/OCSP): etcd does not consult them by default,
// and a compromised node is handled by replacing the CA.
package pki
