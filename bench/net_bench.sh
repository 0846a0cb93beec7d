#!/usr/bin/env bash
# What the default network adds to a container start: `kiln run --rm
# busybox true` with --network none, with slirp4netns and with pasta
# (KILN_NET_HELPER), side by side in one hyperfine run; prints median and
# min per variant. Needs root, hyperfine, busybox-static.
# usage: bench/net_bench.sh BUILD_DIR [RUNS]
set -euo pipefail
B=$(cd "${1:?usage: net_bench.sh BUILD_DIR [RUNS]}" && pwd)
RUNS=${2:-40}
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/netbench.XXXXXX)
trap 'KILN_ROOT="$T/root" "$B/kiln" container prune -f >/dev/null 2>&1; rm -rf "$T"' EXIT
export KILN_ROOT="$T/root" KILN="$B/kiln"
KILN_TEST_TMP="$T" "$SRC/testdata/make-busybox.sh" --import "$T/bb.tar" >/dev/null
cmds=(-n none "$KILN run --rm --network none busybox true")
for h in slirp4netns pasta; do
	command -v "$h" >/dev/null && cmds+=(-n "$h" "env KILN_NET_HELPER=$h $KILN run --rm busybox true")
done
hyperfine -N -w 3 -r "$RUNS" --export-json "$T/r.json" "${cmds[@]}" >/dev/null
python3 - "$T/r.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%-12s median %6.1f ms   min %6.1f ms" % (r["command"], r["median"] * 1e3, r["min"] * 1e3))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
