# etcdimg end-to-end tests: real Debian VMs under QEMU boot the seeds.
# Included by the top-level Makefile (-include e2e/e2e.mk). Needs root and
# the Debian packages below (installed when missing). One base image per
# Debian release (bookworm, trixie) is built once into $(ETCDIMG_E2E_CACHE)
# (default /var/cache/etcdimg-e2e).
#
#   make e2e                                   # default set (~42 min under TCG)
#   make e2e E2E_RUN=TestLifecycle             # one scenario, on its releases
#   make e2e E2E_RUN=TestLateJoiner/trixie     # one scenario on one release
#   make e2e ETCDIMG_E2E_RELEASES=trixie       # every scenario on trixie only
#   make e2e E2E_RUN=TestHarnessHandMadeSeed   # harness self-test, no product needed (only when named)
#
# Failures print the artifacts folder (serial logs, guest reports, seeds):
# e2e/artifacts/<spec>-<release>-<time>/ (ETCDIMG_E2E_KEEP=1 keeps it on success too).
E2E_RUN ?= .
# go test's own deadline: the default set took 42 min on a 2-core TCG host
# (2525 s, 2 Dec 2026; 66 min before its two scenarios shared their boots);
# a slower host must fail a scenario, not panic the binary. CI's cut is 90
# min in all, about 7 of them before `make e2e`.
E2E_TIMEOUT ?= 80m
E2E_PKGS := qemu-system-x86 qemu-utils debootstrap iproute2 e2fsprogs genisoimage xorriso openssh-client

.PHONY: e2e e2e-deps e2e-base-image e2e-old-release
e2e-deps:
	@missing=; for p in $(E2E_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "e2e: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

# The older etcd release TestLifecycle first boots with, to upgrade
# the running cluster to $(ETCD_VERSION) by the rolling delivery (one minor up).
E2E_OLD_ETCD_VERSION ?= 3.5.21
E2E_OLD_RELEASE := $(RELEASE_DIR)/etcd-v$(E2E_OLD_ETCD_VERSION)-linux-amd64.tar.gz

E2E_DEBIAN_RELEASES ?= bookworm trixie
e2e-base-image: e2e-deps
	for r in $(E2E_DEBIAN_RELEASES); do bash e2e/base-image.sh $$r || exit 1; done

e2e-old-release:
	ETCD_ARCH=amd64 scripts/etcd-release.sh $(E2E_OLD_ETCD_VERSION) $(RELEASE_DIR)

e2e: e2e-deps build etcd-release e2e-old-release
	ETCDIMG_E2E_BIN=$(CURDIR)/$(BIN) ETCDIMG_E2E_RELEASE=$(CURDIR)/$(RELEASE) \
	  ETCDIMG_E2E_OLD_RELEASE=$(CURDIR)/$(E2E_OLD_RELEASE) \
	  $(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./e2e/ -run "$(E2E_RUN)"
