//go:build e2e

package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AdminPasswordHash is the console password hash the e2e specs give their
// admin user (`openssl passwd -6 -salt etcdimgsalt 'correct horse'`); the
// guest's /etc/shadow must carry it unchanged.
const AdminPasswordHash = "$6$etcdimgsalt$Yy38DG0UkPeSkoOGQzmmn3YZzufCy8ZBPs25Ohy0/EAl2k8pZN4boeECAZPR/bAc/VpKRZ26w5nzAnNh4xNWp/"

// newSSHKey writes a fresh ed25519 key pair for one scenario (private key
// 0600, as ssh demands) and returns its path and authorized_keys line.
func newSSHKey(dir string) (string, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "etcdimg-e2e")
	if err != nil {
		return "", "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", err
	}
	return path, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " etcdimg-e2e", nil
}

// SSH runs command on node as user with the scenario's key, from inside the
// network namespace (the host's side of the bridge), and returns its
// combined output.
func (s *Scenario) SSH(ctx context.Context, user string, n NodeInfo, command string) (string, error) {
	cmd := s.Net.CmdContext(ctx, "ssh", "-i", s.SSHKey, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=30", user+"@"+n.Addr(), command)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// VerifyAccess logs in to the nodes with the key of the spec's access
// block: on every node as the image's default user, which must see the
// default route the spec's gateway gives (set by the distro's own network
// renderer); on the first node it also reads etcd's health through sudo
// and /etc/etcd/etcdctl.env, as the README tells an operator to, and logs
// in as the admin user, whose sudo wants the console password.
func (s *Scenario) VerifyAccess() {
	t := s.T
	t.Helper()
	start := time.Now()
	gw, err := s.Info.hostAddr()
	if err != nil {
		t.Fatal(err)
	}
	// hostAddr is the bridge's address in CIDR form; the route names the IP.
	gw, _, _ = strings.Cut(gw, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i, n := range s.Info.Nodes {
		out, err := s.SSH(ctx, "debian", n, "ip -4 route show default")
		if err != nil {
			t.Errorf("node %s: check ssh-default-user: %v\n%s", n.Name, err, out)
			continue
		}
		if f := strings.Fields(out); len(f) < 3 || f[0] != "default" || f[1] != "via" || f[2] != gw {
			t.Errorf("node %s: check default-route: `ip -4 route show default` = %q, want default via %s", n.Name, out, gw)
		}
		if i > 0 {
			continue
		}
		out, err = s.SSH(ctx, "debian", n, "sudo sh -c 'set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl endpoint health'")
		if err != nil || !strings.Contains(out, "is healthy") {
			t.Errorf("node %s: check ssh-etcdctl: sudo etcdctl endpoint health: %v\n%s", n.Name, err, out)
		}
		out, err = s.SSH(ctx, "debian", n, "sudo getent shadow ops | cut -d: -f2; sudo sshd -T 2>/dev/null | grep -i '^passwordauthentication'")
		if want := AdminPasswordHash + "\npasswordauthentication no"; err != nil || out != want {
			t.Errorf("node %s: check admin-password: shadow hash and sshd setting %q (%v), want %q", n.Name, out, err, want)
		}
		out, err = s.SSH(ctx, "ops", n, "id -nG; sudo -n true 2>&1 || echo sudo-needs-password")
		if err != nil || !strings.Contains(" "+out+" ", " sudo ") || !strings.HasSuffix(out, "sudo-needs-password") {
			t.Errorf("node %s: check ssh-admin: groups and sudo %q (%v), want the sudo group and a password prompt", n.Name, out, err)
		}
	}
	s.Phase("ssh-checks", time.Since(start))
	if t.Failed() {
		fmt.Fprintln(os.Stderr, "ssh checks failed; key:", s.SSHKey)
	}
}
