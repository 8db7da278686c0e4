// Package etcdclient talks to a running cluster that etcdimg built, from
// the host: endpoints from the output folder's cluster.json (read through
// outdir, the only reader of that file), TLS from the PKI's admin
// certificate, and etcd's own client (go.etcd.io/etcd/client/v3, the
// release matching the etcd the project builds) underneath.
//
// Two kinds of questions are asked of a cluster. Cluster-wide ones (member
// list, alarms, member remove) go through one client over every endpoint,
// which fails over between them. Per-member ones (is this member healthy,
// what is its raft index, which certificate does it serve) must be answered
// by that member and no other, so they go through a client pinned to its
// endpoint: etcd's balancer would otherwise answer from whichever member it
// reaches first.
package etcdclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdimg/etcdimg/outdir"
)

// Defaults for Options. A member on the LAN answers in milliseconds; the
// timeouts bound how long a dead or partitioned member can hold up a
// command, not how long a healthy one is given.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// Options tune the client; the zero value is usable.
type Options struct {
	// DialTimeout bounds connecting (TCP and TLS handshake) to one member.
	DialTimeout time.Duration
	// RequestTimeout bounds one request, such as a status or health
	// query, to one member or to the cluster.
	RequestTimeout time.Duration
	// Logger receives the etcd client's own log; nil discards it, since a
	// CLI prints its own report and grpc's reconnect chatter only hides it.
	Logger *zap.Logger
}

func (o Options) withDefaults() Options {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Client is a connection to a cluster described by an output folder.
type Client struct {
	// Cluster is what cluster.json says was built.
	Cluster *outdir.Cluster
	// KV, Cluster, Maintenance... of etcd's client over every endpoint.
	*clientv3.Client

	opts Options
	tls  *tls.Config // nil for a plain-http cluster
}

// Open reads DIR/cluster.json and connects to its endpoints. Connecting is
// lazy: Open succeeds while members are down, and each request reports
// what it could not reach.
func Open(dir string, o Options) (*Client, error) {
	c, err := outdir.Read(dir)
	if err != nil {
		return nil, err
	}
	return New(c, o)
}

// New connects to the endpoints of c.
func New(c *outdir.Cluster, o Options) (*Client, error) {
	o = o.withDefaults()
	cl := &Client{Cluster: c, opts: o}
	if c.TLS {
		cfg, err := LoadTLS(c.Etcdctl)
		if err != nil {
			return nil, err
		}
		cl.tls = cfg
	}
	eps := c.Endpoints()
	if len(eps) == 0 {
		return nil, errors.New("cluster.json lists no client endpoint")
	}
	var err error
	cl.Client, err = cl.newClient(eps)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// LoadTLS is the client TLS configuration of the admin certificate: the
// cluster's CA as the only root, and admin.crt/admin.key presented to every
// member (they all run with --client-cert-auth).
func LoadTLS(e *outdir.Etcdctl) (*tls.Config, error) {
	if e == nil {
		return nil, errors.New("cluster.json: tls is on but names no admin certificate; build the seeds (without --no-iso) so the PKI issues one")
	}
	caPEM, err := os.ReadFile(e.CACert)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", e.CACert)
	}
	cert, err := tls.LoadX509KeyPair(e.Cert, e.Key)
	if err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// TLS returns a copy of the client TLS configuration; nil without TLS.
func (c *Client) TLS() *tls.Config {
	if c.tls == nil {
		return nil
	}
	return c.tls.Clone()
}

// Options are the options the client was opened with, defaults applied.
func (c *Client) Options() Options { return c.opts }

func (c *Client) newClient(endpoints []string) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: c.opts.DialTimeout,
		// Keepalives notice a member that vanished mid-stream (a snapshot
		// from a VM that was powered off) instead of waiting forever.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: c.opts.DialTimeout,
		Logger:               c.opts.Logger,
	}
	if c.tls != nil {
		cfg.TLS = c.tls.Clone()
	}
	return clientv3.New(cfg)
}

// Member opens a client pinned to one endpoint, for questions only that
// member can answer. The caller closes it.
func (c *Client) Member(endpoint string) (*clientv3.Client, error) {
	return c.newClient([]string{endpoint})
}

// Ctx is a context bounded by the request timeout.
func (c *Client) Ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.opts.RequestTimeout)
}

// Handshake connects to endpoint like a client would and returns the leaf
// certificate the member serves, so its expiry is read from the wire, not
// from a file that may not be what the member loaded. The chain is checked
// against the cluster CA after the handshake rather than during it, so an
// expired or foreign certificate is still returned with verifyErr saying
// what is wrong with it. For plain http it only dials (cert is nil).
func (c *Client) Handshake(ctx context.Context, endpoint string) (cert *x509.Certificate, verifyErr, err error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "2379")
	}
	d := &net.Dialer{Timeout: c.opts.DialTimeout}
	if c.tls == nil || u.Scheme == "http" {
		conn, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return nil, nil, err
		}
		conn.Close()
		return nil, nil, nil
	}
	cfg := c.tls.Clone()
	// Verified below, by hand, against the same roots: a handshake that
	// fails on an expired certificate would hide the expiry we report.
	cfg.InsecureSkipVerify = true
	td := &tls.Dialer{NetDialer: d, Config: cfg}
	hctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	conn, err := td.DialContext(hctx, "tcp", host)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return nil, nil, errors.New("member presented no certificate")
	}
	leaf := st.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range st.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	_, verifyErr = leaf.Verify(x509.VerifyOptions{
		Roots: c.tls.RootCAs, Intermediates: inter, DNSName: u.Hostname(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return leaf, verifyErr, nil
}

// ID formats a member id as etcd and etcdctl print it.
func ID(id uint64) string { return fmt.Sprintf("%x", id) }
