package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/etcdimg/etcdimg/internal/durable"
	"github.com/etcdimg/etcdimg/internal/inputfile"
)

// Plan loads what exists and says what Ensure would do, writing nothing. It
// returns the same events, and the same errors, as Ensure would.
func Plan(cfg Config) ([]Event, error) {
	p, err := makePlan(cfg)
	if err != nil {
		return nil, err
	}
	return p.events, nil
}

// Ensure loads the PKI directory, reuses every certificate that is still good
// (see the package doc), issues missing ones, re-issues ones that no longer
// match their spec, and reports every decision in PKI.Events.
//
// Ensure holds the PKI folder's lock (see Lock) while it plans and writes;
// a caller that must keep the PKI stable for longer (a build, until its
// seeds carry the certificates) takes the lock itself and calls
// Locked.Ensure.
func Ensure(cfg Config) (*PKI, error) {
	// Plan first: a wrong config is refused before the folder exists.
	if _, err := makePlan(cfg); err != nil {
		return nil, err
	}
	l, err := Lock(cfg.Dir, cfg.LockTimeout, cfg.OnLockWait)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	return l.Ensure(cfg)
}

// DefaultLockTimeout is how long Lock waits for another run by default.
const DefaultLockTimeout = 10 * time.Minute

// Locked is a PKI folder this process holds the lock of. Two runs on one
// folder at once would each read the other's half-written CA and leaves and
// leave certificates that do not verify against ca.crt; the lock makes the
// second wait.
type Locked struct {
	dir    string // as named
	real   string // links resolved
	unlock func()
}

// Lock creates dir (0700) if missing and takes its lock: an flock on the
// folder itself, released by Unlock or when the process ends, so a killed run
// never leaves a stale lock. While another process holds it, onWait (if set)
// is called once and Lock keeps trying for timeout (0: DefaultLockTimeout),
// then fails naming the folder.
func Lock(dir string, timeout time.Duration, onWait func()) (*Locked, error) {
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	// The operator may name the folder by a link; below it every write goes
	// through real folders only (see durable), so resolve it once here.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	unlock, err := durable.Lock(real, timeout, onWait)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return &Locked{dir: dir, real: real, unlock: unlock}, nil
}

// Unlock releases the lock; it may be called more than once.
func (l *Locked) Unlock() {
	if l.unlock != nil {
		l.unlock()
		l.unlock = nil
	}
}

// Ensure is Ensure for a folder whose lock l holds; cfg.Dir must be it.
func (l *Locked) Ensure(cfg Config) (*PKI, error) {
	if l.unlock == nil || filepath.Clean(cfg.Dir) != filepath.Clean(l.dir) {
		return nil, fmt.Errorf("pki: internal error: %s is not locked", cfg.Dir)
	}
	cfg.Dir = l.real
	p, err := makePlan(cfg)
	if err != nil {
		return nil, err
	}
	return p.execute()
}

// plan is the outcome of looking at Dir: every decision Ensure will carry out.
// Keeping decision and execution apart is what lets Plan be exact without
// writing.
type plan struct {
	cfg          Config
	now          time.Time
	notBefore    time.Time // for anything issued in this run
	leafNotAfter time.Time // for leaves issued in this run, capped by the CA
	ca           caPlan
	leaves       []*leafPlan
	dirFixes     []string // absolute directories to tighten to 0700
	keyFixes     []string // absolute key files to tighten to 0600
	events       []Event
}

type caPlan struct {
	external  bool
	name      string // how messages name the CA certificate
	cert      *x509.Certificate
	key       crypto.Signer // nil when a new key has to be generated
	keyPEM    []byte
	bundlePEM []byte // what Dir/ca.crt holds (or will hold)
	generate  bool   // a new key and self-signed certificate are needed
	writeCert bool   // Dir/ca.crt has to be (re)written
	notAfter  time.Time
}

