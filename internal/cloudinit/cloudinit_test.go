package cloudinit_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/internal/cloudinit"
)

// The checks are only worth something if they fail: each case below is a
// file a real cloud-init flags, and each checker must refuse it.

const validUserData = `#cloud-config
users:
  - default
  - name: svc
    uid: 1600
    shell: /usr/sbin/nologin
    lock_passwd: true
runcmd:
  - [sh, -c, "true"]
`

const validNetwork = `version: 2
ethernets:
  eth0:
    dhcp4: false
    addresses: [192.168.0.2/24]
    routes:
      - to: 0.0.0.0/0
        via: 192.168.0.1
`

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUserData(t *testing.T) {
	cases := []struct {
		name, content, want string // want: "" passes, else a word the error must hold
	}{
		{"valid", validUserData, ""},
		// deprecated in 22.3 (lock_passwd replaces it): a deprecation on both versions
		{"deprecated-key", strings.Replace(validUserData, "lock_passwd", "lock-passwd", 1), "deprecat"},
		// sudo: false, deprecated in 22.2 for null
		{"deprecated-value", strings.Replace(validUserData, "    lock_passwd: true\n", "    sudo: false\n", 1), "deprecat"},
		{"wrong-type", validUserData + "bootcmd: 5\n", "bootcmd"},
		{"not-yaml", "#cloud-config\nusers: [\n", "yaml"},
	}
	for _, c := range cloudinit.Available(t) {
		for _, tc := range cases {
			t.Run(c.Name+"/"+tc.name, func(t *testing.T) {
				err := c.UserData(write(t, "user-data", tc.content))
				check(t, err, tc.want)
			})
		}
	}
}

func TestNetworkConfig(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"valid", validNetwork, ""},
		// netplan's parser: an unknown key is an error
		{"unknown-key", strings.Replace(validNetwork, "dhcp4: false", "dhcp4: false\n    bogus: 1", 1), "bogus"},
		// netplan deprecates gateway4 with a GLib WARNING on stderr and exit 0
		{"gateway4", strings.Replace(validNetwork, "    routes:\n      - to: 0.0.0.0/0\n        via: 192.168.0.1\n", "    gateway4: 192.168.0.1\n", 1), "gateway4"},
		// netplan knows vrfs; cloud-init's own v2 schema does not: only the
		// check with netplan hidden catches it
		{"netplan-only-key", validNetwork + "vrfs:\n  vrf0:\n    table: 100\n    interfaces: [eth0]\n", "own v2 schema"},
	}
	for _, c := range cloudinit.Available(t) {
		for _, tc := range cases {
			t.Run(c.Name+"/"+tc.name, func(t *testing.T) {
				err := c.NetworkConfig(write(t, "network-config", tc.content))
				if errors.Is(err, cloudinit.ErrUnsupported) {
					if !errors.Is(err, errors.ErrUnsupported) {
						t.Errorf("ErrUnsupported does not match errors.ErrUnsupported: %v", err)
					}
					t.Skip(err)
				}
				check(t, err, tc.want)
			})
		}
	}
}

func check(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("valid file refused: %v", err)
	case want != "" && err == nil:
		t.Errorf("accepted; want an error mentioning %q", want)
	case want != "" && !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)):
		t.Errorf("error does not mention %q: %v", want, err)
	default:
		if err != nil {
			t.Logf("refused as expected: %v", err)
		}
	}
}
