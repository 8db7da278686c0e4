#!/usr/bin/env bash
# Compares `etcdimg build` with the usual ISO tools and with the floor, cp of
# the same bytes, and checks the targets of BENCHMARKS.md.
#
# usage: scripts/bench.sh            (from anywhere; writes under out/bench)
#
# Every tool makes the same N seeds: cloud-init's three files, the release
# tarball and its .sha256, and the node's seven PEM files. The seeds are the
# ones etcdimg built in an untimed warm-up, extracted with xorriso, and the
# tarball in each is a hard link to the one release file, so every tool reads
# the same inode. genisoimage and xorriso run once per node (they make one
# image per call); cp copies each node's folder. Within a round the tools run
# in rotated order, each on a fresh output folder, after `sync` and, when the
# kernel allows it, dropping the page cache; medians over the rounds are
# reported, and ratios to cp are medians of the per-round ratios, so a busy
# moment on the machine hits the tools of one round alike.
#
# Two times are shown. "wall" is the command alone. "durable" adds the `sync`
# run right after it, i.e. the time until the bytes are on the disk: etcdimg
# fsyncs every file it writes, the others leave the writing to the kernel,
# so only "durable" compares the same amount of work.
#
# Knobs (environment): N (5), MIB (60), ROUNDS (11), N_LARGE (50),
# ROUNDS_LARGE (3), MIB_SMALL (25), RENDER_NODES (100), DROP_CACHES (1 if
# allowed), BENCH_DIR (out/bench), TOOLS ("etcdimg genisoimage xorriso cp"),
# ETCDIMG_ALT (other etcdimg binaries, space separated, each measured as
# "alt-<file name>" beside the others: how to check that a change to etcdimg
# pays off on a noisy machine), QUICK (set: only the first table, no targets).
#
# The per-node loops are single-quoted bash -c scripts on purpose: their
# arguments arrive as $1..$3, so no path is ever re-parsed by a shell.
# shellcheck disable=SC2016
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-5}
MIB=${MIB:-60}
ROUNDS=${ROUNDS:-11}
N_LARGE=${N_LARGE:-50}
ROUNDS_LARGE=${ROUNDS_LARGE:-3}
MIB_SMALL=${MIB_SMALL:-25}
RENDER_NODES=${RENDER_NODES:-100}
WORK=${BENCH_DIR:-$ROOT/out/bench}
TOOLS=${TOOLS:-etcdimg genisoimage xorriso cp}
VERSION=3.6.16
TARBALL_NAME=etcd-v$VERSION-linux-amd64.tar.gz
RSS_LIMIT_KB=$((32 * 1024))
RATIO_LIMIT=1.2

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -----------------------------------------------------------------

