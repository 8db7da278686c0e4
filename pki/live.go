package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
)

// Served is the certificate chain an endpoint presents in its TLS handshake,
// whatever its validity: an expired or foreign certificate is exactly what a
// check must be able to show. Verification is left to the caller (see
// VerifyServed). client, when set, is offered if the endpoint asks for a
// client certificate (etcd's client and peer ports do); the server's
// certificate arrives before the endpoint judges the client's, so a refused
// client certificate still shows what the endpoint serves.
func Served(ctx context.Context, addr, serverName string, client *tls.Certificate) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	cfg := &tls.Config{
		ServerName: serverName,
		// Read, never trust: the chain is verified by VerifyServed.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
		MinVersion: tls.VersionTLS12,
	}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if conn != nil {
		conn.Close()
	}
	if len(chain) > 0 {
		return chain, nil
	}
	if err == nil {
		err = errors.New("the endpoint presented no certificate")
	}
	return nil, err
}

// VerifyServed checks a served chain against the CA certificates of a PKI
// (every certificate of ca.crt, so a bundle during a CA rotation works) at
// the chain's own time, for the server name or IP the client dialled.
func VerifyServed(chain []*x509.Certificate, roots []*x509.Certificate, host string, opts x509.VerifyOptions) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts.Roots, opts.Intermediates, opts.DNSName = pool, inter, host
	if len(opts.KeyUsages) == 0 {
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	_, err := chain[0].Verify(opts)
	return err
}
