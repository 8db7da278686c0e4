package generator

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/etcdimg/etcdimg/model"
)

// ContainerOptions tunes the container runtime (the blog's Option 3): etcd
// in a docker or podman container supervised by a systemd unit.
type ContainerOptions struct {
	// Engine is "docker" (the default) or "podman".
	Engine string
	// Image defaults to gcr.io/etcd-development/etcd:v<version>, one of
	// etcd's two official images (quay.io/coreos/etcd is the other); both
	// carry the binary at /usr/local/bin/etcd.
	Image string
	// Name is the container's name, "etcd" by default.
	Name string
}

// ContainerEtcdPath is the etcd binary inside etcd's official images.
const ContainerEtcdPath = "/usr/local/bin/etcd"

// containerEngines are where Debian's docker.io / docker-ce and podman
// packages install their CLIs; systemd wants absolute paths to be sure
// which binary runs.
var containerEngines = map[string]string{"docker": "/usr/bin/docker", "podman": "/usr/bin/podman"}

// containerNameRE is docker's own rule for container names (podman's too).
var containerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func (o ContainerOptions) withDefaults(c *model.Cluster) ContainerOptions {
	if o.Engine == "" {
		o.Engine = "docker"
	}
	if o.Image == "" {
		o.Image = "gcr.io/etcd-development/etcd:v" + c.Etcd.Version
	}
	if o.Name == "" {
		o.Name = "etcd"
	}
	return o
}

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
func ContainerUnit(c *model.Cluster, n model.Node, o ContainerOptions) (string, error) {
	o = o.withDefaults(c)
	enginePath, ok := containerEngines[o.Engine]
	if !ok {
		return "", fmt.Errorf("container engine %q: want docker or podman", o.Engine)
	}
	if err := checkImage(o.Image); err != nil {
		return "", err
	}
	if !containerNameRE.MatchString(o.Name) {
		return "", fmt.Errorf("container name %q: want letters, digits, '_', '.' and '-', starting with a letter or digit", o.Name)
	}
	// Bind mounts at the same paths as on the host, so EtcdArgs' paths
	// hold in the container unchanged.
	binds := []string{c.Etcd.DataDir + ":" + c.Etcd.DataDir}
	dirs := []string{c.Etcd.DataDir}
	if c.TLS.Enabled {
		binds = append(binds, c.TLS.Dir+":"+c.TLS.Dir+":ro")
		dirs = append(dirs, c.TLS.Dir)
	}
	for _, d := range dirs {
		// ':' separates the fields of --volume and has no escape.
		if strings.Contains(d, ":") {
			return "", fmt.Errorf("%q cannot be bind-mounted into a container: it contains ':'", d)
		}
	}
	u := c.Etcd.User
	nofile := strconv.Itoa(c.Etcd.LimitNOFILE)
	// Every option is one word (--opt=value), so the image is plainly the
	// first word after "run" that does not start with '-'.
	run := []string{
		"--rm",
		"--name=" + o.Name,
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
	run = append(run, o.Image, ContainerEtcdPath)
	args := EtcdArgs(c, n)
	for _, a := range append(run, args...) {
		if strings.ContainsAny(a, "\x00\n\r") {
			return "", fmt.Errorf("argument %q spans lines; it cannot go into a unit file", a)
		}
	}
	run = append(run, args...)
	var b bytes.Buffer
	err := containerUnitTemplate.Execute(&b, struct {
		Cluster    *model.Cluster
		Node       model.Node
		Engine     string
		EnginePath string
		Name       string
		Run        []string
	}{c, n, o.Engine, enginePath, o.Name, run})
	return b.String(), err
}
