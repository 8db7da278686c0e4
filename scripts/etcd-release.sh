#!/usr/bin/env bash
# Builds an etcd linux release tarball, laid out like upstream's, from etcd's
# own Go modules, so that seed ISOs can carry etcd without us downloading
# anything but Go modules.
#
# usage: [ETCD_ARCH=amd64|arm64] scripts/etcd-release.sh [VERSION] [OUTDIR]
#   ETCD_ARCH (default amd64) is the nodes' machine (the spec's etcd.arch):
#   arm64 cross-compiles etcd-vVERSION-linux-arm64.tar.gz.
#   VERSION defaults to the version pinned in tools/etcd-release/go.mod.
#   OUTDIR defaults to <repo>/out/etcd-release; a relative OUTDIR is taken
#   from the current directory.
#
# stdout gets only the tarball's sha256 (so `sha=$(scripts/etcd-release.sh)`
# works); progress goes to stderr.
#
# SOURCE_DATE_EPOCH (default 0) sets the mtime of every tar entry.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODDIR=$ROOT/tools/etcd-release
SCRIPT=$ROOT/scripts/etcd-release.sh

log() { printf 'etcd-release: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

pinned=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { sub(/^v/, "", $2); print $2 }' "$MODDIR/go.mod")
[[ -n $pinned ]] || die "cannot find the pinned go.etcd.io/etcd/server/v3 version in $MODDIR/go.mod"

VERSION=${1:-$pinned}
VERSION=${VERSION#v}
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || die "bad version \"$VERSION\" (want e.g. 3.6.16)"
OUTDIR=${2:-$ROOT/out/etcd-release}
ARCH=${ETCD_ARCH:-amd64}
case $ARCH in amd64 | arm64) ;; *) die "ETCD_ARCH must be amd64 or arm64, got \"$ARCH\"" ;; esac
EPOCH=${SOURCE_DATE_EPOCH:-0}
[[ $EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be a number of seconds, got \"$EPOCH\""

command -v go >/dev/null || die "go is not on PATH"

NAME=etcd-v$VERSION-linux-$ARCH
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
TARBALL=$OUTDIR/$NAME.tar.gz
SUMFILE=$TARBALL.sha256
STAMP=$TARBALL.stamp

# Two builds racing into one OUTDIR would interleave the rename of the
# tarball with the write of its .sha256 and stamp.
if command -v flock >/dev/null; then
	exec 9>"$OUTDIR/.etcd-release.lock"
	flock 9
fi

# Everything that can change the bytes of the tarball: the recipe files, the
# toolchain (Go does not promise identical output across releases), the
# version and the tar mtime.
goversion=$(go env GOVERSION)
recipe=$(cat "$SCRIPT" "$MODDIR/go.mod" "$MODDIR/go.sum" | sha256sum | cut -d' ' -f1)
want_stamp="version=$VERSION
arch=$ARCH
recipe=$recipe
go=$goversion
source_date_epoch=$EPOCH"

if [[ -f $TARBALL && -f $SUMFILE && -f $STAMP ]] && [[ $(<"$STAMP") == "$want_stamp" ]]; then
	# Re-hashing costs a fraction of a second and catches a tarball that was
	# replaced or truncated behind the stamp's back.
	if (cd "$OUTDIR" && sha256sum --quiet --status -c "$SUMFILE" 2>/dev/null); then
		log "up to date: $TARBALL"
		cut -d' ' -f1 "$SUMFILE"
		exit 0
	fi
	log "$TARBALL does not match $SUMFILE; rebuilding"
fi

start=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/etcd-release.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# A go.work above us, or GOFLAGS/GOOS from the caller's shell, must not
# change what gets built.
export GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH

if [[ $VERSION == "$pinned" ]]; then
	BUILDMOD=$MODDIR
else
	# Start from an empty module rather than edit a copy of ours: go get
	# never lowers the shared dependencies our pin pulled up, so a copy would
	# build an older etcd against newer grpc/x/net than that release chose.
	BUILDMOD=$WORK/mod
	mkdir -p "$BUILDMOD"
	printf 'module etcdimg.local/etcd-release\n\ngo %s\n' "$(awk '$1 == "go" { print $2; exit }' "$MODDIR/go.mod")" >"$BUILDMOD/go.mod"
	log "resolving etcd v$VERSION modules"
	# go get lists every module it adds; only a failure is worth showing.
	if ! (cd "$BUILDMOD" && GOFLAGS=-mod=mod go get -tool \
		"go.etcd.io/etcd/server/v3@v$VERSION" \
		"go.etcd.io/etcd/etcdctl/v3@v$VERSION" \
		"go.etcd.io/etcd/etcdutl/v3@v$VERSION" &&
		GOFLAGS=-mod=mod go mod tidy) >"$WORK/resolve.log" 2>&1; then
		cat "$WORK/resolve.log" >&2
		die "cannot resolve etcd v$VERSION from the module proxy"
	fi
fi

STAGE=$WORK/stage/$NAME
mkdir -p "$STAGE"

build() { # build OUTPUT PACKAGE
	log "building $1 from $2@v$VERSION"
	(cd "$BUILDMOD" && go build -trimpath -buildvcs=false -ldflags '-s -w' -o "$STAGE/$1" "$2") ||
		die "go build $2 failed"
}
build etcd go.etcd.io/etcd/server/v3
build etcdctl go.etcd.io/etcd/etcdctl/v3
build etcdutl go.etcd.io/etcd/etcdutl/v3

# The version is compiled in from go.etcd.io/etcd/api/v3/version; checking it
# catches MVS having picked a different api module than the one asked for.
check() { # check BINARY ARGS... -- EXPECTED-SUBSTRING
	local bin=$1 out
	shift
	local args=("${@:1:$#-1}") want=${!#}
	out=$("$STAGE/$bin" "${args[@]}" 2>&1) || die "$bin ${args[*]} failed: $out"
	[[ $out == *"$want"* ]] || die "$bin ${args[*]} printed \"$out\", want it to contain \"$want\""
}
# A cross-compiled binary does not run here: its build info (go version -m)
# says the same, the api module's version and the machine it is for.
check_buildinfo() { # check_buildinfo BINARY
	local info
	info=$(go version -m "$STAGE/$1") || die "go version -m $1 failed"
	grep -qE "^[[:space:]]+dep[[:space:]]+go\.etcd\.io/etcd/api/v3[[:space:]]+v$VERSION([[:space:]]|\$)" <<<"$info" ||
		die "$1 is not built with go.etcd.io/etcd/api/v3 v$VERSION"
	grep -qE "^[[:space:]]+build[[:space:]]+GOARCH=$ARCH\$" <<<"$info" || die "$1 is not built for GOARCH=$ARCH"
}
if [[ $ARCH == "$(go env GOHOSTARCH)" ]]; then
	check etcd --version "etcd Version: $VERSION"
	check etcdctl version "etcdctl version: $VERSION"
	check etcdutl version "etcdutl version: $VERSION"
else
	log "linux-$ARCH binaries do not run on this $(go env GOHOSTARCH) host: checking their build info"
	for b in etcd etcdctl etcdutl; do check_buildinfo "$b"; done
fi

# Upstream ships the tool READMEs beside the binaries; LICENSE is added
# because Apache-2.0 asks that it travel with the binaries.
ctldir=$(cd "$BUILDMOD" && go list -m -f '{{.Dir}}' go.etcd.io/etcd/etcdctl/v3)
utldir=$(cd "$BUILDMOD" && go list -m -f '{{.Dir}}' go.etcd.io/etcd/etcdutl/v3)
srvdir=$(cd "$BUILDMOD" && go list -m -f '{{.Dir}}' go.etcd.io/etcd/server/v3)
cp "$ctldir/README.md" "$STAGE/README-etcdctl.md"
cp "$utldir/README.md" "$STAGE/README-etcdutl.md"
cp "$srvdir/LICENSE" "$STAGE/LICENSE"

# The module cache is read-only and umask varies, so set every mode.
chmod 0755 "$STAGE" "$STAGE/etcd" "$STAGE/etcdctl" "$STAGE/etcdutl"
chmod 0644 "$STAGE/README-etcdctl.md" "$STAGE/README-etcdutl.md" "$STAGE/LICENSE"

tmp_tar=$(mktemp "$OUTDIR/.$NAME.tar.gz.XXXXXX")
trap 'rm -rf "$WORK" "$tmp_tar"' EXIT
tar -C "$WORK/stage" --format=gnu --sort=name --mtime="@$EPOCH" \
	--owner=0 --group=0 --numeric-owner -cf - "$NAME" | gzip -n -9 >"$tmp_tar"
chmod 0644 "$tmp_tar"

sum=$(sha256sum "$tmp_tar" | cut -d' ' -f1)
# Stamp first goes away, last comes back: a crash in between leaves no stamp,
# so the next run rebuilds instead of trusting a half-written set.
rm -f "$STAMP"
mv -f "$tmp_tar" "$TARBALL"
printf '%s  %s\n' "$sum" "$NAME.tar.gz" >"$SUMFILE"
printf '%s\n' "$want_stamp" >"$STAMP"

log "wrote $TARBALL ($(stat -c %s "$TARBALL") bytes) in $((SECONDS - start))s"
echo "$sum"
