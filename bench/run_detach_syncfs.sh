#!/usr/bin/env bash
# The cost of making a lasting container's lowers durable at create: syncfs
# calls (strace -f -c) and wall time of `kiln run -d` on a freshly imported
# busybox image, first run (its snapshot unpacked, then made durable: one
# syncfs) and second run (durable already: none), and `kiln run --rm` (the
# unsynced fast path: none) then `run -d` in a second store; beside an
# older kiln binary (KILN_BEFORE, say one without the durable lowers) in
# one run. Counts do not depend on load; times do (the load average is
# printed with them). Needs root.
#
#   bench/run_detach_syncfs.sh [BUILD_DIR]  (default ./build)
#   env: KILN_BEFORE=PATH (counted as "before")
set -euo pipefail
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} # LeakSanitizer cannot run under ptrace
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
K=$(realpath "$build/kiln")
KB=${KILN_BEFORE:+$(realpath "$KILN_BEFORE")}
command -v strace >/dev/null || { echo "run_detach_syncfs: strace missing" >&2; exit 1; }
B=$(mktemp -d /tmp/krds.XXXXXX)
cleanup() {
	for r in "$B"/root-*; do
		[ -d "$r" ] && "$K" --root "$r" rm -f $("$K" --root "$r" ps -aq 2>/dev/null) >/dev/null 2>&1
	done
	rm -rf "$B"
}
trap cleanup EXIT
KILN_TEST_TMP="$B" "$here/testdata/make-busybox.sh" "$B/bb.tar" >/dev/null 2>&1
one() { # LABEL CMD...: syncfs calls and wall ms
	local t0 t1 n label=$1
	shift
	t0=$(date +%s%N)
	strace -f -c -U name,calls -e trace=syncfs -o "$B/st" "$@" >/dev/null 2>&1 || true
	t1=$(date +%s%N)
	n=$(awk '$1 == "syncfs" { print $2 }' "$B/st")
	printf '  %-40s syncfs=%s wall=%dms\n' "$label" "${n:-0}" $(((t1 - t0) / 1000000))
}
scenario() { # TAG KILN
	local tag=$1 k=$2 r="$B/root-$1-a"
	echo "$tag ($k):"
	"$k" --root "$r" import -c 'CMD ["sh"]' "$B/bb.tar" bb:1 >/dev/null
	one "run -d, fresh image (unpack)" "$k" --root "$r" run -d bb:1 true
	one "run -d again" "$k" --root "$r" run -d bb:1 true
	r="$B/root-$tag-b"
	"$k" --root "$r" import -c 'CMD ["sh"]' "$B/bb.tar" bb:1 >/dev/null
	one "run --rm, fresh image (unpack)" "$k" --root "$r" run --rm bb:1 true
	one "run -d after the --rm" "$k" --root "$r" run -d bb:1 true
	one "run -d again" "$k" --root "$r" run -d bb:1 true
}
scenario after "$K"
[ -z "$KB" ] || scenario before "$KB"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
