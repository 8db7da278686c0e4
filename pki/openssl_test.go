package pki

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkWithOpenSSL has an independent implementation verify every file of the
// PKI at time now: chains (strict mode), purposes, extensions, validity, and
// that each key is readable and belongs to its certificate.
func checkWithOpenSSL(t *testing.T, cfg Config, p *PKI, now time.Time, strict bool) {
	t.Helper()
	attime := fmt.Sprint(now.Unix())
	ca := filepath.Join(cfg.Dir, "ca.crt")
	type leaf struct {
		file     string
		purposes []string
		want     []string
		notWant  []string
	}
	leaves := []leaf{{
		file:     "admin",
		purposes: []string{"sslclient"},
		want:     []string{"Subject: O = " + cfg.Cluster + ", CN = etcdimg-admin", "TLS Web Client Authentication"},
		notWant:  []string{"TLS Web Server Authentication", "Subject Alternative Name"},
	}}
	for _, n := range cfg.Nodes {
		var ipSANs []string
		for _, ip := range n.IPs {
			ipSANs = append(ipSANs, "IP Address:"+opensslIP(ip.String()))
		}
		both := "TLS Web Server Authentication, TLS Web Client Authentication"
		leaves = append(leaves,
			leaf{
				file:     "nodes/" + n.Name + "/server",
				purposes: []string{"sslserver", "sslclient"},
				want:     append([]string{"CN = " + n.Name, both, "DNS:" + n.Name, "DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"}, ipSANs...),
			},
			leaf{
				file:     "nodes/" + n.Name + "/peer",
				purposes: []string{"sslserver", "sslclient"},
				want:     append([]string{"CN = " + n.Name, both, "DNS:" + n.Name}, ipSANs...),
				notWant:  []string{"localhost", "127.0.0.1"},
			},
			leaf{
				file:     "nodes/" + n.Name + "/healthcheck-client",
				purposes: []string{"sslclient"},
				want:     []string{"CN = " + n.Name + "-healthcheck-client", "TLS Web Client Authentication"},
				notWant:  []string{"TLS Web Server Authentication", "Subject Alternative Name"},
			},
		)
		if n.FQDN != "" {
			leaves[len(leaves)-3].want = append(leaves[len(leaves)-3].want, "DNS:"+n.FQDN)
			leaves[len(leaves)-2].want = append(leaves[len(leaves)-2].want, "DNS:"+n.FQDN)
		}
	}
	backdate := cfg.Backdate
	if backdate == 0 {
		backdate = defaultBackdate
	}
	notBefore := now.Add(-backdate).UTC().Format("Jan _2 15:04:05 2006 GMT")
	for _, l := range leaves {
		crt := filepath.Join(cfg.Dir, l.file+".crt")
		key := filepath.Join(cfg.Dir, l.file+".key")
		for _, purpose := range l.purposes {
			args := []string{"verify", "-attime", attime, "-purpose", purpose, "-CAfile", ca, crt}
			if strict {
				args = append(args[:1], append([]string{"-x509_strict"}, args[1:]...)...)
			}
			out := openssl(t, args...)
			if !strings.Contains(out, ": OK") {
				t.Errorf("%s %s: %s", l.file, purpose, out)
			}
		}
		text := openssl(t, "x509", "-noout", "-text", "-in", crt)
		want := append([]string{
			"CA:FALSE", "Digital Signature", "X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
			"O = " + cfg.Cluster, "Not Before: " + notBefore,
		}, l.want...)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: openssl x509 -text lacks %q:\n%s", l.file, w, text)
			}
		}
		for _, w := range l.notWant {
			if strings.Contains(text, w) {
				t.Errorf("%s: openssl x509 -text has %q", l.file, w)
			}
		}
		if keyPub, certPub := openssl(t, "pkey", "-in", key, "-pubout"), openssl(t, "x509", "-in", crt, "-noout", "-pubkey"); keyPub != certPub {
			t.Errorf("%s: openssl sees a key that does not match the certificate", l.file)
		}
	}
	// Validity window as OpenSSL reads it.
	dates := openssl(t, "x509", "-noout", "-dates", "-in", filepath.Join(cfg.Dir, "admin.crt"))
	if want := "notAfter=" + p.Admin.Cert.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT"); !strings.Contains(dates, want) {
		t.Errorf("admin dates %q, want %q", dates, want)
	}
	// A leaf must not be usable as a CA.
	if out, err := exec.Command("openssl", "verify", "-attime", attime, "-CAfile", filepath.Join(cfg.Dir, "admin.crt"), filepath.Join(cfg.Dir, "nodes", cfg.Nodes[0].Name, "server.crt")).CombinedOutput(); err == nil {
		t.Errorf("leaf accepted as CA: %s", out)
	}
}

// opensslIP renders an IP the way "openssl x509 -text" prints it.
func opensslIP(s string) string {
	if !strings.Contains(s, ":") {
		return s
	}
	// OpenSSL 3.0 prints IPv6 uncompressed, upper case, without leading zeros.
	return strings.Join(parseIPv6Groups(s), ":")
}

func parseIPv6Groups(s string) []string {
	halves := strings.SplitN(s, "::", 2)
	var left, right []string
	if halves[0] != "" {
		left = strings.Split(halves[0], ":")
	}
	if len(halves) == 2 && halves[1] != "" {
		right = strings.Split(halves[1], ":")
	}
	groups := append([]string{}, left...)
	if len(halves) == 2 {
		for range 8 - len(left) - len(right) {
			groups = append(groups, "0")
		}
	}
	groups = append(groups, right...)
	for i, g := range groups {
		groups[i] = strings.ToUpper(strings.TrimLeft(g, "0"))
		if groups[i] == "" {
			groups[i] = "0"
		}
	}
	return groups
}

