#!/usr/bin/env bash
# Per-file system calls of a context COPY, kiln beside an older kiln
# binary (KILN_BEFORE) in one run: `strace -c -f` counts of the stat
# family (statx, newfstatat, fstat, lstat, stat) and of open/openat,
# getdents64 and readlink, for the w2-bigctx workload (20,000 files):
# a cold build (--no-cache, fresh store), a rebuild after one file changed,
# and a no-op rebuild. Counts do not depend on load or on the filesystem's
# journal, so the scratch dir is a plain mktemp -d.
#
#   bench/copy_syscalls.sh [BUILD_DIR] [WORKLOAD]  (defaults: ./build, w2-bigctx)
#   env: KILN_BEFORE=PATH (say /work/main/build/kiln: counted as "before")
set -euo pipefail
build=${1:-build}
wl=${2:-w2-bigctx}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KILN_SHARED:-$here/../shared}
K=$(realpath "$build/kiln")
KB=${KILN_BEFORE:+$(realpath "$KILN_BEFORE")}
command -v strace >/dev/null || { echo "copy_syscalls: strace missing" >&2; exit 1; }
B=$(mktemp -d /tmp/kcs.XXXXXX)
trap 'rm -rf "$B"' EXIT
bash "$shared/bench/make-base.sh" "$B/bbase.tar" >/dev/null
ctx="$B/ctx"
bash "$shared/bench/workloads/$wl/gen-context.sh" "$ctx" >/dev/null
cf="$ctx/$(sed -n 's/^# Change file for .*: *//p' "$shared/bench/workloads/$wl/gen-context.sh")"
nfiles=$(find "$ctx" | wc -l)

calls='statx,newfstatat,fstat,lstat,stat,openat,open,getdents64,readlink,readlinkat'
count() { # OUT_FILE CMD...: "stat-family open getdents readlink" totals
	strace -f -c -U name,calls -e trace="$calls" -o "$1" "${@:2}" >/dev/null 2>&1
	python3 - "$1" <<'PY'
import sys, re
c = {}
for l in open(sys.argv[1]):
    m = re.match(r"\s*(\w+)\s+(\d+)\s*$", l)
    if m: c[m.group(1)] = int(m.group(2))
st = sum(c.get(k, 0) for k in ("statx", "newfstatat", "fstat", "lstat", "stat"))
print(st, c.get("openat", 0) + c.get("open", 0), c.get("getdents64", 0),
      c.get("readlink", 0) + c.get("readlinkat", 0))
PY
}
row() { printf '  %-8s %-22s stat %7s (%5.2f/entry)  open %7s  getdents %5s  readlink %4s\n' "$1" "$2" "$3" "$(python3 -c "print($3/$nfiles)")" "$4" "$5" "$6"; }

echo "== $wl: $nfiles context entries; load $(cut -d' ' -f1 /proc/loadavg)"
for who in before after; do
	bin=$K
	if [ $who = before ]; then [ -n "$KB" ] || continue; bin=$KB; fi
	export KILN_ROOT="$B/root-$who"
	"$bin" import "$B/bbase.tar" bbase:1 >/dev/null
	read -r s o g r < <(count "$B/s.txt" "$bin" build -q --no-cache --network none -t x "$ctx")
	row $who "cold (--no-cache)" "$s" "$o" "$g" "$r"
	echo "edit $who" >>"$cf"
	read -r s o g r < <(count "$B/s.txt" "$bin" build -q --network none -t x "$ctx")
	row $who "one file changed" "$s" "$o" "$g" "$r"
	read -r s o g r < <(count "$B/s.txt" "$bin" build -q --network none -t x "$ctx")
	row $who "no-op" "$s" "$o" "$g" "$r"
done
