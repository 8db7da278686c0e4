package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// kubeadm's apiserver-etcd-client: issued into the PKI folder with
// kubeadm's subject and usage, signed by the cluster CA, reused on the next
// run, and never one of the files a node carries.
func TestAPIServerEtcdClient(t *testing.T) {
	cfg := testConfig(t)
	cfg.APIServerEtcdClient = true
	p := mustEnsure(t, cfg)

	c := p.APIServerEtcdClient.Cert
	if c == nil {
		t.Fatal("no apiserver-etcd-client certificate")
	}
	if c.Subject.CommonName != "kube-apiserver-etcd-client" || !slices.Equal(c.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("subject %v, want CN=kube-apiserver-etcd-client, O=system:masters (kubeadm's)", c.Subject)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("extended key usage %v, want clientAuth only", c.ExtKeyUsage)
	}
	if len(c.DNSNames)+len(c.IPAddresses) != 0 {
		t.Errorf("SANs %v %v, want none", c.DNSNames, c.IPAddresses)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.CACert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("does not verify as a client of the cluster CA: %v", err)
	}
	for name, mode := range map[string]os.FileMode{"apiserver-etcd-client.crt": 0o644, "apiserver-etcd-client.key": 0o600} {
		fi, err := os.Stat(filepath.Join(cfg.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	for _, f := range NodeFiles() {
		if f.Profile == ProfileAPIServerEtcdClient {
			t.Errorf("NodeFiles lists %s: the API server's key must never reach a seed", f.Name)
		}
	}

	before := snapshot(t, cfg.Dir)
	cfg.Rand = newDetRand(2)
	again := mustEnsure(t, cfg)
	if !slices.Equal(again.APIServerEtcdClient.CertPEM, p.APIServerEtcdClient.CertPEM) {
		t.Error("a second run re-issued the certificate")
	}
	if after := snapshot(t, cfg.Dir); len(after) != len(before) {
		t.Errorf("files %d → %d on a second run", len(before), len(after))
	}
}

// Without the option, nothing of kubeadm's is issued.
func TestAPIServerEtcdClientOff(t *testing.T) {
	off := testConfig(t)
	p := mustEnsure(t, off)
	if p.APIServerEtcdClient.Cert != nil {
		t.Fatal("issued without Config.APIServerEtcdClient")
	}
	if _, err := os.Stat(filepath.Join(off.Dir, "apiserver-etcd-client.crt")); !os.IsNotExist(err) {
		t.Errorf("apiserver-etcd-client.crt exists: %v", err)
	}
}
