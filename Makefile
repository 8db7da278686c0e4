# etcdimg — see README.md. Everything runs from a fresh Debian machine with Go.
SHELL := /bin/bash
GO ?= go
ETCD_VERSION ?= 3.6.16
# The nodes' machine (the spec's etcd.arch) for `make etcd-release`:
# ETCD_ARCH=arm64 cross-compiles the linux-arm64 tarball. The tests run the
# host's (amd64) release.
ETCD_ARCH ?= amd64
RELEASE_DIR := out/etcd-release
RELEASE := $(RELEASE_DIR)/etcd-v$(ETCD_VERSION)-linux-amd64.tar.gz
BIN := bin/etcdimg
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
export ETCDIMG_RELEASE := $(CURDIR)/$(RELEASE)
# As root, the tests build (once, cached in /var/cache/etcdimg-e2e) a Debian 13
# root whose cloud-init 25.1 checks every seed beside the host's 22.4, and fail
# rather than skip when it cannot run.
export ETCDIMG_BUILD_TRIXIE ?= $(shell [ "$$(id -u)" = 0 ] && echo 1)

.PHONY: all build etcd-release demo test unit lint deps bench golden fuzz clean
all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/etcdimg

# The etcd release the seeds carry, built offline from etcd's Go modules;
# cached: a second run only prints the sha256.
etcd-release:
	ETCD_ARCH=$(ETCD_ARCH) scripts/etcd-release.sh $(ETCD_VERSION) $(RELEASE_DIR)

# The blog's 3-node cluster (jsonnet/examples/seed-cluster.jsonnet) built into
# out/seed-cluster (ISOs + cloud-init files) with its PKI in out/k8s-pki.
demo: build etcd-release
	$(BIN) build jsonnet/examples/seed-cluster.jsonnet -o out/seed-cluster \
	  --ext-str etcd_sha256=$$(cut -d' ' -f1 $(RELEASE).sha256)
	@ls -l out/seed-cluster/*.iso

# Host tools the tests use for real: cloud-init's schema check, three ISO
# readers, openssl, PyYAML. Installed from Debian packages when missing.
deps:
	scripts/deps.sh

test: deps etcd-release lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 30m ./...

# Benchmarks; CI runs them once with a short -benchtime to keep them compiling.
# The Go ones: spec evaluation and render of 3 and 100 nodes, one seed ISO with
# a 25 and a 60 MiB release against a plain copy, a 5-node build. BENCH_TOOLS=1
# adds scripts/bench.sh, etcdimg against cp, genisoimage and xorriso (a few
# minutes, GiBs written under out/bench); its results are in BENCHMARKS.md.
BENCHTIME ?= 1s
bench: etcd-release
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...
	$(if $(BENCH_TOOLS),scripts/bench.sh)

golden:
	$(GO) test ./... -update

# Every fuzz target of the module (each `func Fuzz…`, found by go test -list),
# one after the other for FUZZTIME each. `make test` runs them only over their
# seed corpus (testdata/fuzz/<Target>); a crasher found here lands in that
# corpus and stays as a regression case: commit it with the fix.
FUZZTIME ?= 1m
fuzz: etcd-release
	@set -eo pipefail; $(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { f[++n] = $$1; next } /^ok/ { for (i = 1; i <= n; i++) print $$2, f[i]; n = 0 }' | \
	while read -r pkg target; do \
	  echo "== $$target ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg" </dev/null; \
	done

clean:
	rm -rf bin out

-include e2e/e2e.mk