type leafPlan struct {
	spec    certSpec
	reuse   bool
	key     crypto.Signer // existing key to keep; nil means generate one
	keyPEM  []byte
	cert    *x509.Certificate
	certPEM []byte
}

func (p *plan) abs(rel string) string { return filepath.Join(p.cfg.Dir, filepath.FromSlash(rel)) }

func (p *plan) event(kind, file, format string, args ...any) {
	p.events = append(p.events, Event{Kind: kind, File: file, Detail: fmt.Sprintf(format, args...)})
}

func nodeDirs(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, path.Join("nodes", n.Name))
	}
	return out
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func makePlan(cfg Config) (*plan, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	// Certificates carry whole seconds; truncating keeps comparisons with
	// what was read back from disk exact.
	now := cfg.Now().UTC().Truncate(time.Second)
	p := &plan{cfg: cfg, now: now, notBefore: now.Add(-cfg.Backdate)}
	if err := p.checkDirs(); err != nil {
		return nil, err
	}
	if err := p.planCA(); err != nil {
		return nil, err
	}
	p.leafNotAfter = now.Add(cfg.LeafValidity)
	capped := false
	if p.ca.notAfter.Before(p.leafNotAfter) {
		p.leafNotAfter = p.ca.notAfter
		capped = true
	}
	if err := p.planLeaves(); err != nil {
		return nil, err
	}
	if capped && slices.ContainsFunc(p.leaves, func(l *leafPlan) bool { return !l.reuse }) {
		p.event(EventWarning, "ca.crt", "the CA expires on %s, before the configured leaf validity ends; new certificates end with the CA", day(p.ca.notAfter))
	}
	if err := p.findRemovedNodes(); err != nil {
		return nil, err
	}
	sortEvents(p.events)
	return p, nil
}

// checkDirs refuses non-directories in the way and schedules tightening of
// directories that are open to group or other.
//
// Dir itself may be a link (the operator named it); every folder below it is
// etcdimg's and must be real: a nodes/<node> that links elsewhere would get
// the node's keys written to, and chmodded at, its target.
func (p *plan) checkDirs() error {
	for _, rel := range append([]string{".", "nodes"}, nodeDirs(p.cfg.Nodes)...) {
		stat := os.Lstat
		if rel == "." {
			stat = os.Stat
		}
		fi, err := stat(p.abs(rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return errorf(ErrInvalidConfig, "%s is a symbolic link; etcdimg does not write keys through links it did not create; replace it with a folder", p.abs(rel))
		}
		if !fi.IsDir() {
			return errorf(ErrInvalidConfig, "%s exists and is not a directory; move it away", p.abs(rel))
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			p.dirFixes = append(p.dirFixes, p.abs(rel))
			p.event(EventWarning, rel, "directory permissions %04o allow group/other access; tightening to 0700", perm)
		}
	}
	return nil
}

// checkKeyPerm schedules tightening of a key inside Dir that others can read.
func (p *plan) checkKeyPerm(rel string) error {
	fi, err := os.Lstat(p.abs(rel))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return errorf(ErrInvalidConfig, "%s is a symbolic link; etcdimg does not read, chmod or replace keys through links in its PKI folder; put the key file itself there", p.abs(rel))
	}
	p.checkOwner(p.abs(rel), fi)
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		p.keyFixes = append(p.keyFixes, p.abs(rel))
		p.event(EventWarning, rel, "key permissions %04o allow group/other access; tightening to 0600 (delete the key to rotate it if it may have been read)", perm)
	}
	return nil
}

// checkOwner warns about a key owned by another user than the one running
// etcdimg: that user can read, replace or leak it, and it is a sign the
// folder is shared in a way the operator may not intend.
func (p *plan) checkOwner(file string, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Geteuid() {
		return
	}
	name := file
	if rel, err := filepath.Rel(p.cfg.Dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		name = filepath.ToSlash(rel)
	}
	p.event(EventWarning, name, "owned by uid %d, not by the user running etcdimg (uid %d); that user can read or replace the key (chown it, or keep the PKI in a folder only you own)", st.Uid, os.Geteuid())
}

