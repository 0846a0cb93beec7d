#!/usr/bin/env bash
# Cached rebuilds of the shared benchmark workloads, kiln beside docker
# 20.10's BuildKit and classic builder (a private dockerd: tests/e2e/dockerd.sh),
# in one run. Per workload: a no-op rebuild (nothing changed) and a rebuild
# after a one-file edit (the change file named in its gen-context.sh; each
# timed run appends a line to it first, so every run has a new change).
# Every store and context lies on one journaled ext4 loop mount made here
# (../shared/design/HOST-NOTES.md: the root fs has no journal). Printed per
# workload: hyperfine mean +- stddev of each tool (and kiln's CPU time: the
# docker client's says nothing, the daemon does the work), kiln's peak RSS,
# the stat floor (`find CTX -printf '%s %T@\n'`, timed by hyperfine too)
# and the ratios kiln/BuildKit, kiln/classic and kiln/floor. On a shared,
# loaded machine the wall times of every tool grow alike: read the ratios.
#
#   bench/cache_bench.sh [BUILD_DIR] [WORKLOAD...]  (defaults: ./build, w1-app w2-bigctx w3-multistage)
#   env: RUNS=10 (hyperfine runs per figure), BENCH_DIR (default: a new dir
#        under /tmp; the loop image and mount live there), LOOP_SIZE=24G,
#        NO_DOCKER=1 (kiln and the floor only), KILN_BEFORE=PATH (another
#        kiln binary, say a build of main, timed beside it on its own store),
#        EXTRA_IMAGES=N (N unrelated
#        images stored and tagged in kiln's store first, and in dockerd's:
#        a base lookup must not read every stored image),
#        KILN_BEFORE=PATH (an earlier kiln binary: its no-op is timed too,
#        on the same store, just before this one's, and the ratio printed)
# Needs root (loop mount, dockerd), hyperfine, python3, GNU time.
set -euo pipefail
build=${1:-build}
shift || true
wls=("$@")
[ ${#wls[@]} -gt 0 ] || wls=(w1-app w2-bigctx w3-multistage)
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KILN_SHARED:-$here/../shared}
K=$(realpath "$build/kiln")
KB=${KILN_BEFORE:+$(realpath "$KILN_BEFORE")}
RUNS=${RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "cache_bench: needs root (loop mount, dockerd)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "cache_bench: hyperfine missing" >&2; exit 1; }

B=${BENCH_DIR:-$(mktemp -d /tmp/kcb.XXXXXX)}
mkdir -p "$B"
T="$B/m" # the loop mount: stores, contexts, dockerd's data root
mkdir -p "$T"
_cleanups=()
at_exit() { _cleanups+=("$*"); }
_finish() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
}
trap _finish EXIT
# what tests/e2e/dockerd.sh expects of tests/e2e/lib.sh
ok() { echo "# $*"; }
skip_all() { echo "cache_bench: $*" >&2; exit 1; }
expect_contains() { printf '%s' "$2" | grep -qF -- "$3" || echo "# warning: $1" >&2; }

truncate -s "${LOOP_SIZE:-24G}" "$B/img"
mkfs.ext4 -q -F "$B/img"
# direct I/O: the loop device writes to its backing file without a second page cache
dev=$(losetup -f --show --direct-io=on "$B/img")
at_exit "losetup -d '$dev'; rm -f '$B/img'; rmdir '$T' '$B' 2>/dev/null"
mount "$dev" "$T"
at_exit "umount '$T'"
tune2fs -l "$dev" | grep -q has_journal || echo "# warning: no journal on $T" >&2

export KILN_ROOT="$T/kiln"
bash "$shared/bench/make-base.sh" "$T/bbase.tar" >/dev/null
"$K" import "$T/bbase.tar" bbase:1 >/dev/null
EXTRA_IMAGES=${EXTRA_IMAGES:-0}
for ((i = 0; i < EXTRA_IMAGES; i++)); do # distinct images (configs), one shared layer
	"$K" import -c "LABEL bench.extra=$i" "$T/bbase.tar" "extra-$i:1" >/dev/null
done
docker_on=0
if [ "${NO_DOCKER:-0}" != 1 ]; then
	. "$here/tests/e2e/dockerd.sh"
	dk import "$T/bbase.tar" bbase:1 >/dev/null
	for ((i = 0; i < EXTRA_IMAGES; i++)); do
		dk import -c "LABEL bench.extra=$i" "$T/bbase.tar" "extra-$i:1" >/dev/null
	done
	docker_on=1
fi

# hyperfine mean and stddev in ms of one command, and its mean CPU time
# (user + system: what the load of other processes inflates least):
# "MEAN STDDEV CPU"
H=()
hf() { # NAME PREPARE CMD
	local j="$T/hf.json"
	hyperfine -w 1 -r "$RUNS" ${2:+--prepare "$2"} --export-json "$j" "$3" >/dev/null 2>"$T/hf.err" ||
		{ cat "$T/hf.err" >&2; return 1; }
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.1f %.1f %.1f" % (r["mean"]*1e3, r["stddev"]*1e3, (r["user"]+r["system"])*1e3))' "$j"
}
rss_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.2fx" % (a/b) if b else "-")' "$1" "$2"; }

change_file() { sed -n 's/^# Change file for .*: *//p' "$shared/bench/workloads/$1/gen-context.sh"; }

row() { printf '  %-34s %10s ms  +- %6s   cpu %8s ms\n' "$1" "$2" "$3" "$4"; }

for wl in "${wls[@]}"; do
	ctx="$T/ctx-$wl"
	bash "$shared/bench/workloads/$wl/gen-context.sh" "$ctx" >/dev/null
	cf="$ctx/$(change_file "$wl")"
	[ -f "$cf" ] || { echo "cache_bench: no change file for $wl" >&2; exit 1; }
	edit="sh -c 'echo edit \$\$ >>$cf'"
	sync
	echo "== $wl ($(find "$ctx" -type f | wc -l) files, $(du -sh "$ctx" | cut -f1)); change file $(change_file "$wl"); $EXTRA_IMAGES extra images; load $(cut -d' ' -f1 /proc/loadavg)"
	# first builds (not timed), so every tool starts from a full cache
	"$K" build -q --network none -t "bench-$wl" "$ctx" >/dev/null
	if [ $docker_on = 1 ]; then
		DOCKER_BUILDKIT=1 dk build -q --network none -t "bk-$wl" "$ctx" >/dev/null
		DOCKER_BUILDKIT=0 dk build -q --network none -t "cl-$wl" "$ctx" >/dev/null
	fi
	read -r floor fsd fcpu < <(hf floor "" "find $ctx -printf '%s %T@\n'")
	[ -z "${KILN_BEFORE:-}" ] ||
		read -r on osd oncpu < <(hf kiln-before "" "$(realpath "$KILN_BEFORE") build -q --network none -t bench-$wl $ctx")
	read -r kn ksd kncpu < <(hf kiln "" "$K build -q --network none -t bench-$wl $ctx")
	krss=$(rss_kb "$K" build -q --network none -t "bench-$wl" "$ctx")
	read -r kc kcsd kccpu < <(hf kiln "$edit" "$K build -q --network none -t bench-$wl $ctx")
	sh -c "echo edit $$ >>$cf"
	kcrss=$(rss_kb "$K" build -q --network none -t "bench-$wl" "$ctx")
	"$K" rmi -f "bench-$wl" >/dev/null && "$K" builder prune -a -f >/dev/null # space for the peers
	if [ -n "$KB" ]; then # the older binary, on a store of its own
		kbr="env KILN_ROOT=$T/kiln-before $KB"
		$kbr import "$T/bbase.tar" bbase:1 >/dev/null
		$kbr build -q --network none -t "bench-$wl" "$ctx" >/dev/null
		read -r bkn bksd bkncpu < <(hf kiln "" "$kbr build -q --network none -t bench-$wl $ctx")
		read -r bkc bkcsd bkccpu < <(hf kiln "$edit" "$kbr build -q --network none -t bench-$wl $ctx")
		$kbr rmi -f "bench-$wl" >/dev/null && $kbr builder prune -a -f >/dev/null
	fi
	row "stat floor (find -printf)" "$floor" "$fsd" "$fcpu"
	[ -z "${KILN_BEFORE:-}" ] || row "kiln-before no-op" "$on" "$osd" "$oncpu"
	row "kiln no-op" "$kn" "$ksd" "$kncpu"
	[ -z "${KILN_BEFORE:-}" ] ||
		echo "  kiln no-op / kiln-before no-op: $(ratio "$kn" "$on") (cpu $(ratio "$kncpu" "$oncpu"))"
	row "kiln one file changed" "$kc" "$kcsd" "$kccpu"
	if [ -n "$KB" ]; then
		row "kiln before no-op" "$bkn" "$bksd" "$bkncpu"
		row "kiln before one file changed" "$bkc" "$bkcsd" "$bkccpu"
		echo "  kiln/before: no-op $(ratio "$kn" "$bkn") (cpu $(ratio "$kncpu" "$bkncpu")), one file changed $(ratio "$kc" "$bkc") (cpu $(ratio "$kccpu" "$bkccpu"))"
	fi
	echo "  kiln peak RSS: no-op $((krss / 1024)) MB, one file changed $((kcrss / 1024)) MB"
	echo "  kiln no-op / stat floor: $(ratio "$kn" "$floor") (cpu $(ratio "$kncpu" "$fcpu"))"
	if [ $docker_on = 1 ]; then
		bkb="env DOCKER_HOST=$DOCKER_HOST DOCKER_CONFIG=$DOCKER_CONFIG DOCKER_BUILDKIT=1 /usr/bin/docker build -q --network none -t bk-$wl $ctx"
		clb="env DOCKER_HOST=$DOCKER_HOST DOCKER_CONFIG=$DOCKER_CONFIG DOCKER_BUILDKIT=0 /usr/bin/docker build -q --network none -t cl-$wl $ctx"
		read -r bn bsd bncpu < <(hf bk "" "$bkb")
		read -r bc bcsd bccpu < <(hf bk "$edit" "$bkb")
		read -r cn csd cncpu < <(hf cl "" "$clb")
		read -r cc ccsd cccpu < <(hf cl "$edit" "$clb")
		dk rmi -f "bk-$wl" "cl-$wl" >/dev/null && dk builder prune -af >/dev/null
		row "BuildKit no-op" "$bn" "$bsd" "-"
		row "BuildKit one file changed" "$bc" "$bcsd" "-"
		row "classic no-op" "$cn" "$csd" "-"
		row "classic one file changed" "$cc" "$ccsd" "-"
		echo "  ratios no-op: kiln/BuildKit $(ratio "$kn" "$bn"), kiln/classic $(ratio "$kn" "$cn")"
		echo "  ratios one file changed: kiln/BuildKit $(ratio "$kc" "$bc"), kiln/classic $(ratio "$kc" "$cc")"
	fi
done
echo "($RUNS runs each; every store on the journaled ext4 loop mount $T; load $(cut -d' ' -f1 /proc/loadavg))"