need=()
[[ -x /usr/bin/time ]] || need+=(time)
[[ " $TOOLS " != *" genisoimage "* ]] || command -v genisoimage >/dev/null || need+=(genisoimage)
command -v xorriso >/dev/null || need+=(xorriso) # also extracts the seeds
if ((${#need[@]})); then
	log "installing ${need[*]} from Debian"
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

DROP_CACHES=${DROP_CACHES:-1}
if [[ $DROP_CACHES == 1 ]] && ! (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
	log "cannot drop the page cache (not root?): measuring with a warm cache"
	DROP_CACHES=0
fi
settle() {
	sync
	if [[ $DROP_CACHES == 1 ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
# The tools' own messages (etcdimg's warnings about an even member count,
# xorriso's chatter) would bury the progress; a failure still stops the run.
LOG=$WORK/log
: >"$LOG"
trap '[[ $? -eq 0 ]] || { log "failed; the tools said:"; tail -20 "$LOG" >&2; }' EXIT
log "building bin/etcdimg"
make -s -C "$ROOT" build >&2
ETCDIMG=$ROOT/bin/etcdimg

# --- the release -----------------------------------------------------------

# make_release MIB prints the path of a release-shaped tarball of exactly MIB
# MiB (to within 4 KiB): the real release from `make etcd-release` when there
# is one (else three random "binaries"), plus an incompressible padding file
# in the release folder, sized over a few passes since gzip's framing adds a
# little.
make_release() {
	local mib=$1 dir=$WORK/release-$1MiB
	local out=$dir/$TARBALL_NAME want=$(($1 << 20))
	# gzip frames incompressible data in blocks it sizes itself, so the
	# result is only nearly exact; a few KiB do not matter.
	near() { local d=$(($1 - want)); ((d > -4096 && d < 4096)); }
	if [[ -f $out ]] && near "$(stat -c %s "$out")"; then
		echo "$out"
		return
	fi
	log "making a $mib MiB release tarball in $dir"
	rm -rf "$dir"
	mkdir -p "$dir/stage"
	local real=$ROOT/out/etcd-release/$TARBALL_NAME top=etcd-v$VERSION-linux-amd64
	if [[ -f $real ]]; then
		tar -xzf "$real" -C "$dir/stage"
	else
		log "no $real (make etcd-release): using random binaries"
		mkdir -p "$dir/stage/$top"
		for b in etcd etcdctl etcdutl; do
			head -c $((4 << 20)) /dev/urandom >"$dir/stage/$top/$b"
			chmod 755 "$dir/stage/$top/$b"
		done
	fi
	pack() {
		head -c "$1" /dev/urandom >"$dir/stage/$top/padding.bin"
		tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir/stage" -cf - "$top" |
			gzip -n >"$out"
	}
	local pad=0 size
	pack 0
	size=$(stat -c %s "$out")
	((size <= want)) || die "the release is already $size bytes, more than $mib MiB"
	pad=$((want - size))
	for _ in 1 2 3; do
		pack "$pad"
		size=$(stat -c %s "$out")
		near "$size" && break
		pad=$((pad + want - size))
	done
	rm -rf "$dir/stage"
	echo "$out"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# write_spec FILE NODES RELEASE: a cluster of NODES nodes, one line each,
# MACs pinned as a real spec has them.
write_spec() {
	local file=$1 n=$2 rel=$3 i
	{
		echo "local etcdimg = import 'etcdimg.libsonnet';"
		echo "etcdimg.cluster({"
		echo "  name: 'bench', domain: 'bench.internal',"
		echo "  network: { cidr: '10.20.0.0/16', gateway: '10.20.0.1', dns: ['10.20.0.1'] },"
		echo "  etcd: { version: '$VERSION', release: etcdimg.release('$VERSION', std.extVar('sha'), path='$rel') },"
		echo "  nodes: ["
		for ((i = 1; i <= n; i++)); do
			printf "    etcdimg.node('node%03d', '10.20.%d.%d', mac='52:54:00:14:%02x:%02x'),\n" "$i" $((1 + (i - 1) / 200)) $((10 + (i - 1) % 200)) $((i >> 8)) $((i & 255))
		done
		echo "  ],"
		echo "})"
	} >"$file"
}

# --- one measurement -------------------------------------------------------

# measure TOOL N MIB ROUND: runs TOOL once on fresh output and appends
# "tool n mib round wall user sys maxrss_kb flush" to $RESULTS.
measure() {
	local tool=$1 n=$2 mib=$3 round=$4
	local case=$WORK/case-$n-$mib dst=$WORK/run
	rm -rf "$dst"
	mkdir -p "$dst"
	settle
	local tf=$WORK/time.out nodes
	nodes=$(cat "$case/nodes")
	case $tool in
	etcdimg)
		/usr/bin/time -f '%e %U %S %M' -o "$tf" "$ETCDIMG" build "$case/spec.jsonnet" --ext-str sha="$(cat "$case/sha")" \
			-o "$dst/out" --pki-dir "$case/pki" -q 2>>"$LOG"
		;;
	alt-*)
		/usr/bin/time -f '%e %U %S %M' -o "$tf" "${ALT[${tool#alt-}]}" build "$case/spec.jsonnet" --ext-str sha="$(cat "$case/sha")" \
			-o "$dst/out" --pki-dir "$case/pki" -q 2>>"$LOG"
		;;
	genisoimage)
		/usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c \
			'for n in $1; do genisoimage -quiet -V cidata -J -R -o "$3/$n.iso" "$2/$n" || exit; done' _ "$nodes" "$case/stage" "$dst" 2>>"$LOG"
		;;
	xorriso)
		/usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c \
			'for n in $1; do xorriso -as mkisofs -quiet -V cidata -J -R -o "$3/$n.iso" "$2/$n" || exit; done' _ "$nodes" "$case/stage" "$dst" 2>>"$LOG"
		;;
	cp)
		/usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c \
			'for n in $1; do cp -r "$2/$n" "$3/$n" || exit; done' _ "$nodes" "$case/stage" "$dst" 2>>"$LOG"
		;;
	*) die "unknown tool $tool" ;;
	esac
	local t0 t1
	t0=$(date +%s%N)
	sync
	t1=$(date +%s%N)
	echo "$tool $n $mib $round $(cat "$tf") $(((t1 - t0) / 1000000))" >>"$RESULTS"
	rm -rf "$dst"
}

# prepare N MIB: spec, PKI and the extracted seeds the other tools pack.
prepare() {
	local n=$1 mib=$2 case=$WORK/case-$1-$2 rel sha
	rel=$(make_release "$mib")
	sha=$(sha_of "$rel")
	rm -rf "$case"
	mkdir -p "$case/stage"
	echo "$sha" >"$case/sha"
	write_spec "$case/spec.jsonnet" "$n" "$rel"
	log "warm-up: etcdimg build of $n nodes with a $mib MiB release (makes the PKI)"
	"$ETCDIMG" build "$case/spec.jsonnet" --ext-str sha="$sha" -o "$case/seeds" --pki-dir "$case/pki" -q 2>>"$LOG"
	local alt
	for alt in "${ALT[@]}"; do # their warm-up: whatever they cache, they cache now
		"$alt" build "$case/spec.jsonnet" --ext-str sha="$sha" -o "$case/alt" --pki-dir "$case/pki" -q 2>>"$LOG"
		rm -rf "$case/alt"
	done
	local iso node nodes=()
	for iso in "$case"/seeds/*.iso; do
		node=$(basename "$iso" .iso)
		nodes+=("$node")
		xorriso -osirrox on -indev "$iso" -extract / "$case/stage/$node" 2>>"$LOG"
		chmod -R u+w "$case/stage/$node"
		ln -f "$rel" "$case/stage/$node/etcdimg/$TARBALL_NAME"
	done
	echo "${nodes[*]}" >"$case/nodes"
	rm -rf "$case/seeds"
}

# run_case N MIB ROUNDS TOOLS...
run_case() {
	local n=$1 mib=$2 rounds=$3
	shift 3
	local tools=("$@") r i k
	prepare "$n" "$mib"
	for ((r = 1; r <= rounds; r++)); do
		log "N=$n ${mib}MiB round $r/$rounds"
		for ((i = 0; i < ${#tools[@]}; i++)); do
			k=$(((i + r) % ${#tools[@]}))
			measure "${tools[$k]}" "$n" "$mib" "$r"
		done
	done
	rm -rf "$WORK/case-$n-$mib"
}

# --- report ----------------------------------------------------------------

# table N MIB: medians per tool and paired ratios to cp.
table() {
	awk -v n="$1" -v mib="$2" '
	function median(list,   a, k, m, i, j, x) {
		k = split(list, a, " ")
		for (i = 2; i <= k; i++) {
			x = a[i] + 0
			for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]
			a[j + 1] = x
		}
		m = int((k + 1) / 2)
		return (k % 2) ? a[m] : (a[m] + a[m + 1]) / 2
	}
	$2 == n && $3 == mib {
		tool = $1; r = $4
		wall[tool, r] = $5; cpu[tool, r] = $6 + $7; rss[tool, r] = $8; dur[tool, r] = $5 + $9 / 1000
		tools[tool] = 1; rounds[r] = 1
		if (!(tool in order)) { order[tool] = ++nt; names[nt] = tool }
	}
	END {
		printf "N=%d nodes x %d MiB release, %d round(s)\n", n, mib, length(rounds)
		printf "%-18s %9s %9s %9s %9s %11s %9s %9s\n", "tool", "wall s", "durable s", "cpu s", "rss MiB", "wall/cp", "dur./cp", "cpu/cp"
		for (t = 1; t <= nt; t++) {
			tool = names[t]
			w = d = c = m = rw = rd = rc = ""
			for (r in rounds) {
				if (!((tool, r) in wall)) continue
				w = w " " wall[tool, r]; d = d " " dur[tool, r]; c = c " " cpu[tool, r]; m = m " " rss[tool, r]
				if (("cp", r) in wall) {
					rw = rw " " wall[tool, r] / wall["cp", r]
					rd = rd " " dur[tool, r] / dur["cp", r]
					if (cpu["cp", r] > 0) rc = rc " " cpu[tool, r] / cpu["cp", r]
				}
			}
			printf "%-18s %9.2f %9.2f %9.2f %9.1f %11s %9s %9s\n", tool, median(w), median(d), median(c), median(m) / 1024,
				rw == "" ? "-" : sprintf("%.2f", median(rw)), rd == "" ? "-" : sprintf("%.2f", median(rd)),
				rc == "" ? "-" : sprintf("%.1f", median(rc))
		}
	}' "$RESULTS"
}

# value TOOL N MIB COLUMN: median of one column (wall, dur, rss, ratio_wall,
# ratio_dur) for scripts.
value() {
	awk -v tool="$1" -v n="$2" -v mib="$3" -v col="$4" '
	function median(list,   a, k, m, i, j, x) {
		k = split(list, a, " ")
		for (i = 2; i <= k; i++) {
			x = a[i] + 0
			for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]
			a[j + 1] = x
		}
		m = int((k + 1) / 2)
		return (k % 2) ? a[m] : (a[m] + a[m + 1]) / 2
	}
	$2 == n && $3 == mib { wall[$1, $4] = $5; rss[$1, $4] = $8; dur[$1, $4] = $5 + $9 / 1000; rounds[$4] = 1 }
	END {
		list = ""
		for (r in rounds) {
			if (!((tool, r) in wall)) continue
			if (col == "rss") v = rss[tool, r]
			else if (col == "wall") v = wall[tool, r]
			else if (col == "dur") v = dur[tool, r]
			else if (col == "ratio_wall") { if (!(("cp", r) in wall)) continue; v = wall[tool, r] / wall["cp", r] }
			else if (col == "ratio_dur") { if (!(("cp", r) in wall)) continue; v = dur[tool, r] / dur["cp", r] }
			list = list " " v
		}
		print (list == "") ? "nan" : median(list)
	}' "$RESULTS"
}

machine() {
	echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
	local dev
	dev=$(df --output=source "$WORK" | tail -1)
	local disk
	disk=$(lsblk -no PKNAME "$dev" 2>/dev/null | head -1)
	[[ -n $disk ]] || disk=$(basename "$dev")
	echo "disk: $WORK on $dev ($(df --output=fstype "$WORK" | tail -1 | tr -d ' '), $(lsblk -dno SIZE,ROTA,MODEL "/dev/$disk" 2>/dev/null |
		awk '{print $1 " " ($2 == 1 ? "reported rotational" : "non-rotational") ($3 != "" ? ", " $3 : "")}'))"
	echo "kernel: $(uname -sr); $(go version | cut -d' ' -f3); $(genisoimage --version 2>&1 | head -1); $(xorriso -version 2>/dev/null | head -1)"
	echo "page cache: $([[ $DROP_CACHES == 1 ]] && echo 'dropped before every command' || echo 'warm (not dropped)')"
}

# --- run -------------------------------------------------------------------

RESULTS=$WORK/results-$(date -u +%Y%m%dT%H%M%SZ).txt
: >"$RESULTS"
read -r -a tools <<<"$TOOLS"
declare -A ALT=()
for alt in ${ETCDIMG_ALT:-}; do
	ALT[$(basename "$alt")]=$alt
	tools+=("alt-$(basename "$alt")")
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_before=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
start=$(date +%s)

run_case "$N" "$MIB" "$ROUNDS" "${tools[@]}"
if [[ -n ${QUICK:-} ]]; then
	table "$N" "$MIB" | tee "$RESULTS.summary"
	exit 0
fi
run_case "$N" "$MIB_SMALL" "$ROUNDS_LARGE" etcdimg cp
run_case "$N_LARGE" "$MIB" "$ROUNDS_LARGE" "${tools[@]}"

# The render target: the CLI end to end (process start included) on a
# RENDER_NODES-node spec, validate (Jsonnet + checks) against render
# (that + cloud-init files written), and the in-process split from the Go
# benchmark.
rdir=$WORK/render
rm -rf "$rdir"
mkdir -p "$rdir"
write_spec "$rdir/spec.jsonnet" "$RENDER_NODES" "$TARBALL_NAME"
rsha=$(printf 'ab%.0s' {1..32})
for ((r = 1; r <= 5; r++)); do
	rm -rf "$rdir/out"
	/usr/bin/time -f '%e %U %S %M' -o "$rdir/v.$r" "$ETCDIMG" validate "$rdir/spec.jsonnet" --ext-str sha="$rsha" >/dev/null 2>>"$LOG"
	/usr/bin/time -f '%e %U %S %M' -o "$rdir/p.$r" "$ETCDIMG" render "$rdir/spec.jsonnet" --ext-str sha="$rsha" >/dev/null 2>>"$LOG"
	/usr/bin/time -f '%e %U %S %M' -o "$rdir/r.$r" "$ETCDIMG" render "$rdir/spec.jsonnet" --ext-str sha="$rsha" -o "$rdir/out" 2>>"$LOG"
done
med() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
validate_s=$(cat "$rdir"/v.* | cut -d' ' -f1 | med)
print_s=$(cat "$rdir"/p.* | cut -d' ' -f1 | med)
render_s=$(cat "$rdir"/r.* | cut -d' ' -f1 | med)
render_rss=$(cat "$rdir"/r.* | cut -d' ' -f4 | med)
log "Go benchmark: BenchmarkSpec/nodes=100"
gobench=$(cd "$ROOT" && go test -run '^$' -bench 'BenchmarkSpec/nodes=100/' -benchmem -benchtime 20x ./build | grep '^BenchmarkSpec') ||
	gobench="" # the targets then leave out the in-process split
ns() { awk -v k="$1" '$1 ~ k {print $3}' <<<"$gobench"; }
jsonnet_ns=$(ns '/jsonnet-') load_ns=$(ns '/load-') total_ns=$(ns '/load\\+render-')

end=$(date +%s)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_after=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)

{
	echo "# scripts/bench.sh, $(date -u +%Y-%m-%dT%H:%MZ), $((end - start)) s"
	machine
	read -r b1 b2 <<<"$cpu_before"
	read -r a1 a2 <<<"$cpu_after"
	echo "load average: $load_before at start, $load_after at end; all CPUs busy $(((a1 - b1) * 100 / (a2 - b2 + 1)))% of the run (this script included)"
	echo
	table "$N" "$MIB"
	echo
	table "$N" "$MIB_SMALL"
	echo
	table "$N_LARGE" "$MIB"
	echo
	echo "$RENDER_NODES-node spec by the CLI (median of 5): validate ${validate_s} s, render to stdout ${print_s} s, render -o DIR ${render_s} s (peak RSS $((render_rss / 1024)) MiB)"
	echo "$gobench"
	echo
	echo "targets:"
	ratio_wall=$(value etcdimg "$N" "$MIB" ratio_wall)
	ratio_dur=$(value etcdimg "$N" "$MIB" ratio_dur)
	verdict() { awk -v v="$1" -v l="$2" 'BEGIN {print (v + 0 <= l + 0 && v != "nan") ? "met" : "MISSED"}'; }
	printf '  N=%d x %d MiB within %.1fx cp:  wall %.2fx (%s), durable %.2fx (%s)\n' "$N" "$MIB" "$RATIO_LIMIT" \
		"$ratio_wall" "$(verdict "$ratio_wall" "$RATIO_LIMIT")" "$ratio_dur" "$(verdict "$ratio_dur" "$RATIO_LIMIT")"
	for alt in "${!ALT[@]}"; do
		printf '    alt-%s:  wall %.2fx, durable %.2fx\n' "$alt" "$(value "alt-$alt" "$N" "$MIB" ratio_wall)" "$(value "alt-$alt" "$N" "$MIB" ratio_dur)"
	done
	for c in "$N $MIB" "$N_LARGE $MIB" "$N $MIB_SMALL"; do
		read -r cn cm <<<"$c"
		rss=$(value etcdimg "$cn" "$cm" rss)
		printf '  peak RSS below 32 MiB, N=%d x %d MiB:  %.1f MiB (%s)\n' "$cn" "$cm" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
			"$(verdict "$rss" "$RSS_LIMIT_KB")"
	done
	r60=$(value etcdimg "$N" "$MIB" rss) r25=$(value etcdimg "$N" "$MIB_SMALL" rss)
	printf '  RSS independent of payload:  %d MiB release %.1f MiB, %d MiB release %.1f MiB (%s)\n' "$MIB_SMALL" \
		"$(awk -v k="$r25" 'BEGIN {print k / 1024}')" "$MIB" "$(awk -v k="$r60" 'BEGIN {print k / 1024}')" \
		"$(awk -v a="$r25" -v b="$r60" 'BEGIN {d = b - a; if (d < 0) d = -d; print (d <= 2048) ? "met" : "MISSED"}')"
	if [[ -n $total_ns ]]; then
		printf '  %d-node spec rendered in under 0.5 s:  %.1f ms in process (%s), %.0f ms by the CLI to stdout (%s), %.0f ms writing the files (%s); Jsonnet %.0f%%, Jsonnet+validation %.0f%% of the in-process time\n' \
			"$RENDER_NODES" "$(awk -v t="$total_ns" 'BEGIN {print t / 1e6}')" "$(verdict "$(awk -v t="$total_ns" 'BEGIN {print t / 1e9}')" 0.5)" \
			"$(awk -v t="$print_s" 'BEGIN {print t * 1000}')" "$(verdict "$print_s" 0.5)" \
			"$(awk -v t="$render_s" 'BEGIN {print t * 1000}')" "$(verdict "$render_s" 0.5)" \
			"$(awk -v j="$jsonnet_ns" -v t="$total_ns" 'BEGIN {print 100 * j / t}')" \
			"$(awk -v j="$load_ns" -v t="$total_ns" 'BEGIN {print 100 * j / t}')"
	fi
	echo
	echo "raw: $RESULTS (tool nodes MiB round wall user sys maxrss_kb flush_ms)"
} | tee "$RESULTS.summary"