func unreadable(file string, err error) error {
	return errorf(ErrUnreadableFile, "cannot parse %s: %v; fix or remove it (a removed certificate or key is issued anew)", file, err)
}

func (p *plan) planCA() error {
	if p.cfg.CA.CertFile != "" {
		return p.planExternalCA()
	}
	c := &p.ca
	c.name = p.abs("ca.crt")
	certData, certOK, err := readOptional(p.abs("ca.crt"))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	keyData, keyOK, err := readOptional(p.abs("ca.key"))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	switch {
	case !certOK && !keyOK:
		c.generate, c.writeCert = true, true
		c.notAfter = p.now.Add(p.cfg.CA.Validity)
		p.event(EventIssued, "ca.crt", "new %s CA %q, valid until %s", p.cfg.CA.Algorithm, caCommonName(p.cfg.Cluster), day(c.notAfter))
		return nil
	case certOK && !keyOK:
		return errorf(ErrCAIncomplete, "%s exists but %s is missing; restore the key, or remove the pki directory to generate a new CA (every member then needs new certificates)", p.abs("ca.crt"), p.abs("ca.key"))
	}
	key, err := parseKey(keyData)
	if err != nil {
		return unreadable(p.abs("ca.key"), err)
	}
	if err := checkCAKeyType(p.abs("ca.key"), key); err != nil {
		return err
	}
	c.key, c.keyPEM = key, keyData
	if err := p.checkKeyPerm("ca.key"); err != nil {
		return err
	}
	if alg := keyAlgorithm(key.Public()); alg != p.cfg.CA.Algorithm {
		p.event(EventWarning, "ca.key", "the existing CA key is %s, the config asks for %s; keeping the existing CA (remove the pki directory to start over)", alg, p.cfg.CA.Algorithm)
	}
	if !certOK {
		// Most likely a run died between writing ca.key and ca.crt. A new
		// self-signed certificate for the same key and subject is, to every
		// verifier, the same CA, so nothing issued before is lost.
		// The certificate is made here rather than in execute because the
		// leaves are checked against it; signing writes nothing.
		c.writeCert = true
		c.notAfter = p.now.Add(p.cfg.CA.Validity)
		if err := p.selfSignCA(newKeyGen(p.cfg.Rand)); err != nil {
			return err
		}
		p.event(EventIssued, "ca.crt", "new self-signed certificate for the existing ca.key, valid until %s", day(c.notAfter))
		return nil
	}
	certs, err := parseCerts(certData)
	if err != nil {
		return unreadable(p.abs("ca.crt"), err)
	}
	c.cert, c.bundlePEM, c.notAfter = certs[0], certData, certs[0].NotAfter
	if err := p.checkCA(c.cert, key, p.abs("ca.crt"), p.abs("ca.key")); err != nil {
		return err
	}
	if cn := caCommonName(p.cfg.Cluster); c.cert.Subject.CommonName != cn {
		p.event(EventWarning, "ca.crt", "the CA is named %q, the cluster name gives %q; keeping the existing CA", c.cert.Subject.CommonName, cn)
	}
	p.event(EventReused, "ca.crt", "valid until %s", day(c.notAfter))
	return nil
}

