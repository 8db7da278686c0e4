package model

import (
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/etcdimg/etcdimg/report"
	"github.com/etcdimg/etcdimg/spec"
)

// Access is who may log in to a node. The keys are kept as the operator
// wrote them (one authorized_keys line each, options and comment included):
// the parse only proves OpenSSH will take them.
type Access struct {
	DefaultUserKeys []string
	Admin           *Admin // nil: no admin user
}

// Admin is the optional named login user with sudo.
type Admin struct {
	Name         string
	Keys         []string
	PasswordHash string // a crypt(3) hash, or empty (password locked)
}

// cryptHashRE are the crypt(3) formats Debian's libxcrypt verifies
// (yescrypt is Debian's default since 11; sha-512 and sha-256 crypt;
// bcrypt). Anything else, a plaintext password above all, is refused.
var cryptHashRE = []*regexp.Regexp{
	regexp.MustCompile(`^\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]{1,86}\$[./0-9A-Za-z]{43}$`),
	regexp.MustCompile(`^\$6\$(rounds=[0-9]{1,9}\$)?[^$:\s]{1,16}\$[./0-9A-Za-z]{86}$`),
	regexp.MustCompile(`^\$5\$(rounds=[0-9]{1,9}\$)?[^$:\s]{1,16}\$[./0-9A-Za-z]{43}$`),
	regexp.MustCompile(`^\$2[aby]\$[0-9]{2}\$[./0-9A-Za-z]{53}$`),
}

// reservedUsers are names an admin user may not take: they exist on every
// Debian image, or cloud-init gives them meaning.
var reservedUsers = map[string]bool{"root": true, "default": true, "debian": true, "daemon": true, "bin": true,
	"sys": true, "nobody": true, "sshd": true, "systemd-network": true, "messagebus": true, "_apt": true}

func (v *validator) access(a spec.Access, etcdUser string) Access {
	m := Access{DefaultUserKeys: v.sshKeys("access.sshAuthorizedKeys", a.SSHAuthorizedKeys)}
	if a.Admin == nil {
		return m
	}
	ad, p := a.Admin, "access.admin"
	m.Admin = &Admin{Name: ad.Name, Keys: v.sshKeys(p+".sshAuthorizedKeys", ad.SSHAuthorizedKeys), PasswordHash: ad.PasswordHash}
	switch {
	case ad.Name == "":
		v.errf(p+".name", "required: the admin user's login name, e.g. \"ops\"")
	case !posixNameRE.MatchString(ad.Name):
		v.errf(p+".name", "%q is not a user name: use up to 32 lower-case letters, digits, '_' and '-', starting with a letter or '_'", ad.Name)
	case reservedUsers[ad.Name]:
		v.errf(p+".name", "%q is a user every Debian image (or cloud-init) already has; pick another name", ad.Name)
	case ad.Name == etcdUser:
		v.errf(p+".name", "%q is the etcd user (etcd.user.name), which has no login by design", ad.Name)
	}
	if ad.PasswordHash != "" && !isCryptHash(ad.PasswordHash) {
		// Never echo the value: it may be a plaintext password.
		v.errf(p+".passwordHash", "not a crypt(3) hash: give the output of `mkpasswd -m yescrypt` (or `openssl passwd -6`), never a plaintext password")
	}
	if len(ad.SSHAuthorizedKeys) == 0 && ad.PasswordHash == "" {
		v.errf(p, "the admin user has neither sshAuthorizedKeys nor a passwordHash: nobody could log in as %q", ad.Name)
	}
	return m
}

func isCryptHash(s string) bool {
	for _, re := range cryptHashRE {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// sshKeys checks each entry is one authorized_keys line OpenSSH accepts.
func (v *validator) sshKeys(p string, keys []string) []string {
	var out []string
	for i, k := range keys {
		ip := report.Index(p, i)
		k = strings.TrimSpace(k)
		if k == "" {
			v.errf(ip, "empty: give a public key such as the content of ~/.ssh/id_ed25519.pub")
			continue
		}
		if strings.ContainsAny(k, "\r\n") {
			v.errf(ip, "holds more than one line: give one key per entry")
			continue
		}
		if strings.Contains(k, "PRIVATE KEY") {
			v.errf(ip, "is a private key: give the public key (the .pub file); a seed must never carry your private key")
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		if err != nil {
			v.errf(ip, "not an SSH public key (%v): give one line of authorized_keys format, e.g. \"ssh-ed25519 AAAA… user@host\"", err)
			continue
		}
		// Debian 12's OpenSSH 9.2 no longer accepts DSA keys at all.
		if pub.Type() == ssh.KeyAlgoDSA {
			v.errf(ip, "an ssh-dss (DSA) key: OpenSSH on Debian 12 and 13 refuses DSA; use ed25519 (ssh-keygen -t ed25519)")
			continue
		}
		out = append(out, k)
	}
	return out
}
