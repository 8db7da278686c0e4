package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Certificate states, from the worst.
const (
	StateExpired     = "expired"
	StateNotYetValid = "not-yet-valid"
	StateExpiring    = "expiring"
	StateOK          = "ok"
)

// CertInfo is one certificate found in a PKI folder (or served by an
// endpoint, see Served), as `etcdimg certs check` reports it.
type CertInfo struct {
	// File is relative to the PKI folder, slash-separated; a CA bundle lists
	// every certificate as ca.crt#1, ca.crt#2, ...
	File      string    `json:"file"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	IsCA      bool      `json:"isCA"`
	DNSNames  []string  `json:"dnsNames,omitempty"`
	IPs       []string  `json:"ips,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// DaysLeft is whole days until NotAfter (negative once expired).
	DaysLeft int    `json:"daysLeft"`
	State    string `json:"state"`
	// Key is the key file beside the certificate ("" for none) and whether
	// it belongs to the certificate.
	Key      string `json:"key,omitempty"`
	KeyMatch bool   `json:"keyMatch,omitempty"`

	Cert *x509.Certificate `json:"-"`
}

// NeedsAttention is true for a certificate that is expired, not valid yet,
// or expiring within the threshold.
func (c CertInfo) NeedsAttention() bool { return c.State != StateOK }

// Describe fills the fields of c that come from cert, judged at now against
// threshold.
func Describe(file string, cert *x509.Certificate, now time.Time, threshold time.Duration) CertInfo {
	c := CertInfo{
		File: file, Subject: cert.Subject.CommonName, Issuer: cert.Issuer.CommonName,
		Serial: fmt.Sprintf("%x", cert.SerialNumber), IsCA: cert.IsCA,
		DNSNames: slices.Clone(cert.DNSNames), NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), Cert: cert,
	}
	for _, ip := range cert.IPAddresses {
		c.IPs = append(c.IPs, ip.String())
	}
	left := cert.NotAfter.Sub(now)
	c.DaysLeft = int(left.Hours() / 24)
	if left < 0 {
		c.DaysLeft = -int((-left).Hours()/24) - 1
	}
	switch {
	case !now.Before(cert.NotAfter):
		c.State = StateExpired
	case now.Before(cert.NotBefore):
		c.State = StateNotYetValid
	case left < threshold:
		c.State = StateExpiring
	default:
		c.State = StateOK
	}
	return c
}

// Inspect lists every certificate of a PKI folder — ca.crt (each certificate
// of a bundle), admin.crt and nodes/<node>/*.crt, in that order — with its
// expiry judged at now against threshold, and whether its key is there and
// matches. It reads only; a file that does not parse is an error naming it.
func Inspect(dir string, now time.Time, threshold time.Duration) ([]CertInfo, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	} else if !fi.IsDir() {
		return nil, errorf(ErrInvalidConfig, "%s is not a directory", dir)
	}
	var files []string
	for _, f := range []string{"ca.crt", "admin.crt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 || files[0] != "ca.crt" {
		return nil, errorf(ErrCAIncomplete, "%s has no ca.crt; is it a PKI folder?", dir)
	}
	nodes, err := os.ReadDir(filepath.Join(dir, "nodes"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pki: %w", err)
	}
	for _, n := range nodes {
		if !n.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dir, "nodes", n.Name()))
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".crt") && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, path.Join("nodes", n.Name(), e.Name()))
			}
		}
	}
	var out []CertInfo
	for _, f := range files {
		abs := filepath.Join(dir, filepath.FromSlash(f))
		data, err := os.ReadFile(abs)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		certs, err := parseCerts(data)
		if err != nil {
			return nil, unreadable(abs, err)
		}
		keyRel := strings.TrimSuffix(f, ".crt") + ".key"
		keyData, keyOK, err := readOptional(filepath.Join(dir, filepath.FromSlash(keyRel)))
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		for i, cert := range certs {
			name := f
			if len(certs) > 1 {
				name = fmt.Sprintf("%s#%d", f, i+1)
			}
			c := Describe(name, cert, now, threshold)
			if keyOK && i == 0 {
				c.Key = keyRel
				if key, err := parseKey(keyData); err == nil {
					c.KeyMatch = keyMatches(cert, key)
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}