func (p *plan) planExternalCA() error {
	c := &p.ca
	c.external = true
	c.name = p.cfg.CA.CertFile
	if _, ok, err := readOptional(p.abs("ca.key")); err != nil {
		return fmt.Errorf("pki: %w", err)
	} else if ok {
		return errorf(ErrInvalidConfig, "%s belongs to a CA etcdimg generated, but an external CA (%s) is configured; move the pki directory away to switch CAs (every member then needs new certificates), or drop the external CA setting", p.abs("ca.key"), p.cfg.CA.CertFile)
	}
	// Bounded reads of regular files only: /dev/zero or a FIFO named here
	// would otherwise exhaust memory or hang.
	certData, err := inputfile.Read(p.cfg.CA.CertFile, inputfile.MaxPEM)
	if err != nil {
		return errorf(ErrCAIncomplete, "cannot read the external CA certificate: %v", err)
	}
	keyData, err := inputfile.Read(p.cfg.CA.KeyFile, inputfile.MaxPEM)
	if err != nil {
		return errorf(ErrCAIncomplete, "cannot read the external CA key: %v", err)
	}
	certs, err := parseCerts(certData)
	if err != nil {
		return unreadable(p.cfg.CA.CertFile, err)
	}
	key, err := parseKey(keyData)
	if err != nil {
		return unreadable(p.cfg.CA.KeyFile, err)
	}
	if err := checkCAKeyType(p.cfg.CA.KeyFile, key); err != nil {
		return err
	}
	c.cert, c.key, c.notAfter = certs[0], key, certs[0].NotAfter
	if err := p.checkCA(c.cert, key, p.cfg.CA.CertFile, p.cfg.CA.KeyFile); err != nil {
		return err
	}
	if fi, err := os.Stat(p.cfg.CA.KeyFile); err == nil {
		if fi.Mode().Perm()&0o077 != 0 {
			p.event(EventWarning, p.cfg.CA.KeyFile, "CA key permissions %04o allow group/other access; consider chmod 600", fi.Mode().Perm())
		}
		p.checkOwner(p.cfg.CA.KeyFile, fi)
	}
	// Only certificates are copied: a combined cert+key file must not leak
	// the key into the world-readable ca.crt.
	var bundle bytes.Buffer
	for _, cert := range certs {
		bundle.Write(encodeCert(cert.Raw))
	}
	c.bundlePEM = bundle.Bytes()
	existing, ok, err := readOptional(p.abs("ca.crt"))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	switch {
	case !ok:
		c.writeCert = true
		p.event(EventIssued, "ca.crt", "copied from the external CA %s, valid until %s", p.cfg.CA.CertFile, day(c.notAfter))
	case bytes.Equal(existing, c.bundlePEM):
		p.event(EventReused, "ca.crt", "external CA %s, valid until %s", p.cfg.CA.CertFile, day(c.notAfter))
	default:
		c.writeCert = true
		p.event(EventReissued, "ca.crt", "the external CA certificate %s changed; copied again", p.cfg.CA.CertFile)
	}
	return nil
}

func caCommonName(cluster string) string { return "etcdimg " + cluster + " CA" }

func checkCAKeyType(file string, key crypto.Signer) error {
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return nil
	}
	return errorf(ErrCAInvalid, "%s is a %s key; only RSA and ECDSA CAs are supported", file, keyAlgorithm(key.Public()))
}

// checkCA is applied to generated and external CAs alike: a generated CA can
// be tampered with or simply grow old.
func (p *plan) checkCA(cert *x509.Certificate, key crypto.Signer, certFile, keyFile string) error {
	fix := "replace it or remove the pki directory to generate a new CA"
	if p.ca.external {
		fix = "replace it with a valid CA, or drop the external CA setting to have etcdimg generate one"
	}
	if !keyMatches(cert, key) {
		return errorf(ErrCAKeyMismatch, "%s does not belong to %s; configure the key that matches the CA certificate", keyFile, certFile)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return errorf(ErrCAInvalid, "%s is not a CA certificate (basicConstraints CA:TRUE is missing); %s", certFile, fix)
	}
	// RFC 5280: a certificate without a keyUsage extension may be used for
	// any purpose, and OpenSSL's default "req -x509" omits it.
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errorf(ErrCAInvalid, "%s lacks the keyCertSign key usage and cannot sign certificates; %s", certFile, fix)
	}
	if cert.KeyUsage == 0 {
		p.event(EventWarning, "ca.crt", "%s has no keyUsage extension; Go and etcd accept it, strict verifiers such as openssl verify -x509_strict do not", certFile)
	}
	if p.now.Before(cert.NotBefore) {
		return errorf(ErrCANotYetValid, "%s is not valid before %s (now is %s); check this machine's clock", certFile, cert.NotBefore.UTC().Format(time.RFC3339), p.now.Format(time.RFC3339))
	}
	if !p.now.Before(cert.NotAfter) {
		return errorf(ErrCAExpired, "%s expired on %s; %s", certFile, day(cert.NotAfter), fix)
	}
	if left := cert.NotAfter.Sub(p.now); left < caWarnWindow {
		p.event(EventWarning, "ca.crt", "the CA expires on %s (in %d days); plan a CA rotation, every member will need the new CA", day(cert.NotAfter), int(left.Hours()/24))
	}
	return nil
}

