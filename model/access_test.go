package model_test

import (
	"crypto/dsa" //nolint:staticcheck // only to build a DSA public key that must be refused
	"crypto/ed25519"
	"crypto/rand"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

func authorizedKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
}

func dsaKey(t *testing.T) string {
	t.Helper()
	var k dsa.PrivateKey
	if err := dsa.GenerateParameters(&k.Parameters, rand.Reader, dsa.L1024N160); err != nil {
		t.Fatal(err)
	}
	if err := dsa.GenerateKey(&k, rand.Reader); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

// Hashes made by libxcrypt (crypt(3) through python3's crypt and openssl
// passwd) in each accepted format; the second is sha-512 with rounds=.
var goodHashes = []string{
	"$6$etcdimgsalt$Yy38DG0UkPeSkoOGQzmmn3YZzufCy8ZBPs25Ohy0/EAl2k8pZN4boeECAZPR/bAc/VpKRZ26w5nzAnNh4xNWp/",
	"$6$rounds=4096$abcdefgh$" + strings.Repeat("A", 86),
	"$5$pQX1s3Nkk1WH6n60$HKfWKewD9tkFtIAlG38ZOjmmTlXvkQ5L5Q5pYrw6nOA",
	"$y$j9T$2eG0JcEXb1yVeXbKd7T8S0$Nlfk0pGnnYyZ0ybbKFWyrhOvBMsuRSj6fjAG8DCJTM6",
	"$2b$05$CCCCCCCCCCCCCCCCCCCCC.ZduhHZB.MVvQ3SDANVTa7R5V5fXlpaO",
}

func TestAccessAccepted(t *testing.T) {
	hashes := goodHashes
	if openssl, err := exec.LookPath("openssl"); err == nil {
		for _, alg := range []string{"-6", "-5"} {
			out, err := exec.Command(openssl, "passwd", alg, "etcdimg").Output()
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, strings.TrimSpace(string(out)))
		}
	}
	for _, h := range hashes {
		c := base()
		k := authorizedKey(t, "alice@example")
		c.Access = spec.Access{
			SSHAuthorizedKeys: []string{k},
			Admin: &spec.Admin{Name: "ops", PasswordHash: h,
				SSHAuthorizedKeys: []string{`from="10.0.0.0/24",no-pty ` + k}},
		}
		m, r := model.Validate(c)
		if len(r.Entries) != 0 {
			t.Fatalf("hash %s: %s", h, r)
		}
		if m.Access.Admin == nil || m.Access.Admin.PasswordHash != h || len(m.Access.Admin.Keys) != 1 || m.Access.DefaultUserKeys[0] != k {
			t.Errorf("model access %+v", m.Access)
		}
	}
}

func TestAccessRules(t *testing.T) {
	key := authorizedKey(t, "a@b")
	for _, tc := range []struct {
		name   string
		access spec.Access
		want   string
	}{
		{"not a key", spec.Access{SSHAuthorizedKeys: []string{key, "ssh-ed25519 AAAAnotbase64!! x"}}, "error: access.sshAuthorizedKeys[1]: not an SSH public key"},
		{"empty key", spec.Access{SSHAuthorizedKeys: []string{" "}}, "error: access.sshAuthorizedKeys[0]: empty"},
		{"two lines", spec.Access{SSHAuthorizedKeys: []string{key + "\n" + key}}, "error: access.sshAuthorizedKeys[0]: holds more than one line"},
		{"private key", spec.Access{SSHAuthorizedKeys: []string{"-----BEGIN OPENSSH PRIVATE KEY-----"}}, "error: access.sshAuthorizedKeys[0]: is a private key"},
		{"dsa", spec.Access{SSHAuthorizedKeys: []string{dsaKey(t)}}, "error: access.sshAuthorizedKeys[0]: an ssh-dss (DSA) key"},
		{"admin bad key", spec.Access{Admin: &spec.Admin{Name: "ops", SSHAuthorizedKeys: []string{"hello"}}}, "error: access.admin.sshAuthorizedKeys[0]: not an SSH public key"},
		{"admin no name", spec.Access{Admin: &spec.Admin{SSHAuthorizedKeys: []string{key}}}, "error: access.admin.name: required"},
		{"admin root", spec.Access{Admin: &spec.Admin{Name: "root", SSHAuthorizedKeys: []string{key}}}, `error: access.admin.name: "root" is a user every Debian image`},
		{"admin etcd", spec.Access{Admin: &spec.Admin{Name: "etcd", SSHAuthorizedKeys: []string{key}}}, `error: access.admin.name: "etcd" is the etcd user`},
		{"admin bad name", spec.Access{Admin: &spec.Admin{Name: "Ops Team", SSHAuthorizedKeys: []string{key}}}, `error: access.admin.name: "Ops Team" is not a user name`},
		{"admin no way in", spec.Access{Admin: &spec.Admin{Name: "ops"}}, `error: access.admin: the admin user has neither sshAuthorizedKeys nor a passwordHash`},
		{"plaintext password", spec.Access{Admin: &spec.Admin{Name: "ops", PasswordHash: "hunter2"}}, "error: access.admin.passwordHash: not a crypt(3) hash"},
		{"md5 crypt", spec.Access{Admin: &spec.Admin{Name: "ops", PasswordHash: "$1$salt$qJH7.N4xYta3aEG/dfqo/0"}}, "error: access.admin.passwordHash: not a crypt(3) hash"},
		{"locked marker", spec.Access{Admin: &spec.Admin{Name: "ops", PasswordHash: "!"}}, "error: access.admin.passwordHash: not a crypt(3) hash"},
		{"truncated sha512", spec.Access{Admin: &spec.Admin{Name: "ops", PasswordHash: goodHashes[0][:50]}}, "error: access.admin.passwordHash: not a crypt(3) hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.Access = tc.access
			_, r := model.Validate(c)
			if len(r.Entries) != 1 || !strings.HasPrefix(r.Entries[0].String(), tc.want) {
				t.Errorf("want exactly one entry starting %q, got:\n%s", tc.want, r)
			}
			if tc.access.Admin != nil && tc.access.Admin.PasswordHash != "" && strings.Contains(r.String(), tc.access.Admin.PasswordHash) {
				t.Errorf("the report repeats the password field's value: %s", r)
			}
		})
	}
}
