#!/usr/bin/env bash
# import / save / load of the w2 context as one rootfs tar (428 MB, 20,000
# files): kiln beside docker 20.10 (a private dockerd, tests/e2e/dockerd.sh)
# in one run, both stores on one journaled ext4 loop mount made for the run
# (see ../shared/design/HOST-NOTES.md), ratios printed. Each kiln load and
# import goes into a fresh root; docker's image is removed before each of
# its loads and imports. Needs root, hyperfine and docker.io.
#
#   bench/archive_bench.sh [BUILD_DIR]   (default ./build)
#   env: BENCH_DIR (default /tmp/kiln-archive-bench), RUNS=5,
#        KILN_PREV (optional: an older kiln binary run beside them)
set -euo pipefail
command -v hyperfine >/dev/null || { echo "needs hyperfine (scripts/deps.sh --bench)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (loop mount, dockerd)" >&2; exit 1; }
K=$(realpath "${1:-build}/kiln")
SRC=$(realpath "$(dirname "$0")/..")
B=${BENCH_DIR:-/tmp/kiln-archive-bench}
RUNS=${RUNS:-5}
gen=$SRC/../shared/bench/workloads/w2-bigctx/gen-context.sh
mkdir -p "$B"

# the loop mount: both stores, the inputs and the outputs live on it
M=$B/mnt
_cleanups=()
at_exit() { _cleanups+=("$*"); }
cleanup() {
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
}
trap cleanup EXIT
truncate -s 8G "$B/img"
mkfs.ext4 -q -F "$B/img"
mkdir -p "$M"
mount -o loop "$B/img" "$M"
at_exit "umount '$M'; rm -f '$B/img'"

# a private dockerd with its data root on the mount (dockerd.sh needs these)
T=$M
ok() { echo "# $*"; }
not_ok() { echo "# FAILED: $*" >&2; }
skip_all() { echo "cannot compare with docker: $*" >&2; exit 1; }
expect_contains() { :; }
# shellcheck source=../tests/e2e/dockerd.sh
. "$SRC/tests/e2e/dockerd.sh"
DOCKER=/usr/bin/docker

bash "$gen" "$M/ctx" >/dev/null
tar -C "$M/ctx" -cf "$M/w2.tar" .
rm -rf "$M/ctx"
"$K" --root "$M/src" import "$M/w2.tar" w2:1 >/dev/null
"$K" --root "$M/src" save -o "$M/w2-docker.tar" w2:1
$DOCKER load -q -i "$M/w2-docker.tar" >/dev/null

# bench WHAT KILN_CMD DOCKER_CMD DOCKER_PREPARE ({K} the kiln binary, {R} a root)
bench() {
	local what=$1 kcmd=$2 dcmd=$3 dprep=$4 args=() c
	c=${kcmd//\{K\}/$K}
	args+=(-n "kiln" --prepare "rm -rf $M/r-*; sync" "${c//\{R\}/$M/r-kiln}")
	if [ -n "${KILN_PREV:-}" ]; then
		c=${kcmd//\{K\}/$KILN_PREV}
		args+=(-n "kiln-prev" --prepare "rm -rf $M/r-*; sync" "${c//\{R\}/$M/r-prev}")
	fi
	args+=(-n "docker" --prepare "$dprep; sync" "$dcmd")
	echo "== $what"
	hyperfine -w 1 -r "$RUNS" --export-json "$B/$what.json" "${args[@]}" | grep -E "Benchmark|Time"
	python3 - "$B/$what.json" "$what" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
k, d = r["kiln"], r["docker"]
print("%s: kiln %.2f s, docker %.2f s: docker/kiln = %.2f" % (sys.argv[2], k, d, d / k))
if "kiln-prev" in r:
    print("%s: kiln-prev %.2f s: prev/kiln = %.2f" % (sys.argv[2], r["kiln-prev"], r["kiln-prev"] / k))
PY
}
rmi="$DOCKER rmi -f w2:1 >/dev/null 2>&1 || true"
bench load "{K} --root {R} load -i $M/w2-docker.tar" "$DOCKER load -i $M/w2-docker.tar" "$rmi"
bench import "{K} --root {R} import $M/w2.tar w2:1" "$DOCKER import $M/w2.tar w2:1" "$rmi"
$DOCKER load -q -i "$M/w2-docker.tar" >/dev/null
bench save "{K} --root $M/src save -o $M/out.tar w2:1" "$DOCKER save -o $M/out-d.tar w2:1" "rm -f $M/out*.tar"
