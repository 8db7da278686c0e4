package generator

import (
	"bytes"
	"strconv"
	"text/template"

	"github.com/etcdimg/etcdimg/model"
)

// No sandboxing settings here, unlike etcd.service: the unit's process is
// only the engine's CLI (dockerd or podman's OCI runtime creates the
// container), and podman needs privileges a sandbox would take away. The
// container gets the equivalent instead: the etcd user, no capabilities,
// no privilege gain, a read-only root with only the data dir writable.
var containerUnitTemplate = template.Must(template.New("etcd-container.service").Funcs(template.FuncMap{
	"arg":  systemdArg,
	"spec": systemdSpecifierEscape,
}).Parse(`# Written by etcdimg for member {{spec .Node.Name}} of cluster {{spec .Cluster.Name}} ({{.Engine}} container). Rebuild the seed rather than editing it.
[Unit]
Description=etcd key-value store in a {{.Engine}} container (member {{spec .Node.Name}} of {{spec .Cluster.Name}})
Documentation=https://etcd.io/docs/
{{- if eq .Engine "docker"}}
After=docker.service network-online.target
Requires=docker.service
{{- else}}
After=network-online.target
{{- end}}
Wants=network-online.target

[Service]
Type=exec
# A container left behind by a crash or power loss would make "run --name"
# fail; "-" because there is usually none to remove.
ExecStartPre=-{{arg .EnginePath}} rm -f {{arg .Name}}
# In the foreground, without -d, so systemd supervises etcd itself and
# restarts it when it exits. Every engine option comes before the image:
# words after it are the container's command.
ExecStart={{arg .EnginePath}} run{{range .Run}} \
  {{arg .}}{{end}}
ExecStop={{arg .EnginePath}} stop {{arg .Name}}
Restart=always
RestartSec=10s
# Limits the CLI only; --ulimit above is what reaches etcd in the container.
LimitNOFILE={{.Cluster.Etcd.LimitNOFILE}}

[Install]
WantedBy=multi-user.target
`))

// ContainerUnit renders a systemd unit that runs n's etcd in a container
// with exactly the systemd runtime's flags and TLS files.
func ContainerUnit(c *model.Cluster, rt *model.ContainerRuntime, n model.Node) (string, error) {
	// Bind mounts at the same paths as on the host, so EtcdArgs' paths
	// hold in the container unchanged. The model's paths have no ':',
	// which separates the fields of --volume and has no escape.
	binds := []string{c.Etcd.DataDir + ":" + c.Etcd.DataDir}
	if c.TLS.Enabled {
		binds = append(binds, c.TLS.Dir+":"+c.TLS.Dir+":ro")
	}
	u := c.Etcd.User
	nofile := strconv.Itoa(c.Etcd.LimitNOFILE)
	// Every option is one word (--opt=value), so the image is plainly the
	// first word after "run" that does not start with '-'.
	run := []string{
		"--rm",
		"--name=" + rt.ContainerName,
		// etcd listens on the node's own IP and loopback, as under systemd.
		"--network=host",
		// Numeric ids: the image has no etcd user, and the data dir and the
		// PKI on the host are owned by these ids.
		"--user=" + strconv.Itoa(u.UID) + ":" + strconv.Itoa(u.GID),
		"--ulimit=nofile=" + nofile + ":" + nofile,
		"--read-only",
		"--cap-drop=ALL",
		"--security-opt=no-new-privileges",
	}
	for _, b := range binds {
		run = append(run, "--volume="+b)
	}
	run = append(run, rt.Image, rt.EtcdPath)
	run = append(run, EtcdArgs(c, n)...)
	var b bytes.Buffer
	err := containerUnitTemplate.Execute(&b, struct {
		Cluster    *model.Cluster
		Node       model.Node
		Engine     string
		EnginePath string
		Name       string
		Run        []string
	}{c, n, rt.Engine, rt.EnginePath, rt.ContainerName, run})
	return b.String(), err
}
