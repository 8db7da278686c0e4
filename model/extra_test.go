package model_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/spec"
)

// cloudConfig decodes JSON the way spec.Decode leaves free-form values.
func cloudConfig(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExtraAccepted(t *testing.T) {
	c := base()
	c.CloudConfig = cloudConfig(t, `{"ntp": {"servers": ["10.0.0.1"]}, "runcmd": ["echo hi", ["touch", "/x"]],
		"users": [{"name": "backup", "uid": 3000, "groups": ["adm"]}], "timezone": "UTC"}`)
	c.Files = []spec.File{{Path: "/etc/chrony/conf.d/local.conf", Content: "server 10.0.0.1\n", Permissions: "640"}}
	m, r := model.Validate(c)
	if len(r.Entries) != 0 {
		t.Fatal(r)
	}
	// Numbers come out as numbers, not json.Number (a string to YAML).
	if uid := m.Extra.CloudConfig["users"].([]any)[0].(map[string]any)["uid"]; uid != int64(3000) {
		t.Errorf("uid %#v, want int64 3000", uid)
	}
	if f := m.Extra.Files[0]; f.Owner != "root:root" || f.Permissions != "0640" {
		t.Errorf("file defaults %+v", f)
	}
}

func TestExtraRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cc    string
		files []spec.File
		want  string
	}{
		{"owned scalar", `{"hostname": "x"}`, nil, "error: cloudConfig.hostname: etcdimg owns this key: etcdimg sets it to the node's name"},
		{"write_files", `{"write_files": []}`, nil, "error: cloudConfig.write_files: etcdimg owns this key: use files:"},
		{"plaintext password", `{"chpasswd": {"list": "root:x"}}`, nil, "error: cloudConfig.chpasswd: etcdimg owns this key: no plaintext passwords"},
		{"unknown key", `{"ntpd": {}}`, nil, "error: cloudConfig.ntpd: not a cloud-config key etcdimg passes through; known: apt, bootcmd,"},
		{"deprecated key", `{"apt_proxy": "http://p"}`, nil, "error: cloudConfig.apt_proxy: not a cloud-config key etcdimg passes through"},
		{"wrong type", `{"ntp": {"servers": "10.0.0.1"}}`, nil, `error: cloudConfig.ntp.servers: expected a list, got string "10.0.0.1"`},
		{"unknown subkey", `{"ntp": {"server": ["a"]}}`, nil, "error: cloudConfig.ntp.server: not a key etcdimg checks here; known: allow, enabled,"},
		{"bad argv", `{"runcmd": [["ls", 3]]}`, nil, "error: cloudConfig.runcmd[0][1]: expected a string (one argv word), got number 3"},
		{"command object", `{"bootcmd": [{"x": 1}]}`, nil, "error: cloudConfig.bootcmd[0]: expected a shell command string or a list of argv strings, got an object"},
		{"user etcd", `{"users": [{"name": "etcd"}]}`, nil, `error: cloudConfig.users[0].name: "etcd" is a user etcdimg (or the image) makes already`},
		{"user default", `{"users": ["default"]}`, nil, `error: cloudConfig.users[0]: expected an object with a name, got string "default"`},
		{"user plain password", `{"users": [{"name": "u", "plain_text_passwd": "x"}]}`, nil, "error: cloudConfig.users[0].plain_text_passwd: not passed through"},
		{"user bad key", `{"users": [{"name": "u", "ssh_authorized_keys": ["nope"]}]}`, nil, "error: cloudConfig.users[0].ssh_authorized_keys[0]: not an SSH public key"},
		{"packages warn", `{"packages": ["chrony"]}`, nil, "warning: cloudConfig: packages need a reachable mirror"},
		{"bad package", `{"packages": [["a", "1", "x"]]}`, nil, "error: cloudConfig.packages[0]: expected a package name or [name, version]"},
		{"file on etcd's unit", `{}`, []spec.File{{Path: "/etc/systemd/system/etcd.service"}}, "error: files[0].path: /etc/systemd/system/etcd.service is etcdimg's: etcd's unit"},
		{"file in the pki", `{}`, []spec.File{{Path: "/etc/etcd/pki/extra.crt"}}, "error: files[0].path: /etc/etcd/pki/extra.crt is etcdimg's: etcdctl.env and etcd's configuration under /etc/etcd"},
		{"file in the data dir", `{}`, []spec.File{{Path: "/var/lib/etcd/member/x"}}, "error: files[0].path: /var/lib/etcd/member/x is etcdimg's: etcd's data (etcd.dataDir) under /var/lib/etcd"},
		{"file named etcdimg", `{}`, []spec.File{{Path: "/etc/systemd/system/cloud-init-local.service.d/50-etcdimg-seed-check.conf"}}, "error: files[0].path: /etc/systemd/system/cloud-init-local.service.d/50-etcdimg-seed-check.conf is etcdimg's: files named etcdimg… under /etc/systemd/system are its own"},
		{"file twice", `{}`, []spec.File{{Path: "/etc/a"}, {Path: "/etc/a"}}, "error: files[1].path: /etc/a is also the path of files[0]"},
		{"relative file", `{}`, []spec.File{{Path: "etc/a"}}, `error: files[0].path: "etc/a" is not an absolute path`},
		{"numeric mode", `{}`, []spec.File{{Path: "/etc/a", Permissions: "rw-r--r--"}}, `error: files[0].permissions: "rw-r--r--" is not an octal mode`},
		{"owner", `{}`, []spec.File{{Path: "/etc/a", Owner: "root:root:x"}}, `error: files[0].owner: "root:root:x" is not USER or USER:GROUP`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.CloudConfig = cloudConfig(t, tc.cc)
			c.Files = tc.files
			_, r := model.Validate(c)
			if len(r.Entries) != 1 || !strings.HasPrefix(r.Entries[0].String(), tc.want) {
				t.Errorf("want exactly one entry starting %q, got:\n%s", tc.want, r)
			}
		})
	}
}
