// Package e2e is etcdimg's end-to-end harness: it boots real Debian 12 and 13
// VMs with QEMU from the NoCloud seeds that `etcdimg build` writes and checks
// that they form a healthy etcd cluster on first boot, offline.
//
// The VM tests live behind the build tag "e2e" and need root, QEMU,
// debootstrap, genisoimage and iproute2:
//
//	make e2e                      # see e2e/e2e.mk
//	go test -tags e2e -v -timeout 60m ./e2e/ -run TestLateJoiner/trixie
//
// Environment knobs (all optional):
//
//	ETCDIMG_E2E_RELEASES      Debian releases for every scenario, e.g. "bookworm trixie"
//	                          (default: each scenario's own, see scenarios_test.go)
//	ETCDIMG_E2E_CACHE         base image cache root (default /var/cache/etcdimg-e2e)
//	ETCDIMG_E2E_RELEASE       etcd release tarball (default out/etcd-release/etcd-v3.6.16-linux-amd64.tar.gz)
//	ETCDIMG_E2E_BIN           etcdimg binary (default: ./cmd/etcdimg built fresh)
//	ETCDIMG_E2E_ACCEL         kvm or tcg (default: kvm only with kvm_intel/kvm_amd loaded)
//	ETCDIMG_E2E_BOOT_TIMEOUT  boot -> report timeout, e.g. 10m (default scales with node count)
//	ETCDIMG_E2E_ARTIFACTS     where failure artifacts go (default e2e/artifacts)
//	ETCDIMG_E2E_KEEP=1        save artifacts even when the test passes
//
// The guest-side report (e2e/base/etcdimg-e2e-report) is test scaffolding baked
// into the e2e base image only; it is never part of a product seed.
package e2e
