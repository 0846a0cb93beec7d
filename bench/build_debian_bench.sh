#!/usr/bin/env bash
# The real-world workload bench/workloads-local/debian-python (FROM a
# Debian bookworm minbase, RUN apt-get update && apt-get install python3,
# COPY app.py) built by kiln and by BuildKit (DOCKER_BUILDKIT=1 with the
# docker.io 20.10 CLI against a private dockerd started here), side by side
# in one run: cold (cache and images removed before each run, base imported
# again) and one-source-file-changed (app.py edited after a warm build).
# Prints each run, the medians and kiln's ratio to BuildKit.
#
#   bench/build_debian_bench.sh [BUILD_DIR]   (default ./build)
#   env: RUNS=3, BENCH_DIR (default /tmp/kiln-debian-bench; a journaled ext4
#        loop mount is fairer, see ../shared/design/HOST-NOTES.md)
# The base comes from testdata/debian-base.sh (cached by date outside the
# repo). Network: kiln's RUN uses its default (slirp4netns or pasta); the
# private dockerd has no bridge, so BuildKit's RUN uses --network host.
# Both download the same packages from the host's mirror on every cold run.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
export KILN KILN_SRC=$here KILN_TEST_TMP=${BENCH_DIR:-/tmp/kiln-debian-bench}
KILN=$(realpath "$build/kiln")
RUNS=${RUNS:-3}
base=$("$here/testdata/debian-base.sh")
. "$here/tests/e2e/lib.sh" # $T, at_exit, ok/not_ok; removes $T at exit
. "$here/tests/e2e/dockerd.sh" >/dev/null
ctx="$T/ctx"
cp -r "$here/bench/workloads-local/debian-python" "$ctx"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

kiln_cold=() kiln_edit=() bk_cold=() bk_edit=()
for i in $(seq "$RUNS"); do
	# kiln: a fresh root each cold run
	rm -rf "$ROOT"
	"$KILN" import "$base" debian:bookworm >/dev/null
	sync
	t0=$(now); "$KILN" build -q -t py "$ctx" >/dev/null; t1=$(now)
	kiln_cold+=("$(secs "$t0" "$t1")")
	echo "# edit $i" >>"$ctx/app.py"
	t0=$(now); "$KILN" build -q -t py "$ctx" >/dev/null; t1=$(now)
	kiln_edit+=("$(secs "$t0" "$t1")")
	# BuildKit: images and build cache removed each cold run
	dk image rm -f py debian:bookworm >/dev/null 2>&1 || true
	dk builder prune -af >/dev/null
	dk import "$base" debian:bookworm >/dev/null
	sync
	t0=$(now); DOCKER_BUILDKIT=1 dk build -q --network host -t py "$ctx" >/dev/null; t1=$(now)
	bk_cold+=("$(secs "$t0" "$t1")")
	echo "# edit $i bk" >>"$ctx/app.py"
	t0=$(now); DOCKER_BUILDKIT=1 dk build -q --network host -t py "$ctx" >/dev/null; t1=$(now)
	bk_edit+=("$(secs "$t0" "$t1")")
	echo "run $i: kiln cold ${kiln_cold[-1]}s edit ${kiln_edit[-1]}s; buildkit cold ${bk_cold[-1]}s edit ${bk_edit[-1]}s"
done
for what in cold edit; do
	k=$(eval median "\"\${kiln_$what[@]}\""); b=$(eval median "\"\${bk_$what[@]}\"")
	echo "debian-python $what: kiln ${k}s, BuildKit ${b}s, ratio kiln/BuildKit $(awk -v k="$k" -v b="$b" 'BEGIN {printf "%.2f", k / b}') (median of $RUNS; load $(cut -d' ' -f1 /proc/loadavg))"
done
