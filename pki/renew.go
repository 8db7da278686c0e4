package pki

import (
	"bytes"
	"crypto"
	cryptorand "crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RenewOptions says what `etcdimg certs renew` renews in a PKI folder.
//
// Renewal takes every attribute (subject, SANs, key usages) from the
// certificate it replaces, as kubeadm's `certs renew` does, so it needs no
// spec: a renewed certificate is the old one with new dates and serial.
type RenewOptions struct {
	Dir string
	// Nodes limits leaf renewal to these nodes' certificates (the admin
	// certificate is then left alone); empty: every leaf.
	Nodes []string
	// NewKeys replaces each renewed leaf's key with a new one of the same
	// algorithm; by default keys are kept (see RenewLeaves).
	NewKeys bool
	// Validity of the renewed certificates; 0 keeps each certificate's own
	// validity period (rounded to whole days).
	Validity time.Duration
	// CAKeyFile is an external CA's key (its certificate is Dir/ca.crt);
	// empty: Dir/ca.key.
	CAKeyFile string
	Backdate  time.Duration    // 0: 1h, as Ensure; negative: none
	Now       func() time.Time // default time.Now
	Rand      io.Reader        // default crypto/rand.Reader
}

// Renewal is one renewed certificate.
type Renewal struct {
	File         string    `json:"file"`
	Subject      string    `json:"subject"`
	OldSerial    string    `json:"oldSerial"`
	Serial       string    `json:"serial"`
	OldNotAfter  time.Time `json:"oldNotAfter"`
	NotAfter     time.Time `json:"notAfter"`
	KeyReplaced  bool      `json:"keyReplaced"`
	CappedByCA   bool      `json:"cappedByCA,omitempty"`
	RemovedCerts int       `json:"removedFromBundle,omitempty"` // CA only
}

func (o *RenewOptions) defaults() (now time.Time, backdate time.Duration, err error) {
	if o.Dir == "" {
		return time.Time{}, 0, errorf(ErrInvalidConfig, "no pki directory given")
	}
	if o.Validity < 0 {
		return time.Time{}, 0, errorf(ErrInvalidConfig, "negative validity %s", o.Validity)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = cryptorand.Reader
	}
	backdate = o.Backdate
	switch {
	case backdate == 0:
		backdate = defaultBackdate
	case backdate < 0:
		backdate = 0
	}
	return o.Now().UTC().Truncate(time.Second), backdate, nil
}

// loadCA reads Dir/ca.crt (its first certificate signs) and the CA key.
func (o *RenewOptions) loadCA() (certs []*x509.Certificate, key crypto.Signer, keyFile string, err error) {
	certFile := filepath.Join(o.Dir, "ca.crt")
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, "", errorf(ErrCAIncomplete, "cannot read the CA certificate: %v", err)
	}
	if certs, err = parseCerts(data); err != nil {
		return nil, nil, "", unreadable(certFile, err)
	}
	keyFile = o.CAKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(o.Dir, "ca.key")
	}
	keyData, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) && o.CAKeyFile == "" {
		return nil, nil, "", errorf(ErrCAIncomplete, "%s is missing: an external CA's key is not kept in the PKI folder; pass its key file (--ca-key)", keyFile)
	}
	if err != nil {
		return nil, nil, "", errorf(ErrCAIncomplete, "cannot read the CA key: %v", err)
	}
	if key, err = parseKey(keyData); err != nil {
		return nil, nil, "", unreadable(keyFile, err)
	}
	if !keyMatches(certs[0], key) {
		return nil, nil, "", errorf(ErrCAKeyMismatch, "%s does not belong to %s", keyFile, certFile)
	}
	return certs, key, keyFile, nil
}

type renewLeaf struct {
	rel, keyRel string
	old         *x509.Certificate
	key         crypto.Signer
	keyPEM      []byte
	newKey      bool
	certPEM     []byte
	r           Renewal
}

