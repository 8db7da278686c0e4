// Package spec holds the typed cluster spec that a Jsonnet file evaluates to,
// decodes it strictly, and holds the defaults a spec gets for what it leaves
// out (Defaults). It applies nothing: the model resolves defaults and checks
// every value in one place.
//
// The JSON field names here are the operator's vocabulary: every error path
// in a report ("nodes[1].ip") is built from them, so they are never renamed
// casually.
//
// Every field that has a default is a pointer: nil means absent (or null in
// the Jsonnet) and takes the default, while an explicit value, 0 and "" too,
// is checked like any other. A port of 0 must be an error, never "unset".
package spec

// Cluster is the whole spec.
type Cluster struct {
	// Name identifies the cluster; it is part of every node's instance-id.
	Name string `json:"name"`
	// Token is etcd's --initial-cluster-token; defaults to Name.
	Token *string `json:"token,omitempty"`
	// Domain makes FQDNs (<node>.<domain>); empty means short names only.
	Domain  string  `json:"domain,omitempty"`
	Network Network `json:"network"`
	Etcd    Etcd    `json:"etcd"`
	TLS     TLS     `json:"tls"`
	Nodes   []Node  `json:"nodes"`
	// Access is who may log in to the nodes; nobody by default.
	Access Access `json:"access"`
	// CloudConfig is the operator's own #cloud-config, merged with what
	// etcdimg writes (model checks its keys; see README "Extra
	// cloud-config").
	CloudConfig map[string]any `json:"cloudConfig,omitempty"`
	// Files are extra write_files entries; they may not touch what etcdimg
	// writes.
	Files []File `json:"files,omitempty"`
	// Kubeadm makes the cluster a kubeadm external etcd: kubeadm's
	// certificate layout on the nodes, the API server's client certificate
	// in the host PKI, and with the static-pod runtime kubelet's drop-in.
	Kubeadm Kubeadm `json:"kubeadm"`
}

// Kubeadm is the kubeadm external-etcd option (README "Kubernetes (kubeadm
// external etcd)").
type Kubeadm struct {
	Enabled *bool `json:"enabled,omitempty"`
	// Kubelet configures the drop-in that lets kubelet run the static pod
	// on an etcd node (the static-pod runtime only).
	Kubelet Kubelet `json:"kubelet"`
}

// Kubelet is the KubeletConfiguration of kubeadm's "HA etcd with kubeadm"
// guide: the two values that depend on the node's container runtime.
type Kubelet struct {
	// CgroupDriver must match the container runtime's: "systemd" or
	// "cgroupfs".
	CgroupDriver *string `json:"cgroupDriver,omitempty"`
	// ContainerRuntimeEndpoint is the CRI socket, unix:///….
	ContainerRuntimeEndpoint *string `json:"containerRuntimeEndpoint,omitempty"`
}

// File is one extra file cloud-init writes on first boot.
type File struct {
	Path        string `json:"path"`
	Content     string `json:"content"`
	Owner       string `json:"owner,omitempty"`       // default root:root
	Permissions string `json:"permissions,omitempty"` // default 0644
	// Defer writes the file after users and packages exist (cloud-init's
	// write_files defer), for owners that cloud-init creates.
	Defer bool `json:"defer,omitempty"`
}

// Network is the node network every node sits on.
type Network struct {
	CIDR          string   `json:"cidr"`
	Gateway       string   `json:"gateway,omitempty"`
	DNS           []string `json:"dns,omitempty"`
	SearchDomains []string `json:"searchDomains,omitempty"`
	// Interface names the NIC of nodes that have no MAC in the spec.
	Interface *string `json:"interface,omitempty"`
}

// Etcd is what the blog passes to etcd by hand.
type Etcd struct {
	Version string `json:"version"`
	// Arch is the nodes' machine: "amd64" or "arm64"; it names the release
	// tarball (etcd-vX.Y.Z-linux-ARCH.tar.gz) whose binaries must be built
	// for it.
	Arch                *string           `json:"arch,omitempty"`
	Release             Release           `json:"release"`
	ClientPort          *int              `json:"clientPort,omitempty"`
	PeerPort            *int              `json:"peerPort,omitempty"`
	ExtraClientPorts    []int             `json:"extraClientPorts,omitempty"`
	ListenLocalhost     *bool             `json:"listenLocalhost,omitempty"`
	HeartbeatIntervalMs *int              `json:"heartbeatIntervalMs,omitempty"`
	ElectionTimeoutMs   *int              `json:"electionTimeoutMs,omitempty"`
	DataDir             *string           `json:"dataDir,omitempty"`
	LimitNOFILE         *int              `json:"limitNOFILE,omitempty"`
	User                User              `json:"user"`
	ExtraFlags          map[string]Scalar `json:"extraFlags,omitempty"`
	// Runtime is how etcd runs on the node: "systemd" (default, the blog's
	// Option 1), "static-pod" (Option 2) or "container" (Option 3).
	Runtime   *string   `json:"runtime,omitempty"`
	Container Container `json:"container"`
	StaticPod StaticPod `json:"staticPod"`
	// Maintenance (maintenance.go): compaction and quota always, scheduled
	// snapshots and defragmentation when set.
	AutoCompaction    AutoCompaction `json:"autoCompaction"`
	QuotaBackendBytes *int           `json:"quotaBackendBytes,omitempty"`
	Backup            *Backup        `json:"backup,omitempty"`
	Defrag            *Defrag        `json:"defrag,omitempty"`
}

