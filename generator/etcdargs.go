package generator

import (
	"path"
	"strconv"
	"strings"

	"github.com/etcdimg/etcdimg/model"
	"github.com/etcdimg/etcdimg/pki"
)

// VMPKIFile is where a certificate named name (as on the ISO) lives on the VM.
func VMPKIFile(c *model.Cluster, name string) string { return path.Join(c.TLS.Dir, name) }

// EtcdArgs is etcd's command line for n, without the binary. Every runtime
// (the systemd unit today) passes exactly these, so a flag fixed here is
// fixed everywhere.
func EtcdArgs(c *model.Cluster, n model.Node) []string {
	e := c.Etcd
	args := []string{
		"--name=" + n.Name,
		"--data-dir=" + e.DataDir,
		"--initial-advertise-peer-urls=" + c.PeerURL(n),
		"--listen-peer-urls=" + c.PeerURL(n),
		"--listen-client-urls=" + strings.Join(c.ListenClientURLs(n), ","),
		"--advertise-client-urls=" + strings.Join(c.AdvertiseClientURLs(n), ","),
		"--initial-cluster-token=" + c.Token,
		"--initial-cluster=" + c.InitialCluster(),
		// Only read on the first start: with a member in the data dir etcd
		// ignores the initial-* flags, so reboots rejoin the same cluster.
		"--initial-cluster-state=new",
		"--heartbeat-interval=" + strconv.Itoa(e.HeartbeatMs),
		"--election-timeout=" + strconv.Itoa(e.ElectionMs),
	}
	args = append(args, maintenanceArgs(c)...)
	if c.TLS.Enabled {
		// Each listener demands client certificates, then takes the
		// files pki.NodeFiles says feed it.
		for _, l := range []struct{ listener, auth string }{
			{pki.ListenerClient, "--client-cert-auth"},
			{pki.ListenerPeer, "--peer-client-cert-auth"},
		} {
			args = append(args, l.auth)
			for _, f := range pki.NodeFiles() {
				for _, fl := range f.Flags {
					if fl.Listener == l.listener {
						args = append(args, "--"+fl.Name+"="+VMPKIFile(c, f.Name))
					}
				}
			}
		}
		if c.TLS.MinVersion != "" {
			args = append(args, "--tls-min-version="+c.TLS.MinVersion)
		}
	}
	for _, fl := range e.ExtraFlags {
		args = append(args, "--"+fl.Name+"="+fl.Value)
	}
	return args
}
