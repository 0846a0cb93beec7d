#!/usr/bin/env bash
# COPY of a 4 GB sparse file (4 KiB of data, the rest holes), cold
# (--no-cache), kiln beside an older kiln binary (KILN_BEFORE) in one run,
# with the floor beside them: sha256 over 4 GB of zeros (OpenSSL through
# python's hashlib), which no layer of that file can skip (docker layers
# are plain tars: the zeros are in the tar and in the diffID's input).
#
#   bench/sparse_copy_bench.sh [BUILD_DIR]   env: RUNS=3, KILN_BEFORE=PATH,
#                                            SIZE=4G
set -euo pipefail
build=${1:-build}
K=$(realpath "$build/kiln")
KB=${KILN_BEFORE:+$(realpath "$KILN_BEFORE")}
RUNS=${RUNS:-3}
SIZE=${SIZE:-4G}
command -v hyperfine >/dev/null || { echo "sparse_copy_bench: hyperfine missing" >&2; exit 1; }
B=$(mktemp -d /tmp/kspb.XXXXXX)
trap 'rm -rf "$B"' EXIT
mkdir -p "$B/ctx"
truncate -s "$SIZE" "$B/ctx/big"
printf 'data' | dd of="$B/ctx/big" bs=1 seek=$((1 << 30)) conv=notrunc status=none
printf 'FROM scratch\nCOPY big /\n' >"$B/ctx/Dockerfile"
bytes=$(stat -c %s "$B/ctx/big")
echo "== COPY of a $SIZE sparse file ($(du -k "$B/ctx/big" | cut -f1) KB allocated); load $(cut -d' ' -f1 /proc/loadavg)"
cmds=(-n floor "python3 -c 'import hashlib; h=hashlib.sha256(); b=bytes(1<<20); [h.update(b) for _ in range($bytes>>20)]'")
cmds+=(-n kiln "env KILN_ROOT=$B/root $K build -q --no-cache -t sp $B/ctx")
[ -z "$KB" ] || cmds+=(-n kiln-before "env KILN_ROOT=$B/root-before $KB build -q --no-cache -t sp $B/ctx")
hyperfine -r "$RUNS" -w 1 --export-json "$B/hf.json" "${cmds[@]}" >/dev/null
python3 - "$B/hf.json" <<'PY'
import json, sys
rs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
floor = rs["floor"]["mean"]
for name, r in rs.items():
    print("  %-12s %8.2f s +- %5.2f   cpu %6.2f s   %5.2fx the sha256 floor"
          % (name, r["mean"], r["stddev"], r["user"] + r["system"], r["mean"] / floor))
if "kiln-before" in rs:
    a, b = rs["kiln"], rs["kiln-before"]
    print("  kiln/before: %.2fx (cpu %.2fx)" % (a["mean"] / b["mean"],
          (a["user"] + a["system"]) / (b["user"] + b["system"])))
PY
echo "  (load $(cut -d' ' -f1 /proc/loadavg))"
