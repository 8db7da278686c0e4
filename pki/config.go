package pki

import (
	"cmp"
	cryptorand "crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
)

// CAConfig selects the CA that signs every leaf.
type CAConfig struct {
	// Algorithm of a generated CA key: "ecdsa-p256" (default when empty),
	// "rsa-2048", "rsa-3072" or "rsa-4096".
	Algorithm string
	// CertFile and KeyFile name an existing CA (PEM; RSA or ECDSA; PKCS#1,
	// PKCS#8 or SEC1 keys) to use instead of generating one. Both or neither.
	// The first certificate in CertFile signs; all of CertFile's certificates
	// are copied to Dir/ca.crt. The key is never copied.
	CertFile, KeyFile string
	// Validity of a generated CA; default 10 years.
	Validity time.Duration
}

// Node is one etcd member.
type Node struct {
	Name      string   // short name, e.g. "k8s01"; also the directory name
	FQDN      string   // e.g. "k8s01.virtual.local" (may be empty)
	IPs       []net.IP // node IPs (client+peer)
	ExtraSANs []string // DNS names or IP literals for the server certificate
}

// Config describes the PKI of one cluster.
type Config struct {
	Dir           string // PKI directory (created 0700)
	Cluster       string // cluster name: CA CN "etcdimg <cluster> CA" and every O
	CA            CAConfig
	LeafAlgorithm string        // default "ecdsa-p256"
	LeafValidity  time.Duration // default 1 year
	// Backdate moves NotBefore into the past because first-boot guest clocks
	// lag the host's. 0 means the default of 1h; negative disables it.
	Backdate time.Duration
	Nodes    []Node
	// APIServerEtcdClient issues kubeadm's apiserver-etcd-client
	// certificate into Dir (never onto a node: it is for the control
	// plane's kube-apiserver).
	APIServerEtcdClient bool
	Now                 func() time.Time // default time.Now
	Rand                io.Reader        // default crypto/rand.Reader
	// LockTimeout bounds how long Ensure waits for another run holding
	// Dir (0: DefaultLockTimeout); OnLockWait is told once that it waits.
	LockTimeout time.Duration
	OnLockWait  func()
}

// CertKey is one certificate with its private key, both PEM.
type CertKey struct {
	CertPEM, KeyPEM []byte
	Cert            *x509.Certificate
}

// NodeCerts are the certificates of one node, by profile (ProfileServer,
// ProfilePeer, ProfileHealthcheckClient; see nodeProfiles).
type NodeCerts map[string]CertKey

// Event kinds.
const (
	EventIssued   = "issued"
	EventReused   = "reused"
	EventReissued = "reissued"
	EventWarning  = "warning"
)

// Event reports one decision. File is relative to Dir (slash-separated),
// except for warnings about an external CA's own files, which carry the path
// as configured.
type Event struct {
	Kind   string // "issued", "reused", "reissued", "warning"
	File   string
	Detail string
}

func (e Event) String() string {
	if e.Detail == "" {
		return e.Kind + " " + e.File
	}
	return e.Kind + " " + e.File + ": " + e.Detail
}

func sortEvents(ev []Event) {
	slices.SortStableFunc(ev, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Detail, b.Detail))
	})
}

// PKI is the result of Ensure.
type PKI struct {
	CACertPEM []byte
	CACert    *x509.Certificate    // the signing CA (first certificate of CACertPEM)
	Nodes     map[string]NodeCerts // by node name
	Admin     CertKey              // client cert for the operator
	// APIServerEtcdClient is kube-apiserver's client certificate; zero
	// unless Config.APIServerEtcdClient.
	APIServerEtcdClient CertKey
	Events              []Event // sorted, deterministic; warnings never travel as error
}

// Sentinel errors; every error returned by Plan and Ensure that is about the
// PKI itself (rather than I/O) wraps one of them, and its message says how to
// fix the problem.
var (
	ErrInvalidConfig  = errors.New("pki: invalid config")
	ErrCAExpired      = errors.New("pki: ca expired")
	ErrCANotYetValid  = errors.New("pki: ca not yet valid")
	ErrCAInvalid      = errors.New("pki: ca unusable")
	ErrCAKeyMismatch  = errors.New("pki: ca key does not match ca certificate")
	ErrCAIncomplete   = errors.New("pki: ca certificate or key missing")
	ErrUnreadableFile = errors.New("pki: unreadable file")
	ErrIssuance       = errors.New("pki: issued certificate failed verification")
)

