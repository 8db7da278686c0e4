package etcdflags

// managed lists the flags etcdimg writes on every node's etcd command line,
// with the spec field an operator changes instead. Passing one of them as an
// extra flag would either be overridden or fight etcdimg's own value, so
// callers reject them and point at the field.
//
// listen-metrics-urls is deliberately absent: the spec has no metrics
// setting, so an extra flag is the operator's only way to expose /metrics.
var managed = map[string]string{
	"name":                        "nodes[].name",
	"data-dir":                    "etcd.dataDir",
	"listen-client-urls":          "etcd.clientPort",
	"listen-peer-urls":            "etcd.peerPort",
	"advertise-client-urls":       "nodes[].ip",
	"initial-advertise-peer-urls": "nodes[].ip",
	"initial-cluster":             "nodes",
	"initial-cluster-token":       "token",
	// etcdimg always bootstraps every member together, so the state follows
	// from the node list rather than from a field of its own.
	"initial-cluster-state":     "nodes",
	"heartbeat-interval":        "etcd.heartbeatIntervalMs",
	"election-timeout":          "etcd.electionTimeoutMs",
	"client-cert-auth":          "tls",
	"peer-client-cert-auth":     "tls",
	"cert-file":                 "tls",
	"key-file":                  "tls",
	"trusted-ca-file":           "tls",
	"peer-cert-file":            "tls",
	"peer-key-file":             "tls",
	"peer-trusted-ca-file":      "tls",
	"tls-min-version":           "tls.minVersion",
	"auto-compaction-mode":      "etcd.autoCompaction.mode",
	"auto-compaction-retention": "etcd.autoCompaction.retention",
	"quota-backend-bytes":       "etcd.quotaBackendBytes",
	// A config file makes etcd ignore every other flag, etcdimg's included.
	"config-file": "etcd",
}

// Managed reports whether etcdimg sets flag name itself and, if so, the spec
// field (JSON path as in error reports) that controls it instead.
func Managed(name string) (field string, ok bool) {
	field, ok = managed[name]
	return field, ok
}
