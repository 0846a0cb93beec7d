#!/usr/bin/env bash
# COPY --from=<image> of 5,000 files in 50 directories from the middle of
# three layers, cold (--no-cache): the builder's snapshot lookups
# (builder/rootfs.c, one per file per layer), kiln beside an older kiln
# binary (KILN_BEFORE) in one run, alternating, with the ratio of wall and
# CPU (user+sys) times and the load average. Made to weigh the per-layer
# no-symlink parent open of the security review: 1.48x the CPU of the
# whole build with an open of the layer dir per lookup, 1.10x (wall
# 1.03-1.12x) once the snapshot dirs are canonical and one openat2 does,
# at load 3.2 on 2 cores, 8-10 rounds.
#
#   bench/copy_from_lookup_bench.sh [BUILD_DIR]   env: ROUNDS=8, KILN_BEFORE=PATH
set -euo pipefail
build=${1:-build}
K=$(realpath "$build/kiln")
KB=${KILN_BEFORE:+$(realpath "$KILN_BEFORE")}
ROUNDS=${ROUNDS:-8}
src=$(cd "$(dirname "$0")/.." && pwd)
B=$(mktemp -d /tmp/kclb.XXXXXX)
trap 'rm -rf "$B"' EXIT
python3 - "$B/layers.json" <<'PY'
import json, sys
l1 = [{"name": "a", "type": "dir"}, {"name": "a/x", "type": "file", "data": "x"}]
l2 = [{"name": "data", "type": "dir"}]
l2 += [{"name": "data/d%d" % d, "type": "dir"} for d in range(50)]
l2 += [{"name": "data/d%d/f%d" % (i // 100, i), "type": "file", "data": "y"} for i in range(5000)]
l3 = [{"name": "b", "type": "file", "data": "z"}]
json.dump([l1, l2, l3], open(sys.argv[1], "w"))
PY
python3 "$src/tests/e2e/sec_layers.py" "$B/img.tar" many:1 "@$B/layers.json"
mkdir -p "$B/ctx"
printf 'FROM scratch\nCOPY --from=many:1 /data /copy\n' >"$B/ctx/Dockerfile"
one() { # NAME BINARY: a warm-up build, then ROUNDS timed ones into $B/NAME.times
	"$2" --root "$B/root-$1" load -i "$B/img.tar" >/dev/null
	"$2" --root "$B/root-$1" build -q --no-cache "$B/ctx" >/dev/null
}
one after "$K"
[ -n "$KB" ] && one before "$KB"
for _ in $(seq "$ROUNDS"); do
	for v in after ${KB:+before}; do
		bin=$K
		[ "$v" = before ] && bin=$KB
		{ /usr/bin/time -f "$v %e %U %S" "$bin" --root "$B/root-$v" build -q --no-cache \
			"$B/ctx" >/dev/null; } 2>>"$B/times"
	done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{n[$1]++; w[$1] += $2; c[$1] += $3 + $4}
	END {for (v in n) printf "%-6s wall %.3f s  cpu %.3f s  (mean of %d)\n", v, w[v] / n[v], c[v] / n[v], n[v]
	     if (n["before"]) printf "after/before: wall %.2fx  cpu %.2fx\n", w["after"] / w["before"], c["after"] / c["before"]}' "$B/times"
