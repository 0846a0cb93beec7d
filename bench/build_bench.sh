#!/usr/bin/env bash
# Cold `kiln build` of a shared benchmark workload (default w2-bigctx: FROM
# bbase:1, WORKDIR, COPY . of 20,000 files / 428 MB). Cold: the store is
# removed and bbase:1 imported again before each run. Prints each run and
# the median, beside the stat floor of the context.
#
#   bench/build_bench.sh [BUILD_DIR] [WORKLOAD]   (defaults: ./build, w2-bigctx)
#   env: BENCH_DIR (default /tmp/kiln-build-bench; put it on a journaled
#        ext4 loop mount as ../shared/design/HOST-NOTES.md says), RUNS=5
# Workloads with RUN need the runtime (issue 11): kiln refuses them for now.
set -euo pipefail
build=${1:-build}
wl=${2:-w2-bigctx}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KILN_SHARED:-$here/../shared}
K=$(realpath "$build/kiln")
B=${BENCH_DIR:-/tmp/kiln-build-bench}
RUNS=${RUNS:-5}
mkdir -p "$B"
ctx="$B/$wl"
[ -f "$ctx/Dockerfile" ] || bash "$shared/bench/workloads/$wl/gen-context.sh" "$ctx" >/dev/null
[ -f "$B/bbase.tar" ] || bash "$shared/bench/make-base.sh" "$B/bbase.tar" >/dev/null
root="$B/root"
floor=$( { /usr/bin/time -f %e find "$ctx" -printf '%s %T@\n' >/dev/null; } 2>&1 )
times=()
for i in $(seq "$RUNS"); do
	rm -rf "$root"
	KILN_ROOT="$root" "$K" import "$B/bbase.tar" bbase:1 >/dev/null
	sync
	t=$( { /usr/bin/time -f %e env KILN_ROOT="$root" "$K" build -q -t bench:1 "$ctx" >/dev/null; } 2>&1 )
	echo "run $i: ${t}s"
	times+=("$t")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "$wl cold kiln build: median ${median}s over $RUNS runs (stat floor ${floor}s; load $(cut -d' ' -f1 /proc/loadavg))"
rm -rf "$root"
