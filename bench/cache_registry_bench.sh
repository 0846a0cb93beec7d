#!/usr/bin/env bash
# The shared build cache: a shared workload built on machine A (root A)
# with --cache-to type=registry,mode=max, then on a fresh machine B (a new
# root holding only the base image) cold and with --cache-from, in the same
# run; prints the times and the ratio. A private docker-registry on
# 127.0.0.1 holds the cache; the roots share one disk.
#
#   bench/cache_registry_bench.sh [BUILD_DIR] [WORKLOAD...]
#     defaults: ./build, w1-app w3-multistage w2-bigctx
#   env: BENCH_DIR (default /tmp/kiln-cache-bench), RUNS=3
set -euo pipefail
build=${1:-build}
shift || true
wls=("$@")
[ ${#wls[@]} -gt 0 ] || wls=(w1-app w3-multistage w2-bigctx)
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KILN_SHARED:-$here/../shared}
K=$(realpath "$build/kiln")
B=${BENCH_DIR:-/tmp/kiln-cache-bench}
RUNS=${RUNS:-3}
mkdir -p "$B"
T=$(mktemp -d "$B/run.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
	"$T/reg" "$port" >"$T/reg.yml"
docker-registry serve "$T/reg.yml" >/dev/null 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; wait $RPID 2>/dev/null; rm -rf "$T"' EXIT
sleep 1
R=127.0.0.1:$port
[ -f "$B/bbase.tar" ] || bash "$shared/bench/make-base.sh" "$B/bbase.tar" >/dev/null
k() { local r=$1; shift; KILN_ROOT="$T/$r" "$K" "$@"; }
k a import "$B/bbase.tar" "$R/bbase:1" >/dev/null
k a push -q "$R/bbase:1" >/dev/null
# a machine with the base image only, as pulled from the registry
fresh() {
	rm -rf "${T:?}/$1"
	k "$1" pull -q "$R/bbase:1" >/dev/null
	k "$1" tag "$R/bbase:1" bbase:1
	sync
}
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); python3 -c "print('%.3f' % ($e - $s))"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for wl in "${wls[@]}"; do
	ctx="$B/$wl"
	[ -f "$ctx/Dockerfile" ] || bash "$shared/bench/workloads/$wl/gen-context.sh" "$ctx" >/dev/null
	k a tag "$R/bbase:1" bbase:1
	ref="$R/cache/$wl:max"
	exp=$(secs k a build -q --no-cache --cache-to "type=registry,ref=$ref,mode=max" "$ctx")
	cold=() warm=()
	for i in $(seq "$RUNS"); do
		fresh b
		cold+=("$(secs k b build -q "$ctx")")
		fresh b
		warm+=("$(secs k b build -q --cache-from "$ref" "$ctx")")
	done
	c=$(median "${cold[@]}") w=$(median "${warm[@]}")
	echo "$wl: A build + export ${exp}s; fresh B cold ${c}s, with --cache-from ${w}s" \
		"($(python3 -c "print('%.1fx' % ($c / $w))") faster; median of $RUNS; load $(cut -d' ' -f1 /proc/loadavg))"
done
