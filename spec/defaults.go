package spec

// Defaults are the values a spec gets for what it leaves out. They are the
// single source of truth: the bundled Jsonnet library exposes them as
// etcdimg.defaults (generated from this struct), so what an operator reads
// there is what a build uses.
var Defaults = struct {
	ClientPort, PeerPort          int
	HeartbeatIntervalMs           int
	ElectionTimeoutMs             int
	DataDir                       string
	LimitNOFILE                   int
	UserName, GroupName           string
	UID, GID                      int
	Interface                     string
	ListenLocalhost               bool
	TLSEnabled                    bool
	TLSMinVersion                 string
	TLSDir                        string
	KeyAlgorithm, CAAlgorithm     string
	LeafValidityDays, CAValidDays int
}{
	ClientPort:          2379,
	PeerPort:            2380,
	HeartbeatIntervalMs: 100,
	ElectionTimeoutMs:   1000,
	DataDir:             "/var/lib/etcd",
	LimitNOFILE:         40000,
	UserName:            "etcd",
	GroupName:           "etcd",
	UID:                 1501, // the blog's fixed ids, so files keep their owner across rebuilds
	GID:                 1501,
	Interface:           "eth0",
	ListenLocalhost:     true,
	TLSEnabled:          true,
	TLSMinVersion:       "TLS1.2",
	TLSDir:              "/etc/etcd/pki",
	KeyAlgorithm:        "ecdsa-p256",
	CAAlgorithm:         "ecdsa-p256",
	LeafValidityDays:    365,
	CAValidDays:         3650,
}

func boolp(b bool) *bool { return &b }

// ApplyDefaults fills every field the spec left empty. It never overrides a
// value the operator set, even an invalid one: validation must see it.
func ApplyDefaults(c *Cluster) {
	d := Defaults
	if c.Token == "" {
		c.Token = c.Name
	}
	if c.Network.Interface == "" {
		c.Network.Interface = d.Interface
	}
	e := &c.Etcd
	setInt(&e.ClientPort, d.ClientPort)
	setInt(&e.PeerPort, d.PeerPort)
	setInt(&e.HeartbeatIntervalMs, d.HeartbeatIntervalMs)
	setInt(&e.ElectionTimeoutMs, d.ElectionTimeoutMs)
	setInt(&e.LimitNOFILE, d.LimitNOFILE)
	setInt(&e.User.UID, d.UID)
	setInt(&e.User.GID, d.GID)
	setStr(&e.DataDir, d.DataDir)
	setStr(&e.User.Name, d.UserName)
	setStr(&e.User.Group, d.GroupName)
	setStr(&e.Runtime, "systemd")
	if e.Runtime == "container" {
		setStr(&e.Container.Engine, "docker")
		setStr(&e.Container.Name, "etcd")
	}
	if e.ListenLocalhost == nil {
		e.ListenLocalhost = boolp(d.ListenLocalhost)
	}
	t := &c.TLS
	if t.Enabled == nil {
		t.Enabled = boolp(d.TLSEnabled)
	}
	setStr(&t.MinVersion, d.TLSMinVersion)
	setStr(&t.Dir, d.TLSDir)
	setStr(&t.KeyAlgorithm, d.KeyAlgorithm)
	setInt(&t.ValidityDays, d.LeafValidityDays)
	if t.CA.Cert == "" {
		setStr(&t.CA.Algorithm, d.CAAlgorithm)
		setInt(&t.CA.ValidityDays, d.CAValidDays)
	}
	for i := range c.Nodes {
		if c.Nodes[i].Interface == "" {
			c.Nodes[i].Interface = c.Network.Interface
		}
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// DefaultsJSON is etcdimg.defaults as the Jsonnet library sees it.
func DefaultsJSON() map[string]any {
	d := Defaults
	return map[string]any{
		"network": map[string]any{"interface": d.Interface},
		"etcd": map[string]any{
			"clientPort":          d.ClientPort,
			"peerPort":            d.PeerPort,
			"listenLocalhost":     d.ListenLocalhost,
			"heartbeatIntervalMs": d.HeartbeatIntervalMs,
			"electionTimeoutMs":   d.ElectionTimeoutMs,
			"dataDir":             d.DataDir,
			"limitNOFILE":         d.LimitNOFILE,
			"runtime":             "systemd",
			"user": map[string]any{
				"name": d.UserName, "uid": d.UID, "group": d.GroupName, "gid": d.GID,
			},
		},
		"tls": map[string]any{
			"enabled":      d.TLSEnabled,
			"minVersion":   d.TLSMinVersion,
			"dir":          d.TLSDir,
			"keyAlgorithm": d.KeyAlgorithm,
			"validityDays": d.LeafValidityDays,
			"ca":           map[string]any{"algorithm": d.CAAlgorithm, "validityDays": d.CAValidDays},
		},
	}
}
