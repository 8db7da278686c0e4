package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/etcdimg/etcdimg/etcdclient"
	"github.com/etcdimg/etcdimg/outdir"
	"github.com/etcdimg/etcdimg/pki"
)

// certsNow is the clock of the certs commands; tests pin it.
var certsNow = time.Now

// certsTarget resolves DIR / --pki-dir into the PKI folder and, with DIR,
// the cluster it belongs to.
func certsTarget(fs *pflag.FlagSet, args []string, pkiDir *string, stdout, stderr io.Writer) (dir string, c *outdir.Cluster, code int, ok bool) {
	if code, ok := parseArgs(fs, args, anyArgs, stdout, stderr); !ok {
		return "", nil, code, false
	}
	switch {
	case fs.NArg() > 1:
		return "", nil, usageError(fs, stderr, "want at most one folder, got %d (%s)", fs.NArg(), strings.Join(fs.Args(), " ")), false
	case fs.NArg() == 0 && *pkiDir == "":
		return "", nil, usageError(fs, stderr, "give an output folder of etcdimg build or --pki-dir"), false
	}
	if fs.NArg() == 1 {
		var err error
		if c, err = outdir.Read(fs.Arg(0)); err != nil {
			fmt.Fprintf(stderr, "etcdimg %s: %v\n", fs.Name(), err)
			return "", nil, exitSpec, false
		}
		if *pkiDir == "" {
			if c.PKIDir == "" {
				fmt.Fprintf(stderr, "etcdimg %s: cluster %q has no PKI (TLS is off)\n", fs.Name(), c.Name)
				return "", nil, exitSpec, false
			}
			*pkiDir = c.PKIDir
		}
	}
	return *pkiDir, c, exitOK, true
}

// liveResult is what one endpoint served.
type liveResult struct {
	Node     string        `json:"node"`
	Endpoint string        `json:"endpoint"`
	Port     string        `json:"port"` // client or peer
	Served   *pki.CertInfo `json:"served,omitempty"`
	// File is the PKI file holding the served certificate; empty when the
	// endpoint serves a certificate the PKI no longer has.
	File   string `json:"file,omitempty"`
	Verify string `json:"verify"` // "ok" or why not
	Error  string `json:"error,omitempty"`
}

// needsAttention: an endpoint down, a certificate that does not verify or is
// near its end, or one the PKI no longer holds (a renewal that has not reached
// the node yet).
func (l liveResult) needsAttention() bool {
	return l.Error != "" || l.Verify != "ok" || l.Served == nil || l.Served.NeedsAttention() || l.File == ""
}

func cmdCertsCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("certs check", "[DIR] [flags]")
	pkiDir := fs.String("pki-dir", "", "PKI folder (default: the one DIR/cluster.json names)")
	live := fs.Bool("live", false, "also read what every node's client and peer endpoint serves (TLS handshake; needs DIR)")
	threshold := fs.Int("threshold", 30, "exit 1 when a certificate expires within this many `days`")
	output := fs.StringP("output", "o", "text", "output format: text or json")
	setCompletion(fs, "output", argWords, "text", "json")
	timeout := fs.Duration("timeout", 5*time.Second, "per-endpoint timeout for --live")
	dir, cluster, code, ok := certsTarget(fs, args, pkiDir, stdout, stderr)
	if !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		return usageError(fs, stderr, "-o %s: want text or json", *output)
	}
	if *threshold < 0 {
		return usageError(fs, stderr, "--threshold %d: want days >= 0", *threshold)
	}
	if *live && cluster == nil {
		return usageError(fs, stderr, "--live needs the output folder (DIR) whose cluster.json lists the endpoints")
	}
	now := certsNow().UTC()
	th := time.Duration(*threshold) * 24 * time.Hour
	infos, err := pki.Inspect(dir, now, th)
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg certs check: %v\n", err)
		return exitSpec
	}
	var lives []liveResult
	if *live {
		lives = checkLive(ctx, cluster, infos, now, th, *timeout)
	}
	bad := 0
	for _, in := range infos {
		if in.NeedsAttention() {
			bad++
		}
	}
	for _, l := range lives {
		if l.needsAttention() {
			bad++
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			PKIDir        string         `json:"pkiDir"`
			Now           time.Time      `json:"now"`
			ThresholdDays int            `json:"thresholdDays"`
			Certificates  []pki.CertInfo `json:"certificates"`
			Live          []liveResult   `json:"live,omitempty"`
			Attention     int            `json:"needAttention"`
		}{dir, now, *threshold, infos, lives, bad})
	} else {
		printCerts(stdout, dir, infos, lives, *threshold)
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "etcdimg certs check: %d certificate(s) expired, not yet valid, within %d days of expiry, or not served as expected\n", bad, *threshold)
		return exitSpec
	}
	return exitOK
}