func (p *plan) planLeaves() error {
	for _, s := range certList(&p.cfg) {
		l, err := p.planLeaf(s)
		if err != nil {
			return err
		}
		p.leaves = append(p.leaves, l)
	}
	for _, n := range p.cfg.Nodes {
		if len(n.IPs) == 0 {
			p.event(EventWarning, path.Join("nodes", n.Name, "peer.crt"), "node %s has no IP addresses; etcd checks a connecting peer's address against the IP SANs of its peer certificate (or DNS SANs resolving to it)", n.Name)
		}
	}
	return nil
}

func (p *plan) planLeaf(s certSpec) (*leafPlan, error) {
	l := &leafPlan{spec: s}
	crtRel, keyRel := s.certFile(), s.keyFile()
	certData, certOK, err := readOptional(p.abs(crtRel))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	keyData, keyOK, err := readOptional(p.abs(keyRel))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var key crypto.Signer
	if keyOK {
		if key, err = parseKey(keyData); err != nil {
			return nil, unreadable(p.abs(keyRel), err)
		}
	}
	var cert *x509.Certificate
	if certOK {
		certs, err := parseCerts(certData)
		if err != nil {
			return nil, unreadable(p.abs(crtRel), err)
		}
		cert = certs[0]
	}
	keyAlg := ""
	if keyOK {
		keyAlg = keyAlgorithm(key.Public())
	}
	keepKey := keyOK && keyAlg == p.cfg.LeafAlgorithm
	if keepKey {
		l.key, l.keyPEM = key, keyData
		if err := p.checkKeyPerm(keyRel); err != nil {
			return nil, err
		}
	}
	until := day(p.leafNotAfter)
	if !certOK {
		switch {
		case keepKey:
			p.event(EventIssued, crtRel, "new certificate for the existing key, valid until %s", until)
		case keyOK:
			p.event(EventIssued, crtRel, "existing %s key replaced by a new %s key, valid until %s", keyAlg, p.cfg.LeafAlgorithm, until)
		default:
			p.event(EventIssued, crtRel, "new %s key, valid until %s", p.cfg.LeafAlgorithm, until)
		}
		return l, nil
	}
	problems := p.leafProblems(s, cert, key, keyAlg)
	if len(problems) == 0 {
		l.reuse, l.cert, l.certPEM = true, cert, certData
		p.event(EventReused, crtRel, "valid until %s", day(cert.NotAfter))
		return l, nil
	}
	p.event(EventReissued, crtRel, "%s; valid until %s", strings.Join(problems, "; "), until)
	return l, nil
}