// RenewLeaves re-issues leaf certificates (admin.crt and nodes/*/*.crt, or
// only the nodes named) from the CA in Dir, each with the attributes of the
// certificate it replaces, new dates and a new serial.
//
// Keys are kept unless NewKeys: a renewal is about time, not about a key
// that may have leaked, and a kept key lets etcd (which reads its certificate
// and key files again for every new connection) never see a certificate with
// the other file's key. Rotate keys with NewKeys, or by deleting a .key and
// rebuilding.
//
// Everything is signed and verified in memory first; nothing is written
// unless every certificate could be renewed. Each file is then replaced
// atomically, a new key before its certificate.
func RenewLeaves(o RenewOptions) ([]Renewal, error) {
	now, backdate, err := o.defaults()
	if err != nil {
		return nil, err
	}
	caCerts, caKey, _, err := o.loadCA()
	if err != nil {
		return nil, err
	}
	ca := caCerts[0]
	if !now.Before(ca.NotAfter) {
		return nil, errorf(ErrCAExpired, "the CA expired on %s; renew it first (etcdimg certs renew --ca)", day(ca.NotAfter))
	}
	infos, err := Inspect(o.Dir, now, 0)
	if err != nil {
		return nil, err
	}
	var leaves []*renewLeaf
	known := map[string]bool{}
	for _, in := range infos {
		if in.IsCA || strings.HasPrefix(in.File, "ca.crt") {
			continue
		}
		node := ""
		if parts := strings.Split(in.File, "/"); len(parts) == 3 && parts[0] == "nodes" {
			node = parts[1]
		}
		known[node] = true
		if len(o.Nodes) > 0 && !slices.Contains(o.Nodes, node) {
			continue
		}
		leaves = append(leaves, &renewLeaf{rel: in.File, keyRel: strings.TrimSuffix(in.File, ".crt") + ".key", old: in.Cert})
	}
	for _, n := range o.Nodes {
		if !known[n] {
			return nil, errorf(ErrInvalidConfig, "no certificates of node %q in %s", n, o.Dir)
		}
	}
	if len(leaves) == 0 {
		return nil, errorf(ErrInvalidConfig, "no leaf certificates in %s", o.Dir)
	}
	kg := newKeyGen(o.Rand)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, l := range leaves {
		if !bytes.Equal(l.old.RawIssuer, ca.RawSubject) || l.old.CheckSignatureFrom(ca) != nil {
			return nil, errorf(ErrCAInvalid, "%s was not issued by the CA in ca.crt; renewing it would change who issued it: rebuild instead", l.rel)
		}
		keyData, ok, err := readOptional(filepath.Join(o.Dir, filepath.FromSlash(l.keyRel)))
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		if !ok && !o.NewKeys {
			return nil, errorf(ErrUnreadableFile, "%s is missing; renew with new keys (--new-keys) or rebuild", l.keyRel)
		}
		if ok {
			if l.key, err = parseKey(keyData); err != nil {
				return nil, unreadable(filepath.Join(o.Dir, l.keyRel), err)
			}
			if !keyMatches(l.old, l.key) && !o.NewKeys {
				return nil, errorf(ErrCAKeyMismatch, "%s does not belong to %s; renew with new keys (--new-keys) or rebuild", l.keyRel, l.rel)
			}
			l.keyPEM = keyData
		}
		if o.NewKeys {
			alg := keyAlgorithm(l.old.PublicKey)
			if !validAlgorithm(alg) {
				return nil, errorf(ErrInvalidConfig, "%s has a %s key; new keys can be ecdsa-p256 or rsa-2048/3072/4096", l.rel, alg)
			}
			if l.key, err = kg.generate(alg); err != nil {
				return nil, err
			}
			if l.keyPEM, err = encodeKey(l.key); err != nil {
				return nil, fmt.Errorf("pki: %w", err)
			}
			l.newKey = true
		}
		validity := o.Validity
		if validity == 0 {
			validity = l.old.NotAfter.Sub(l.old.NotBefore).Round(24 * time.Hour)
		}
		notAfter, capped := now.Add(validity), false
		if ca.NotAfter.Before(notAfter) {
			notAfter, capped = ca.NotAfter, true
		}
		sn, err := serial(o.Rand)
		if err != nil {
			return nil, err
		}
		skid, err := subjectKeyID(l.key.Public())
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          sn,
			RawSubject:            l.old.RawSubject,
			NotBefore:             now.Add(-backdate),
			NotAfter:              notAfter,
			KeyUsage:              l.old.KeyUsage,
			ExtKeyUsage:           l.old.ExtKeyUsage,
			UnknownExtKeyUsage:    l.old.UnknownExtKeyUsage,
			BasicConstraintsValid: true,
			SubjectKeyId:          skid,
			DNSNames:              l.old.DNSNames,
			IPAddresses:           l.old.IPAddresses,
			URIs:                  l.old.URIs,
			EmailAddresses:        l.old.EmailAddresses,
		}
		if len(ca.SubjectKeyId) == 0 {
			if tmpl.AuthorityKeyId, err = subjectKeyID(ca.PublicKey); err != nil {
				return nil, fmt.Errorf("pki: %w", err)
			}
		}
		der, err := x509.CreateCertificate(kg.signRand(), tmpl, ca, l.key.Public(), caKey)
		if err != nil {
			return nil, fmt.Errorf("pki: renewing %s: %w", l.rel, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		usages := cert.ExtKeyUsage
		if len(usages) == 0 {
			usages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: usages}); err != nil {
			return nil, errorf(ErrIssuance, "renewed %s does not verify against ca.crt: %v", l.rel, err)
		}
		l.certPEM = encodeCert(der)
		l.r = Renewal{File: l.rel, Subject: cert.Subject.CommonName, OldSerial: fmt.Sprintf("%x", l.old.SerialNumber),
			Serial: fmt.Sprintf("%x", cert.SerialNumber), OldNotAfter: l.old.NotAfter.UTC(), NotAfter: cert.NotAfter.UTC(),
			KeyReplaced: l.newKey, CappedByCA: capped}
	}
	out := make([]Renewal, 0, len(leaves))
	for _, l := range leaves {
		if l.newKey {
			if err := writeFileAtomic(filepath.Join(o.Dir, filepath.FromSlash(l.keyRel)), l.keyPEM, keyMode); err != nil {
				return out, fmt.Errorf("pki: writing %s: %w", l.keyRel, err)
			}
		}
		if err := writeFileAtomic(filepath.Join(o.Dir, filepath.FromSlash(l.rel)), l.certPEM, certMode); err != nil {
			return out, fmt.Errorf("pki: writing %s: %w", l.rel, err)
		}
		out = append(out, l.r)
	}
	return out, nil
}

