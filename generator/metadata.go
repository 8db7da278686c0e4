package generator

// metaData is NoCloud's meta-data. instance-id must stay stable for the
// life of a VM: cloud-init re-runs first-boot modules when it changes.
type metaData struct {
	InstanceID    string `yaml:"instance-id"`
	LocalHostname string `yaml:"local-hostname"`
}