func TestOpenSSLAcceptsGeneratedPKI(t *testing.T) {
	needOpenSSL(t)
	for _, alg := range []string{AlgECDSAP256, AlgRSA2048} {
		t.Run(alg, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.CA.Algorithm, cfg.LeafAlgorithm = alg, alg
			p := mustEnsure(t, cfg)
			checkWithOpenSSL(t, cfg, p, testNow, true)
			text := openssl(t, "x509", "-noout", "-text", "-in", filepath.Join(cfg.Dir, "ca.crt"))
			for _, w := range []string{"CA:TRUE, pathlen:0", "Certificate Sign, CRL Sign", "Digital Signature", "Subject: O = lab, CN = etcdimg lab CA"} {
				if !strings.Contains(text, w) {
					t.Errorf("ca.crt lacks %q:\n%s", w, text)
				}
			}
			if alg == AlgRSA2048 {
				leaf := openssl(t, "x509", "-noout", "-text", "-in", filepath.Join(cfg.Dir, "nodes/k8s01/server.crt"))
				if !strings.Contains(leaf, "Digital Signature, Key Encipherment") || !strings.Contains(leaf, "sha256WithRSAEncryption") {
					t.Errorf("RSA leaf:\n%s", leaf)
				}
			}
		})
	}
}

// TestOpenSSLMadeCA proves interop the other way round: CAs made by
// "openssl req -x509" in the usual ways load and sign certificates that
// OpenSSL then verifies.
func TestOpenSSLMadeCA(t *testing.T) {
	needOpenSSL(t)
	for name, gen := range map[string]func(dir string) []string{
		// Default config: PKCS#8 RSA key, SKID/AKID, basicConstraints
		// CA:TRUE, no keyUsage at all.
		"rsa-2048 req -newkey": func(dir string) []string {
			return []string{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/ca.key", "-out", dir + "/ca.crt", "-days", "365", "-subj", "/O=Corp/CN=OpenSSL RSA CA"}
		},
		// SEC1 key preceded by an EC PARAMETERS block, explicit key usage.
		"ecdsa ecparam": func(dir string) []string {
			openssl(t, "ecparam", "-name", "prime256v1", "-genkey", "-out", dir+"/ca.key")
			return []string{"req", "-x509", "-key", dir + "/ca.key", "-out", dir + "/ca.crt", "-days", "365", "-subj", "/CN=OpenSSL EC CA",
				"-addext", "keyUsage=critical,keyCertSign,cRLSign"}
		},
		// PKCS#1 RSA key and a CA without SKID/AKID: the leaves get an AKID
		// computed from the CA key so that strict verification still works.
		"rsa pkcs1 no skid": func(dir string) []string {
			openssl(t, "genrsa", "-traditional", "-out", dir+"/ca.key", "2048")
			return []string{"req", "-x509", "-key", dir + "/ca.key", "-out", dir + "/ca.crt", "-days", "365", "-subj", "/CN=OpenSSL Bare CA",
				"-addext", "subjectKeyIdentifier=none", "-addext", "authorityKeyIdentifier=none", "-addext", "keyUsage=critical,keyCertSign"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			openssl(t, gen(dir)...)
			now := time.Now().UTC().Truncate(time.Second)
			cfg := testConfig(t)
			cfg.Now = at(now)
			cfg.CA.CertFile, cfg.CA.KeyFile = dir+"/ca.crt", dir+"/ca.key"
			p, err := Ensure(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// OpenSSL's strict mode (unlike Go, etcd and OpenSSL's default)
			// insists on a keyUsage extension in the CA; the warning says so.
			_, warned := findEvent(p.Events, EventWarning, "ca.crt")
			if noKU := p.CACert.KeyUsage == 0; warned != noKU {
				t.Errorf("CA without keyUsage: %v, warned: %v (%v)", noKU, warned, p.Events)
			}
			// Strict mode also wants a SKID in the CA.
			checkWithOpenSSL(t, cfg, p, now, !warned && len(p.CACert.SubjectKeyId) > 0)
			if name == "rsa pkcs1 no skid" && len(p.CACert.SubjectKeyId) != 0 {
				t.Error("openssl added a SKID after all; the no-SKID path is not exercised")
			}
		})
	}
	t.Run("not a CA", func(t *testing.T) {
		dir := t.TempDir()
		openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir+"/ca.key", "-out", dir+"/ca.crt",
			"-days", "365", "-subj", "/CN=leaf", "-addext", "basicConstraints=critical,CA:FALSE")
		cfg := testConfig(t)
		cfg.Now = time.Now
		cfg.CA.CertFile, cfg.CA.KeyFile = dir+"/ca.crt", dir+"/ca.key"
		_, err := Ensure(cfg)
		wantErr(t, err, ErrCAInvalid, "is not a CA certificate")
	})
}

func TestOpenSSLParsesIPv6Helper(t *testing.T) {
	for in, want := range map[string]string{"2001:db8::13": "2001:DB8:0:0:0:0:0:13", "::1": "0:0:0:0:0:0:0:1", "192.0.2.1": "192.0.2.1"} {
		if got := opensslIP(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