// Container configures the container runtime.
type Container struct {
	Engine *string `json:"engine,omitempty"` // docker (default) or podman
	// Image; absent means an image made on first boot from the release on
	// the ISO, so an offline VM needs nothing from a registry.
	Image *string `json:"image,omitempty"`
	Name  *string `json:"name,omitempty"`
}

// StaticPod configures the Kubernetes static pod runtime.
type StaticPod struct {
	// Image; absent means registry.k8s.io/etcd:<version>-0, kubeadm's tag.
	Image         *string `json:"image,omitempty"`
	ManifestPath  *string `json:"manifestPath,omitempty"`
	MetricsPort   *int    `json:"metricsPort,omitempty"`
	CPURequest    *string `json:"cpuRequest,omitempty"`
	MemoryRequest *string `json:"memoryRequest,omitempty"`
}

// Release is the etcd release tarball carried on every seed ISO.
type Release struct {
	Path   string `json:"path,omitempty"` // relative paths are relative to the spec file
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256"`
}

// User is the unprivileged account etcd runs as.
type User struct {
	Name  *string `json:"name,omitempty"`
	UID   *int    `json:"uid,omitempty"`
	Group *string `json:"group,omitempty"`
	GID   *int    `json:"gid,omitempty"`
}

// TLS configures the cluster PKI. It is on unless Enabled is explicitly false.
type TLS struct {
	Enabled *bool `json:"enabled,omitempty"`
	// MinVersion is "TLS1.2" or "TLS1.3".
	MinVersion *string `json:"minVersion,omitempty"`
	CA         CA      `json:"ca"`
	// KeyAlgorithm is the leaf key type: ecdsa-p256, rsa-2048, rsa-3072, rsa-4096.
	KeyAlgorithm *string `json:"keyAlgorithm,omitempty"`
	ValidityDays *int    `json:"validityDays,omitempty"`
	// Dir is where certificates land on the VM.
	Dir *string `json:"dir,omitempty"`
}

// CA is either generated or the operator's own.
type CA struct {
	Algorithm    *string `json:"algorithm,omitempty"`
	Cert         string  `json:"cert,omitempty"`
	Key          string  `json:"key,omitempty"`
	ValidityDays *int    `json:"validityDays,omitempty"`
}

// Node is one etcd member and one VM.
type Node struct {
	Name      string   `json:"name"`
	IP        string   `json:"ip"`
	MAC       string   `json:"mac,omitempty"`
	Interface *string  `json:"interface,omitempty"`
	ExtraSANs []string `json:"extraSANs,omitempty"`
}

// Scalar is a Jsonnet string, number or boolean, kept as the text etcd will
// see on its command line.
type Scalar struct {
	Text string
	Kind string // "string", "number" or "bool"
}

// Access is how an operator logs in to a node: SSH keys for the image's
// default user and, optionally, a named admin user with sudo. There is no
// plaintext password anywhere: a seed is readable by whoever holds the ISO.
type Access struct {
	// SSHAuthorizedKeys go to the image's default user (debian on Debian's
	// cloud images, which has passwordless sudo there).
	SSHAuthorizedKeys []string `json:"sshAuthorizedKeys,omitempty"`
	Admin             *Admin   `json:"admin,omitempty"`
}

// Admin is an extra login user with sudo.
type Admin struct {
	Name              string   `json:"name"`
	SSHAuthorizedKeys []string `json:"sshAuthorizedKeys,omitempty"`
	// PasswordHash is a crypt(3) hash (mkpasswd -m yescrypt, or sha-512)
	// for the console only: SSH password logins are turned off with it.
	PasswordHash string `json:"passwordHash,omitempty"`
}
