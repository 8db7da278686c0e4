package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"runtime"
	"sync"
)

// Key algorithms accepted in CAConfig.Algorithm and Config.LeafAlgorithm.
const (
	AlgECDSAP256 = "ecdsa-p256"
	AlgRSA2048   = "rsa-2048"
	AlgRSA3072   = "rsa-3072"
	AlgRSA4096   = "rsa-4096"
)

var rsaBits = map[string]int{AlgRSA2048: 2048, AlgRSA3072: 3072, AlgRSA4096: 4096}

func validAlgorithm(alg string) bool {
	_, isRSA := rsaBits[alg]
	return alg == AlgECDSAP256 || isRSA
}

// keyAlgorithm names a public key the way the config does, so that a key on
// disk can be compared with the configured algorithm.
func keyAlgorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ecdsa-p256"
		case elliptic.P384():
			return "ecdsa-p384"
		case elliptic.P521():
			return "ecdsa-p521"
		}
		return "ecdsa-" + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// keyGen makes new private keys. deterministic is set when the caller injected
// its own Rand: Go 1.26 ignores custom readers in ecdsa.GenerateKey (see the
// package doc), so P-256 keys are derived here directly from the stream.
type keyGen struct {
	rand          io.Reader
	deterministic bool
}

func newKeyGen(r io.Reader) keyGen {
	return keyGen{rand: r, deterministic: r != cryptorand.Reader}
}

func (g keyGen) generate(alg string) (crypto.Signer, error) {
	if alg == AlgECDSAP256 {
		if !g.deterministic {
			return ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
		}
		// Rejection sampling: ParseRawPrivateKey refuses zero and values
		// >= the group order, which happens with probability ~2^-32 per try.
		buf := make([]byte, 32)
		for range 64 {
			if _, err := io.ReadFull(g.rand, buf); err != nil {
				return nil, fmt.Errorf("pki: reading randomness for an ecdsa key: %w", err)
			}
			if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), buf); err == nil {
				return k, nil
			}
		}
		return nil, errors.New("pki: the random source keeps producing invalid ecdsa scalars; is it constant?")
	}
	if bits, ok := rsaBits[alg]; ok {
		// The reader is ignored by Go 1.26 anyway; pass the real one so the
		// call does not depend on the GODEBUG setting.
		return rsa.GenerateKey(cryptorand.Reader, bits)
	}
	return nil, fmt.Errorf("pki: unknown key algorithm %q", alg)
}

// signRand is the reader handed to x509.CreateCertificate. nil selects
// RFC 6979 deterministic ECDSA signatures (and is ignored by RSA PKCS#1 v1.5),
// which is what makes issuance reproducible with an injected Rand.
func (g keyGen) signRand() io.Reader {
	if g.deterministic {
		return nil
	}
	return cryptorand.Reader
}

// serial returns a positive serial with 127 random bits that always encodes
// in at most 16 octets.
func serial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	for range 16 {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("pki: reading randomness for a serial number: %w", err)
		}
		b[0] &= 0x7f
		if s := new(big.Int).SetBytes(b); s.Sign() > 0 {
			return s, nil
		}
	}
	return nil, errors.New("pki: the random source keeps producing zero serial numbers; is it constant?")
}

// subjectKeyID follows RFC 7093 section 2 method 1 (leftmost 160 bits of the
// SHA-256 of the subjectPublicKey bits), the same as Go uses for CAs, so that
// leaves carry one too and OpenSSL's -x509_strict chain building is happy.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	h := sha256.Sum256(spki.PublicKey.Bytes)
	return h[:20], nil
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// parseKey reads the first private key in data, in any of the encodings
// OpenSSL and cfssl commonly produce. Non-key blocks such as "EC PARAMETERS"
// (openssl ecparam -genkey) or certificates in a combined file are skipped.
func parseKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, errors.New("the key is encrypted; decrypt it first (openssl pkey -in KEY -out KEY.plain)")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s block: %w", b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s, nil
	}
}

// parseCerts returns every CERTIFICATE block in data, in order.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// keyMatches reports whether the private key belongs to the certificate.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// generateParallel makes n keys on all cores. Only valid for the system
// CSPRNG, whose keys do not depend on the order they are made in.
func generateParallel(g keyGen, alg string, n int) ([]crypto.Signer, error) {
	keys := make([]crypto.Signer, n)
	errs := make([]error, n)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			keys[i], errs[i] = g.generate(alg)
		})
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}
