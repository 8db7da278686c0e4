package generator

import (
	"bytes"
	"strconv"
	"strings"
	"text/template"

	"github.com/etcdimg/etcdimg/model"
)

// The sandboxing below is what etcd tolerates: it only needs its data dir
// writable, its certificates readable and TCP. MemoryDenyWriteExecute is safe
// for Go binaries. Ports below 1024 are refused by validation, so no
// capability is ever needed.
var unitTemplate = template.Must(template.New("etcd.service").Funcs(template.FuncMap{
	"arg":  systemdArg,
	"spec": systemdSpecifierEscape,
}).Parse(`# Written by etcdimg for member {{spec .Node.Name}} of cluster {{spec .Cluster.Name}}. Rebuild the seed rather than editing it.
[Unit]
Description=etcd key-value store (member {{spec .Node.Name}} of {{spec .Cluster.Name}})
Documentation=https://etcd.io/docs/
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User={{arg .Cluster.Etcd.User.Name}}
Group={{arg .Cluster.Etcd.User.Group}}
{{- if .EnvFile}}
# A joining member's --initial-cluster (the members it joins): written by
# etcdimg-join before etcd's first start, removed once it is a voting member.
# Without it etcd refuses to start rather than bootstrap a cluster of its own.
EnvironmentFile=-{{arg .EnvFile}}
{{- end}}
ExecStart=/usr/local/bin/etcd{{range .Args}} \
  {{arg .}}{{end}}
Restart=always
RestartSec=10s
# etcd only reports ready once it has quorum: on first boot that waits for the
# other members, however long they take.
TimeoutStartSec=0
LimitNOFILE={{.Cluster.Etcd.LimitNOFILE}}
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{arg .Cluster.Etcd.DataDir}}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
`))

// Unit renders n's etcd.service.
func Unit(c *model.Cluster, n model.Node) (string, error) {
	if !c.IsBootstrap(n) {
		return unit(c, n, JoinArgs(c, n), JoinEnvPath)
	}
	return unit(c, n, EtcdArgs(c, n), "")
}

func unit(c *model.Cluster, n model.Node, args []string, envFile string) (string, error) {
	// Every argument is one line: the model refuses newlines in every value.
	var b bytes.Buffer
	err := unitTemplate.Execute(&b, struct {
		Cluster *model.Cluster
		Node    model.Node
		Args    []string
		EnvFile string
	}{c, n, args, envFile})
	return b.String(), err
}

// systemdArg quotes one word of a unit setting so systemd passes it through
// unchanged: '%' would start a specifier, '$' an environment expansion, and
// quotes, backslashes and blanks change word splitting.
func systemdArg(s string) string {
	s = systemdSpecifierEscape(s)
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safeUnitRune(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

func safeUnitRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,=@+[]%$", r)
}

// systemdSpecifierEscape escapes '%' for settings that expand specifiers
// but are not command lines (Description=, comments are harmless either way).
func systemdSpecifierEscape(s string) string { return strings.ReplaceAll(s, "%", "%%") }