func sanSummary(in pki.CertInfo) string {
	sans := append(append([]string(nil), in.DNSNames...), in.IPs...)
	switch {
	case len(sans) == 0:
		return "-"
	case len(sans) > 4:
		return strings.Join(sans[:4], ",") + fmt.Sprintf(",+%d", len(sans)-4)
	}
	return strings.Join(sans, ",")
}

func printCerts(w io.Writer, dir string, infos []pki.CertInfo, lives []liveResult, threshold int) {
	fmt.Fprintf(w, "PKI %s (threshold %d days)\n", dir, threshold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tSUBJECT\tSANS\tEXPIRES\tDAYS\tSTATE\tKEY")
	for _, in := range infos {
		key := "-"
		switch {
		case in.Key != "" && in.KeyMatch:
			key = "ok"
		case in.Key != "":
			key = "MISMATCH"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", in.File, in.Subject, sanSummary(in), in.NotAfter.Format(time.DateOnly), in.DaysLeft, in.State, key)
	}
	tw.Flush()
	if len(lives) == 0 {
		return
	}
	fmt.Fprintln(w, "\nLive (TLS handshake)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tENDPOINT\tSERVES\tEXPIRES\tDAYS\tSTATE\tVERIFY")
	for _, l := range lives {
		if l.Served == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\tunreachable\t%s\n", l.Node, l.Endpoint, l.Error)
			continue
		}
		serves := l.File
		if serves == "" {
			serves = "NOT IN PKI (serial " + l.Served.Serial + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Node, l.Endpoint, serves, l.Served.NotAfter.Format(time.DateOnly), l.Served.DaysLeft, l.Served.State, l.Verify)
	}
	tw.Flush()
}

// checkLive reads the certificate each node's client and peer URL serves
// (etcdclient.Handshake: the admin certificate offered, the chain checked
// against the cluster's CA after the handshake, so an expired or foreign
// certificate is still shown) and matches it to the PKI's files.
func checkLive(ctx context.Context, c *outdir.Cluster, infos []pki.CertInfo, now time.Time, th, timeout time.Duration) []liveResult {
	var out []liveResult
	cl, err := etcdclient.New(c, etcdclient.Options{DialTimeout: timeout, RequestTimeout: timeout})
	if err != nil {
		for _, n := range c.Nodes {
			out = append(out, liveResult{Node: n.Name, Endpoint: n.Endpoint(), Port: "client", Error: err.Error()})
		}
		return out
	}
	defer cl.Close()
	for _, n := range c.Nodes {
		for _, ep := range []struct{ port, url string }{{"client", n.Endpoint()}, {"peer", firstRemote(n.PeerURLs, n.IP)}} {
			r := liveResult{Node: n.Name, Endpoint: ep.url, Port: ep.port}
			if u, err := url.Parse(ep.url); err != nil || u.Scheme != "https" {
				r.Error = "not a TLS URL"
				out = append(out, r)
				continue
			}
			cert, verifyErr, err := cl.Handshake(ctx, ep.url)
			if err != nil {
				r.Error = err.Error()
				out = append(out, r)
				continue
			}
			info := pki.Describe("", cert, now, th)
			r.Served = &info
			for _, in := range infos {
				if in.Cert.Equal(cert) {
					r.File = in.File
				}
			}
			r.Verify = "ok"
			if verifyErr != nil {
				r.Verify = verifyErr.Error()
			}
			out = append(out, r)
		}
	}
	return out
}

// firstRemote is the first URL not on loopback, preferring the node's IP.
func firstRemote(urls []string, ip string) string {
	for _, u := range urls {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() == ip {
			return u
		}
	}
	for _, u := range urls {
		if pu, err := url.Parse(u); err == nil {
			if a := net.ParseIP(pu.Hostname()); a == nil || !a.IsLoopback() {
				return u
			}
		}
	}
	return ""
}

func cmdCertsRenew(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("certs renew", "[DIR] [flags]")
	pkiDir := fs.String("pki-dir", "", "PKI folder (default: the one DIR/cluster.json names)")
	nodes := fs.StringArray("node", nil, "renew only this node's certificates (repeatable); without it every leaf, the admin certificate too")
	newKeys := fs.Bool("new-keys", false, "replace each renewed certificate's key (default: keep the keys)")
	days := fs.Int("days", 0, "validity of the renewed certificates in `days` (default: each certificate's current validity)")
	caKey := fs.String("ca-key", "", "an external CA's key file (its certificate is the PKI's ca.crt)")
	ca := fs.Bool("ca", false, "renew the CA certificate itself, with the same key (a CA etcdimg generated); then renew the leaves")
	dir, _, code, ok := certsTarget(fs, args, pkiDir, stdout, stderr)
	if !ok {
		return code
	}
	if *days < 0 {
		return usageError(fs, stderr, "--days %d: want a number of days > 0 (leave it out to keep each certificate's current validity)", *days)
	}
	if *ca && (len(*nodes) > 0 || *newKeys) {
		return usageError(fs, stderr, "--ca renews the CA certificate only (same key); run it alone, then renew the leaves (--node and --new-keys are for leaves)")
	}
	o := pki.RenewOptions{Dir: dir, Nodes: *nodes, NewKeys: *newKeys, Validity: time.Duration(*days) * 24 * time.Hour, CAKeyFile: *caKey, Now: certsNow}
	if *ca {
		r, err := pki.RenewCA(o)
		if err != nil {
			fmt.Fprintf(stderr, "etcdimg certs renew: %v\n", err)
			return exitSpec
		}
		fmt.Fprintf(stdout, "renewed %s (%s): valid until %s (was %s), serial %s; same key, so every certificate it issued still verifies\n",
			r.File, r.Subject, r.NotAfter.Format(time.DateOnly), r.OldNotAfter.Format(time.DateOnly), r.Serial)
		fmt.Fprintln(stdout, "next: give every node the new ca.crt before the old one expires (README \"Renewing certificates\"), then `etcdimg certs renew` the leaves")
		return exitOK
	}
	rs, err := pki.RenewLeaves(o)
	for _, r := range rs {
		key := "key kept"
		if r.KeyReplaced {
			key = "new key"
		}
		capped := ""
		if r.CappedByCA {
			capped = " (capped: the CA ends then; renew it with --ca)"
		}
		fmt.Fprintf(stdout, "renewed %s (%s): valid until %s%s (was %s), %s\n", r.File, r.Subject, r.NotAfter.Format(time.DateOnly), capped, r.OldNotAfter.Format(time.DateOnly), key)
	}
	if err != nil {
		fmt.Fprintf(stderr, "etcdimg certs renew: %v\n", err)
		return exitSpec
	}
	if *newKeys {
		fmt.Fprintln(stdout, "keys were replaced: the old keys are gone from the PKI folder; nodes need their new key and certificate together")
	} else {
		fmt.Fprintln(stdout, "keys were kept: only the certificates changed (--new-keys replaces the keys too)")
	}
	fmt.Fprintln(stdout, "next: rebuild the seeds (etcdimg build) and deliver them, or copy the files to the nodes (README \"Renewing certificates\")")
	return exitOK
}
