#!/usr/bin/env bash
# import / save / load of the w2 context as one rootfs tar (428 MB, 20,000
# files), kiln against a previous kiln build (KILN_PREV) in the same run,
# on whatever filesystem BENCH_DIR is (for comparable numbers, a journaled
# ext4 loop mount; see ../shared/design/HOST-NOTES.md). Each load and
# import goes into a fresh root.
#
#   bench/archive_bench.sh [BUILD_DIR]   (default ./build)
#   env: BENCH_DIR (default /tmp/kiln-archive-bench), KILN_PREV (optional
#        binary to compare with), RUNS=5
set -euo pipefail
command -v hyperfine >/dev/null || { echo "needs hyperfine (scripts/deps.sh --bench)" >&2; exit 1; }
K=$(realpath "${1:-build}/kiln")
B=${BENCH_DIR:-/tmp/kiln-archive-bench}; RUNS=${RUNS:-5}
gen=$(dirname "$0")/../../shared/bench/workloads/w2-bigctx/gen-context.sh
mkdir -p "$B"
if [ ! -f "$B/w2.tar" ]; then
	bash "$gen" "$B/ctx" >/dev/null
	tar -C "$B/ctx" -cf "$B/w2.tar" .
	rm -rf "$B/ctx"
fi
rm -rf "$B/src"
"$K" --root "$B/src" import "$B/w2.tar" w2:1 >/dev/null
"$K" --root "$B/src" save -o "$B/w2-docker.tar" w2:1
bins=(-n kiln "$K")
[ -n "${KILN_PREV:-}" ] && bins+=(-n prev "$KILN_PREV")
bench() { # WHAT CMD_TEMPLATE (with {K} and {R})
	local what=$1 tmpl=$2 args=() i=0
	while [ $i -lt ${#bins[@]} ]; do
		local name=${bins[$((i + 1))]} bin=${bins[$((i + 2))]}
		local cmd=${tmpl//\{K\}/$bin}
		args+=(-n "$what $name" "${cmd//\{R\}/$B/r-$name}")
		i=$((i + 3))
	done
	hyperfine -w 1 -r "$RUNS" --prepare "rm -rf $B/r-*; sync" "${args[@]}"
}
bench load "{K} --root {R} load -i $B/w2-docker.tar"
bench import "{K} --root {R} import $B/w2.tar w2:1"
bench save "{K} --root $B/src save -o $B/out.tar w2:1"
rm -rf "$B"/r-* "$B/out.tar"