// pkiError carries a fix-it message while still matching a sentinel.
type pkiError struct {
	kind error
	msg  string
}

func (e *pkiError) Error() string { return e.msg }
func (e *pkiError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &pkiError{kind: kind, msg: "pki: " + fmt.Sprintf(format, args...)}
}

const (
	defaultCAValidity   = 10 * 365 * 24 * time.Hour
	defaultLeafValidity = 365 * 24 * time.Hour
	defaultBackdate     = time.Hour
	// renewWindow: a leaf with less left than this is re-issued, giving
	// operators a month of runs to roll the new files out.
	renewWindow = 30 * 24 * time.Hour
	// caWarnWindow: a CA this close to expiry still works but gets a warning,
	// because replacing a CA means touching every member.
	caWarnWindow = 90 * 24 * time.Hour
)

// label is a DNS label; node names double as DNS SANs and directory names,
// so this also keeps them free of path separators and "..".
var label = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func validDNSName(s string, wildcardOK bool) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if i == 0 && wildcardOK && p == "*" && len(parts) > 1 {
			continue
		}
		if !label.MatchString(p) {
			return false
		}
	}
	return true
}

// withDefaults validates cfg and fills in defaults, returning a copy.
func withDefaults(cfg Config) (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, errorf(ErrInvalidConfig, format, args...)
	}
	if cfg.Dir == "" {
		return bad("no pki directory given")
	}
	if strings.TrimSpace(cfg.Cluster) == "" {
		return bad("cluster name is empty; it names the CA and goes into every certificate's organization")
	}
	if cfg.CA.Algorithm == "" {
		cfg.CA.Algorithm = AlgECDSAP256
	}
	if !validAlgorithm(cfg.CA.Algorithm) {
		return bad("unknown CA algorithm %q; use ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096", cfg.CA.Algorithm)
	}
	if (cfg.CA.CertFile == "") != (cfg.CA.KeyFile == "") {
		return bad("an external CA needs both a certificate file and a key file (got cert %q, key %q)", cfg.CA.CertFile, cfg.CA.KeyFile)
	}
	if cfg.LeafAlgorithm == "" {
		cfg.LeafAlgorithm = AlgECDSAP256
	}
	if !validAlgorithm(cfg.LeafAlgorithm) {
		return bad("unknown leaf algorithm %q; use ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096", cfg.LeafAlgorithm)
	}
	switch {
	case cfg.CA.Validity < 0:
		return bad("negative CA validity %s", cfg.CA.Validity)
	case cfg.CA.Validity == 0:
		cfg.CA.Validity = defaultCAValidity
	}
	switch {
	case cfg.LeafValidity < 0:
		return bad("negative leaf validity %s", cfg.LeafValidity)
	case cfg.LeafValidity == 0:
		cfg.LeafValidity = defaultLeafValidity
	}
	switch {
	case cfg.Backdate < 0:
		cfg.Backdate = 0
	case cfg.Backdate == 0:
		cfg.Backdate = defaultBackdate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = cryptorand.Reader
	}
	seen := map[string]bool{}
	nodes := make([]Node, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		if !label.MatchString(n.Name) {
			return bad("node name %q must be a DNS label (letters, digits, '-'); it is used as a SAN and a directory name", n.Name)
		}
		if seen[strings.ToLower(n.Name)] {
			return bad("node %q appears twice", n.Name)
		}
		seen[strings.ToLower(n.Name)] = true
		if n.FQDN != "" && !validDNSName(n.FQDN, false) {
			return bad("node %s: fqdn %q is not a valid DNS name", n.Name, n.FQDN)
		}
		for _, ip := range n.IPs {
			if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
				return bad("node %s: invalid IP %v", n.Name, []byte(ip))
			}
		}
		for _, s := range n.ExtraSANs {
			if net.ParseIP(s) == nil && !validDNSName(s, true) {
				return bad("node %s: extra SAN %q is neither an IP address nor a DNS name", n.Name, s)
			}
		}
		n.IPs = slices.Clone(n.IPs)
		n.ExtraSANs = slices.Clone(n.ExtraSANs)
		nodes[i] = n
	}
	cfg.Nodes = nodes
	return cfg, nil
}