// RenewCA re-signs the CA certificate with its own key: same subject, same
// key and key identifier, new dates and serial. Every certificate the CA
// issued verifies against the new CA certificate as against the old one, and
// the old and the new CA certificate each verify what the same key signs, so
// nodes may get the new ca.crt at any time before the old one expires: trust
// continues, no flag day. Only a CA etcdimg generated (Dir/ca.key) can be
// renewed here; an external CA is renewed by whoever owns it.
//
// Dir/ca.crt is rewritten with the new certificate first; other certificates
// of a bundle (a CA rotation, see README) are kept, the old certificate of the
// same CA is dropped.
func RenewCA(o RenewOptions) (Renewal, error) {
	now, backdate, err := o.defaults()
	if err != nil {
		return Renewal{}, err
	}
	if o.CAKeyFile != "" {
		return Renewal{}, errorf(ErrInvalidConfig, "an external CA (key %s) is renewed by whoever owns it; etcdimg renews only the CA it generated", o.CAKeyFile)
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "ca.key")); errors.Is(err, os.ErrNotExist) {
		return Renewal{}, errorf(ErrInvalidConfig, "%s has no ca.key: its CA is external, and renewed by whoever owns it", o.Dir)
	}
	certs, key, _, err := o.loadCA()
	if err != nil {
		return Renewal{}, err
	}
	old := certs[0]
	if err := checkCAKeyType("ca.key", key); err != nil {
		return Renewal{}, err
	}
	validity := o.Validity
	if validity == 0 {
		validity = old.NotAfter.Sub(old.NotBefore).Round(24 * time.Hour)
	}
	sn, err := serial(o.Rand)
	if err != nil {
		return Renewal{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		RawSubject:            old.RawSubject,
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              old.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            old.MaxPathLen,
		MaxPathLenZero:        old.MaxPathLenZero,
		SubjectKeyId:          old.SubjectKeyId,
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	}
	if len(tmpl.SubjectKeyId) == 0 {
		if tmpl.SubjectKeyId, err = subjectKeyID(key.Public()); err != nil {
			return Renewal{}, fmt.Errorf("pki: %w", err)
		}
	}
	kg := newKeyGen(o.Rand)
	der, err := x509.CreateCertificate(kg.signRand(), tmpl, tmpl, key.Public(), key)
	if err != nil {
		return Renewal{}, fmt.Errorf("pki: renewing the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Renewal{}, fmt.Errorf("pki: %w", err)
	}
	// Everything the old CA issued must verify against the new one.
	infos, err := Inspect(o.Dir, now, 0)
	if err != nil {
		return Renewal{}, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, in := range infos {
		if in.IsCA || !bytes.Equal(in.Cert.RawIssuer, old.RawSubject) || in.Cert.CheckSignatureFrom(old) != nil {
			continue
		}
		if !now.Before(in.Cert.NotAfter) {
			continue // expired leaves verify against nothing; renew them next
		}
		if _, err := in.Cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return Renewal{}, errorf(ErrIssuance, "%s does not verify against the renewed CA: %v", in.File, err)
		}
	}
	bundle := encodeCert(der)
	removed := 0
	for _, c := range certs {
		if bytes.Equal(c.RawSubject, old.RawSubject) && bytes.Equal(c.RawSubjectPublicKeyInfo, old.RawSubjectPublicKeyInfo) {
			removed++
			continue
		}
		bundle = append(bundle, encodeCert(c.Raw)...)
	}
	if err := writeFileAtomic(filepath.Join(o.Dir, "ca.crt"), bundle, certMode); err != nil {
		return Renewal{}, fmt.Errorf("pki: writing ca.crt: %w", err)
	}
	return Renewal{File: "ca.crt", Subject: cert.Subject.CommonName, OldSerial: fmt.Sprintf("%x", old.SerialNumber),
		Serial: fmt.Sprintf("%x", cert.SerialNumber), OldNotAfter: old.NotAfter.UTC(), NotAfter: cert.NotAfter.UTC(),
		RemovedCerts: removed}, nil
}
