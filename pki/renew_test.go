package pki

import (
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const days = 24 * time.Hour

func TestInspectJudgesExpiry(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	// 340 days in: 25 days left of the leaves' 365, the CA has ~9 years.
	now := testNow.Add(340 * days)
	infos, err := Inspect(cfg.Dir, now, 30*days)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, in := range infos {
		files = append(files, in.File)
		want := StateExpiring
		if in.File == "ca.crt" {
			want = StateOK
			if !in.IsCA || in.DaysLeft < 3000 {
				t.Errorf("ca.crt: isCA %v, %d days left", in.IsCA, in.DaysLeft)
			}
		} else if in.DaysLeft != 25 {
			t.Errorf("%s: %d days left, want 25", in.File, in.DaysLeft)
		}
		if in.State != want {
			t.Errorf("%s: state %s, want %s", in.File, in.State, want)
		}
		if in.File != "ca.crt" && (in.Key == "" || !in.KeyMatch) {
			t.Errorf("%s: key %q match %v", in.File, in.Key, in.KeyMatch)
		}
	}
	if want := allCertFiles("k8s01", "k8s02", "k8s03"); !slices.Equal(sorted(files), sorted(want)) {
		t.Errorf("files %v, want %v", files, want)
	}
	// 20 days threshold: everything ok; past expiry: expired, negative days.
	infos, _ = Inspect(cfg.Dir, now, 20*days)
	for _, in := range infos {
		if in.State != StateOK {
			t.Errorf("threshold 20: %s is %s", in.File, in.State)
		}
	}
	infos, _ = Inspect(cfg.Dir, testNow.Add(400*days), 30*days)
	for _, in := range infos {
		if in.File == "admin.crt" && (in.State != StateExpired || in.DaysLeft >= 0) {
			t.Errorf("after expiry: admin.crt %s, %d days", in.State, in.DaysLeft)
		}
	}
	// a wrong key is shown, not hidden
	k1 := filepath.Join(cfg.Dir, "nodes", "k8s01", "peer.key")
	k2, _ := os.ReadFile(filepath.Join(cfg.Dir, "nodes", "k8s02", "peer.key"))
	os.WriteFile(k1, k2, 0o600)
	infos, _ = Inspect(cfg.Dir, now, 30*days)
	for _, in := range infos {
		if in.File == "nodes/k8s01/peer.crt" && in.KeyMatch {
			t.Error("mismatched key reported as matching")
		}
	}
	if _, err := Inspect(t.TempDir(), now, 0); err == nil {
		t.Error("a folder without ca.crt inspected")
	}
}

func parseCertPEM(t *testing.T, data string) *x509.Certificate {
	t.Helper()
	certs, err := parseCerts([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func sorted(a []string) []string { b := slices.Clone(a); slices.Sort(b); return b }

func TestRenewLeavesKeepsKeysAndAttributes(t *testing.T) {
	needOpenSSL(t)
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	now := testNow.Add(340 * days)
	rs, err := RenewLeaves(RenewOptions{Dir: cfg.Dir, Now: at(now), Rand: newDetRand(7)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 10 {
		t.Fatalf("renewed %d certificates, want 10 (admin + 3 x 3)", len(rs))
	}
	after := snapshot(t, cfg.Dir)
	for f, data := range before {
		switch {
		case strings.HasSuffix(f, ".key") || f == "ca.crt":
			if after[f] != data {
				t.Errorf("%s changed; keys and the CA are kept", f)
			}
		case strings.HasSuffix(f, ".crt"):
			if after[f] == data {
				t.Errorf("%s not renewed", f)
			}
		}
	}
	for _, r := range rs {
		if r.KeyReplaced || r.CappedByCA || r.Serial == r.OldSerial {
			t.Errorf("%+v", r)
		}
		if !r.NotAfter.Equal(now.Add(365 * days)) {
			t.Errorf("%s: not after %s, want %s (the certificate's own 365 days)", r.File, r.NotAfter, now.Add(365*days))
		}
		old := parseCertPEM(t, before[r.File])
		cur := parseCertFile(t, filepath.Join(cfg.Dir, r.File))
		if cur.Subject.String() != old.Subject.String() || !slices.Equal(cur.DNSNames, old.DNSNames) ||
			fmt.Sprint(cur.IPAddresses) != fmt.Sprint(old.IPAddresses) || !slices.Equal(cur.ExtKeyUsage, old.ExtKeyUsage) || cur.KeyUsage != old.KeyUsage {
			t.Errorf("%s: attributes changed: %v %v %v -> %v %v %v", r.File, old.Subject, old.DNSNames, old.IPAddresses, cur.Subject, cur.DNSNames, cur.IPAddresses)
		}
		// an independent verifier: chain, purpose and key
		attime := fmt.Sprint(now.Unix())
		crt := filepath.Join(cfg.Dir, r.File)
		purpose := "sslclient"
		if strings.HasSuffix(r.File, "server.crt") || strings.HasSuffix(r.File, "peer.crt") {
			purpose = "sslserver"
		}
		if out := openssl(t, "verify", "-x509_strict", "-attime", attime, "-purpose", purpose, "-CAfile", filepath.Join(cfg.Dir, "ca.crt"), crt); !strings.Contains(out, ": OK") {
			t.Errorf("openssl verify %s: %s", r.File, out)
		}
		pubCert := openssl(t, "x509", "-noout", "-pubkey", "-in", crt)
		pubKey := openssl(t, "pkey", "-pubout", "-in", strings.TrimSuffix(crt, ".crt")+".key")
		if pubCert != pubKey {
			t.Errorf("%s: key does not belong to the renewed certificate", r.File)
		}
	}
	infos, _ := Inspect(cfg.Dir, now, 30*days)
	for _, in := range infos {
		if in.State != StateOK || (in.Key != "" && !in.KeyMatch) {
			t.Errorf("after renewal %s: %s, key match %v", in.File, in.State, in.KeyMatch)
		}
	}
	// A later build reuses what renew wrote: renewal and the spec agree.
	cfg.Now = at(now)
	p := mustEnsure(t, cfg)
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Errorf("build after renew re-issued %v", got)
	}
}

func TestRenewLeavesNewKeysAndNodeFilter(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	rs, err := RenewLeaves(RenewOptions{Dir: cfg.Dir, Nodes: []string{"k8s02"}, NewKeys: true, Validity: 90 * days, Now: at(testNow.Add(days)), Rand: newDetRand(9)})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, r := range rs {
		files = append(files, r.File)
		if !r.KeyReplaced || !r.NotAfter.Equal(testNow.Add(91*days)) {
			t.Errorf("%+v", r)
		}
	}
	if want := []string{"nodes/k8s02/healthcheck-client.crt", "nodes/k8s02/peer.crt", "nodes/k8s02/server.crt"}; !slices.Equal(sorted(files), want) {
		t.Fatalf("renewed %v, want %v", files, want)
	}
	after := snapshot(t, cfg.Dir)
	for f, data := range before {
		changed := after[f] != data
		if want := strings.HasPrefix(f, "nodes/k8s02/"); changed != want {
			t.Errorf("%s changed=%v, want %v", f, changed, want)
		}
	}
	infos, _ := Inspect(cfg.Dir, testNow.Add(days), 0)
	for _, in := range infos {
		if in.Key != "" && !in.KeyMatch {
			t.Errorf("%s: new key does not match", in.File)
		}
	}
}

func TestRenewLeavesFailsBeforeWriting(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	before := snapshot(t, cfg.Dir)
	// a node the PKI does not have
	_, err := RenewLeaves(RenewOptions{Dir: cfg.Dir, Nodes: []string{"nope"}, Now: at(testNow)})
	wantErr(t, err, ErrInvalidConfig, `node "nope"`)
	// one key missing: nothing is renewed, not even the certificates before it
	os.Remove(filepath.Join(cfg.Dir, "nodes", "k8s03", "server.key"))
	delete(before, "nodes/k8s03/server.key")
	_, err = RenewLeaves(RenewOptions{Dir: cfg.Dir, Now: at(testNow)})
	wantErr(t, err, ErrUnreadableFile, "nodes/k8s03/server.key is missing", "--new-keys")
	if after := snapshot(t, cfg.Dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("a failed renewal changed the PKI folder")
	}
	// an expired CA cannot renew anything
	_, err = RenewLeaves(RenewOptions{Dir: cfg.Dir, NewKeys: true, Now: at(testNow.Add(3700 * days))})
	wantErr(t, err, ErrCAExpired, "--ca")
}

// TestRenewCAKeepsTrust: a CA near its end re-signed with its own key. Leaves
// issued before verify against the new CA certificate; leaves issued after
// verify against the old one (nodes not yet given the new ca.crt): no flag
// day. Checked by openssl as well as Go.
func TestRenewCAKeepsTrust(t *testing.T) {
	needOpenSSL(t)
	cfg := testConfig(t)
	cfg.CA.Validity = 400 * days
	mustEnsure(t, cfg)
	oldCA := filepath.Join(t.TempDir(), "old-ca.crt")
	data, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.crt"))
	os.WriteFile(oldCA, data, 0o644)
	oldKey, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.key"))
	oldLeaf := filepath.Join(t.TempDir(), "old-server.crt")
	leafData, _ := os.ReadFile(filepath.Join(cfg.Dir, "nodes", "k8s01", "server.crt"))
	os.WriteFile(oldLeaf, leafData, 0o644)

	now := testNow.Add(350 * days) // the CA has 50 days left
	infos, _ := Inspect(cfg.Dir, now, 60*days)
	if infos[0].File != "ca.crt" || infos[0].State != StateExpiring {
		t.Fatalf("ca.crt %+v", infos[0])
	}
	r, err := RenewCA(RenewOptions{Dir: cfg.Dir, Now: at(now), Rand: newDetRand(3)})
	if err != nil {
		t.Fatal(err)
	}
	if !r.NotAfter.Equal(now.Add(400*days)) || r.Serial == r.OldSerial || r.RemovedCerts != 1 {
		t.Errorf("%+v", r)
	}
	if k, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.key")); string(k) != string(oldKey) {
		t.Error("ca.key changed")
	}
	newCA := filepath.Join(cfg.Dir, "ca.crt")
	attime := fmt.Sprint(now.Unix())
	// old leaf, new CA
	if out := openssl(t, "verify", "-x509_strict", "-attime", attime, "-CAfile", newCA, oldLeaf); !strings.Contains(out, ": OK") {
		t.Errorf("old leaf against the renewed CA: %s", out)
	}
	// renew the leaves: full validity now, no longer capped by the old CA
	rs, err := RenewLeaves(RenewOptions{Dir: cfg.Dir, Now: at(now.Add(time.Hour)), Rand: newDetRand(4)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rs {
		if l.CappedByCA {
			t.Errorf("%s capped after the CA renewal", l.File)
		}
	}
	newLeaf := filepath.Join(cfg.Dir, "nodes", "k8s01", "server.crt")
	// new leaf against the OLD CA certificate, before it expires
	if out := openssl(t, "verify", "-x509_strict", "-attime", fmt.Sprint(now.Add(2*time.Hour).Unix()), "-CAfile", oldCA, newLeaf); !strings.Contains(out, ": OK") {
		t.Errorf("new leaf against the old CA certificate: %s", out)
	}
	// ...and against the new one after the old has expired
	later := fmt.Sprint(now.Add(100 * days).Unix())
	if out := openssl(t, "verify", "-x509_strict", "-attime", later, "-CAfile", newCA, newLeaf); !strings.Contains(out, ": OK") {
		t.Errorf("new leaf against the renewed CA after the old one expired: %s", out)
	}
	// a build afterwards reuses the renewed CA and leaves
	cfg.Now = at(now.Add(2 * time.Hour))
	p := mustEnsure(t, cfg)
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Errorf("build after CA renewal re-issued %v", got)
	}
	if _, ok := findEvent(p.Events, EventReused, "ca.crt"); !ok {
		t.Error("build did not reuse the renewed CA")
	}
}

func TestRenewCAKeepsOtherBundleCertsAndRefusesExternal(t *testing.T) {
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	other := testConfig(t)
	other.Cluster = "next"
	mustEnsure(t, other)
	// a rotation bundle: this CA first, the next one after
	a, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.crt"))
	b, _ := os.ReadFile(filepath.Join(other.Dir, "ca.crt"))
	os.WriteFile(filepath.Join(cfg.Dir, "ca.crt"), append(a, b...), 0o644)
	if _, err := RenewCA(RenewOptions{Dir: cfg.Dir, Now: at(testNow.Add(days))}); err != nil {
		t.Fatal(err)
	}
	infos, _ := Inspect(cfg.Dir, testNow.Add(days), 0)
	if len(infos) < 2 || infos[0].File != "ca.crt#1" || infos[1].File != "ca.crt#2" || infos[1].Subject != "etcdimg next CA" || infos[0].Subject != "etcdimg lab CA" {
		t.Errorf("bundle after renewal: %v", infos[:2])
	}
	// external CA: nothing of ours to renew
	os.Remove(filepath.Join(cfg.Dir, "ca.key"))
	_, err := RenewCA(RenewOptions{Dir: cfg.Dir, Now: at(testNow)})
	wantErr(t, err, ErrInvalidConfig, "external")
}

// TestCARotationThroughBundle follows README "Rotating to a new CA key": a
// bundle in ca.crt (the first certificate signs, all are trusted) lets old
// and new leaves trust each other during the switch; openssl agrees.
func TestCARotationThroughBundle(t *testing.T) {
	needOpenSSL(t)
	cfg := testConfig(t)
	mustEnsure(t, cfg)
	next := testConfig(t)
	next.Rand = newDetRand(2)
	mustEnsure(t, next)
	read := func(dir, f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oldCA, newCA, newKey := read(cfg.Dir, "ca.crt"), read(next.Dir, "ca.crt"), read(next.Dir, "ca.key")
	oldLeaf := filepath.Join(t.TempDir(), "old-peer.crt")
	os.WriteFile(oldLeaf, read(cfg.Dir, "nodes/k8s01/peer.crt"), 0o644)

	// 1. trust both, the old CA still signs: nothing is re-issued
	os.WriteFile(filepath.Join(cfg.Dir, "ca.crt"), append(append([]byte(nil), oldCA...), newCA...), 0o644)
	p := mustEnsure(t, cfg)
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Fatalf("step 1 re-issued %v", got)
	}
	if certs, _ := parseCerts(p.CACertPEM); len(certs) != 2 {
		t.Fatalf("step 1: the seeds' ca.crt has %d certificates, want both CAs", len(certs))
	}
	// 2. the new CA signs, the old one stays trusted: every leaf re-issued
	os.WriteFile(filepath.Join(cfg.Dir, "ca.crt"), append(append([]byte(nil), newCA...), oldCA...), 0o644)
	os.WriteFile(filepath.Join(cfg.Dir, "ca.key"), newKey, 0o600)
	p = mustEnsure(t, cfg)
	if got, want := kinds(p.Events, EventReissued), leafFiles("k8s01", "k8s02", "k8s03"); !slices.Equal(got, want) {
		t.Fatalf("step 2 re-issued %v, want every leaf", got)
	}
	bundle := filepath.Join(cfg.Dir, "ca.crt")
	attime := fmt.Sprint(testNow.Unix())
	for _, leaf := range []string{oldLeaf, filepath.Join(cfg.Dir, "nodes", "k8s01", "peer.crt")} {
		if out := openssl(t, "verify", "-attime", attime, "-CAfile", bundle, leaf); !strings.Contains(out, ": OK") {
			t.Errorf("step 2: %s against the bundle: %s", leaf, out)
		}
	}
	// 3. the new CA alone: everything reused, the old leaf no longer trusted
	os.WriteFile(bundle, newCA, 0o644)
	p = mustEnsure(t, cfg)
	if got := kinds(p.Events, EventReissued); len(got) != 0 {
		t.Errorf("step 3 re-issued %v", got)
	}
	if out, err := exec.Command("openssl", "verify", "-attime", attime, "-CAfile", bundle, oldLeaf).CombinedOutput(); err == nil {
		t.Errorf("step 3: the old CA's leaf still verifies: %s", out)
	}
}