// leafProblems lists every reason cert cannot be reused; empty means reuse.
func (p *plan) leafProblems(s certSpec, cert *x509.Certificate, key crypto.Signer, keyAlg string) []string {
	var r []string
	add := func(format string, args ...any) { r = append(r, fmt.Sprintf(format, args...)) }
	switch {
	case key == nil:
		add("key file is missing")
	case !keyMatches(cert, key):
		add("key does not match the certificate")
	}
	if key != nil && keyAlg != p.cfg.LeafAlgorithm {
		add("key is %s, the config asks for %s", keyAlg, p.cfg.LeafAlgorithm)
	}
	ca := p.ca.cert
	switch {
	case ca == nil:
		add("not signed by the current CA (a new CA is being created)")
	case !bytes.Equal(cert.RawIssuer, ca.RawSubject) || cert.CheckSignatureFrom(ca) != nil:
		add("not signed by the current CA")
	}
	if p.now.Before(cert.NotBefore) {
		add("not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))
	}
	renewBefore := min(renewWindow, p.cfg.LeafValidity/2)
	switch left := cert.NotAfter.Sub(p.now); {
	case left <= 0:
		add("expired on %s", day(cert.NotAfter))
	case left < renewBefore && cert.NotAfter.Before(p.leafNotAfter):
		// The second condition stops a renewal loop when the CA itself ends
		// sooner: a new leaf would not live any longer.
		add("expires on %s, less than %d days from now", day(cert.NotAfter), int(renewBefore.Hours()/24))
	}
	want := s.Config
	if !cert.BasicConstraintsValid || cert.IsCA {
		add("basic constraints are not CA:FALSE")
	}
	if cert.Subject.CommonName != want.CommonName {
		add("common name is %q, the spec wants %q", cert.Subject.CommonName, want.CommonName)
	}
	if !slices.Equal(cert.Subject.Organization, want.Organization) {
		add("organization is %q, the spec wants %q", cert.Subject.Organization, want.Organization)
	}
	if added, removed := sanDiff(want, cert); len(added)+len(removed) > 0 {
		var parts []string
		if len(added) > 0 {
			parts = append(parts, "added "+strings.Join(added, ", "))
		}
		if len(removed) > 0 {
			parts = append(parts, "removed "+strings.Join(removed, ", "))
		}
		add("SANs changed: %s", strings.Join(parts, "; "))
	}
	if have, wantEKU := ekuString(cert.ExtKeyUsage, cert.UnknownExtKeyUsage), ekuString(want.ExtKeyUsage, nil); have != wantEKU {
		add("extended key usages are %s, the spec wants %s", have, wantEKU)
	}
	if wantKU := leafKeyUsage(keyAlgorithm(cert.PublicKey)); cert.KeyUsage != wantKU {
		add("key usages are %s, the spec wants %s", kuString(cert.KeyUsage), kuString(wantKU))
	}
	if len(r) == 0 {
		// Last line of defence for anything the checks above do not model
		// (name constraints of an external CA, unknown critical extensions).
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: p.now, KeyUsages: want.ExtKeyUsage}); err != nil {
			add("does not verify against the CA: %v", err)
		}
	}
	return r
}

func sanKeys(dns []string, ips []net.IP, uris, emails []string) []string {
	var out []string
	for _, d := range dns {
		out = append(out, "DNS:"+strings.ToLower(d))
	}
	for _, ip := range ips {
		out = append(out, "IP:"+ip.String())
	}
	for _, u := range uris {
		out = append(out, "URI:"+u)
	}
	for _, e := range emails {
		out = append(out, "email:"+e)
	}
	return out
}

func sanDiff(want certConfig, cert *x509.Certificate) (added, removed []string) {
	var uris []string
	for _, u := range cert.URIs {
		uris = append(uris, u.String())
	}
	w := sanKeys(want.DNSNames, want.IPs, nil, nil)
	h := sanKeys(cert.DNSNames, cert.IPAddresses, uris, cert.EmailAddresses)
	for _, k := range w {
		if !slices.Contains(h, k) {
			added = append(added, k)
		}
	}
	for _, k := range h {
		if !slices.Contains(w, k) {
			removed = append(removed, k)
		}
	}
	return added, removed
}

var ekuNames = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:        "any",
	x509.ExtKeyUsageServerAuth: "serverAuth",
	x509.ExtKeyUsageClientAuth: "clientAuth",
}

func ekuString(ekus []x509.ExtKeyUsage, unknown []asn1.ObjectIdentifier) string {
	var names []string
	for _, e := range ekus {
		if n, ok := ekuNames[e]; ok {
			names = append(names, n)
		} else {
			names = append(names, fmt.Sprintf("eku(%d)", e))
		}
	}
	for _, u := range unknown {
		names = append(names, u.String())
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

func kuString(ku x509.KeyUsage) string {
	var names []string
	for _, k := range []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digitalSignature"},
		{x509.KeyUsageContentCommitment, "contentCommitment"},
		{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
		{x509.KeyUsageDataEncipherment, "dataEncipherment"},
		{x509.KeyUsageKeyAgreement, "keyAgreement"},
		{x509.KeyUsageCertSign, "keyCertSign"},
		{x509.KeyUsageCRLSign, "cRLSign"},
		{x509.KeyUsageEncipherOnly, "encipherOnly"},
		{x509.KeyUsageDecipherOnly, "decipherOnly"},
	} {
		if ku&k.bit != 0 {
			names = append(names, k.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// findRemovedNodes warns about node directories the spec no longer has. Their
// files are left alone: they may still be in use on a running member.
func (p *plan) findRemovedNodes() error {
	entries, err := os.ReadDir(p.abs("nodes"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || slices.ContainsFunc(p.cfg.Nodes, func(n Node) bool { return n.Name == e.Name() }) {
			continue
		}
		p.event(EventWarning, path.Join("nodes", e.Name()), "node %s is not in the spec; its certificates were left in place (delete the directory to remove them)", e.Name())
	}
	return nil
}

func (p *plan) execute() (*PKI, error) {
	if err := os.MkdirAll(p.cfg.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	for _, d := range p.dirFixes {
		if err := os.Chmod(d, dirMode); err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
	}
	for _, f := range p.keyFixes {
		if err := os.Chmod(f, keyMode); err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
	}
	for _, d := range append([]string{"."}, nodeDirs(p.cfg.Nodes)...) {
		if err := removeStaleTemps(p.abs(d)); err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
	}
	kg := newKeyGen(p.cfg.Rand)
	if err := p.executeCA(kg); err != nil {
		return nil, err
	}
	out := &PKI{
		CACertPEM: p.ca.bundlePEM,
		CACert:    p.ca.cert,
		Nodes:     map[string]NodeCerts{},
		Events:    p.events,
	}
	for _, n := range p.cfg.Nodes {
		out.Nodes[n.Name] = NodeCerts{}
	}
	if err := p.generateLeafKeys(kg); err != nil {
		return nil, err
	}
	for _, l := range p.leaves {
		if !l.reuse {
			if err := p.issueLeaf(kg, l); err != nil {
				return nil, err
			}
		}
		ck := CertKey{CertPEM: l.certPEM, KeyPEM: l.keyPEM, Cert: l.cert}
		switch {
		case l.spec.Node != "":
			out.Nodes[l.spec.Node][l.spec.Name] = ck
		case l.spec.Name == ProfileAPIServerEtcdClient:
			out.APIServerEtcdClient = ck
		default:
			out.Admin = ck
		}
	}
	return out, nil
}

func (p *plan) executeCA(kg keyGen) error {
	c := &p.ca
	if c.generate {
		key, err := kg.generate(p.cfg.CA.Algorithm)
		if err != nil {
			return err
		}
		if c.keyPEM, err = encodeKey(key); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		c.key = key
		if err := p.selfSignCA(kg); err != nil {
			return err
		}
		if err := writeFileAtomic(p.abs("ca.key"), c.keyPEM, keyMode); err != nil {
			return fmt.Errorf("pki: writing the CA key: %w", err)
		}
	}
	if c.writeCert {
		if err := writeFileAtomic(p.abs("ca.crt"), c.bundlePEM, certMode); err != nil {
			return fmt.Errorf("pki: writing the CA certificate: %w", err)
		}
	}
	return nil
}

// selfSignCA makes the CA certificate for p.ca.key.
func (p *plan) selfSignCA(kg keyGen) error {
	c := &p.ca
	sn, err := serial(p.cfg.Rand)
	if err != nil {
		return err
	}
	skid, err := subjectKeyID(c.key.Public())
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: caCommonName(p.cfg.Cluster), Organization: []string{p.cfg.Cluster}},
		NotBefore:             p.notBefore,
		NotAfter:              c.notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(kg.signRand(), tmpl, tmpl, c.key.Public(), c.key)
	if err != nil {
		return fmt.Errorf("pki: creating the CA certificate: %w", err)
	}
	if c.cert, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	c.bundlePEM = encodeCert(der)
	return nil
}

// generateLeafKeys creates every missing leaf key up front. With the system
// CSPRNG the keys are independent, so RSA generation (the slow part) runs on
// all cores; with an injected Rand they must come in list order to stay
// reproducible.
func (p *plan) generateLeafKeys(kg keyGen) error {
	var todo []*leafPlan
	for _, l := range p.leaves {
		if !l.reuse && l.key == nil {
			todo = append(todo, l)
		}
	}
	alg := p.cfg.LeafAlgorithm
	if kg.deterministic || alg == AlgECDSAP256 {
		for _, l := range todo {
			key, err := kg.generate(alg)
			if err != nil {
				return err
			}
			l.key = key
		}
	} else {
		keys, err := generateParallel(kg, alg, len(todo))
		if err != nil {
			return err
		}
		for i, l := range todo {
			l.key = keys[i]
		}
	}
	for _, l := range todo {
		keyPEM, err := encodeKey(l.key)
		if err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		l.keyPEM = keyPEM
	}
	return nil
}

// issueLeaf signs l's spec for l.key, checks the result the way etcd will,
// and writes key (if new) before certificate: if the run dies in between,
// the next run sees a mismatched pair and issues a certificate for the new
// key instead of losing it.
func (p *plan) issueLeaf(kg keyGen, l *leafPlan) error {
	ca := p.ca
	want := l.spec.Config
	sn, err := serial(p.cfg.Rand)
	if err != nil {
		return err
	}
	skid, err := subjectKeyID(l.key.Public())
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: want.CommonName, Organization: want.Organization},
		NotBefore:             p.notBefore,
		NotAfter:              p.leafNotAfter,
		KeyUsage:              leafKeyUsage(keyAlgorithm(l.key.Public())),
		ExtKeyUsage:           want.ExtKeyUsage,
		BasicConstraintsValid: true,
		SubjectKeyId:          skid,
		DNSNames:              want.DNSNames,
		IPAddresses:           want.IPs,
	}
	if len(ca.cert.SubjectKeyId) == 0 {
		// Only used by CreateCertificate when the CA has no SKID of its
		// own (some external CAs); OpenSSL's strict mode wants an AKID.
		if tmpl.AuthorityKeyId, err = subjectKeyID(ca.cert.PublicKey); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}
	der, err := x509.CreateCertificate(kg.signRand(), tmpl, ca.cert, l.key.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("pki: issuing %s: %w", l.spec.certFile(), err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: p.now, KeyUsages: want.ExtKeyUsage}); err != nil {
		return errorf(ErrIssuance, "%s does not verify against %s: %v; check the CA's constraints", l.spec.certFile(), ca.name, err)
	}
	l.cert, l.certPEM = cert, encodeCert(der)
	dir := filepath.Dir(p.abs(l.spec.certFile()))
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	existing, _, _ := readOptional(p.abs(l.spec.keyFile()))
	if !bytes.Equal(existing, l.keyPEM) {
		if err := writeFileAtomic(p.abs(l.spec.keyFile()), l.keyPEM, keyMode); err != nil {
			return fmt.Errorf("pki: writing %s: %w", l.spec.keyFile(), err)
		}
	}
	if err := writeFileAtomic(p.abs(l.spec.certFile()), l.certPEM, certMode); err != nil {
		return fmt.Errorf("pki: writing %s: %w", l.spec.certFile(), err)
	}
	return nil
}
