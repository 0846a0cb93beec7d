#!/usr/bin/env bash
# A/B of two kiln builds on the container start path, in interleaved
# rounds (bench/rounds.py: each round runs every command once, the first
# one rotating), on one store, so that a change to `run` can be checked
# for a slowdown against the build it came from (e.g. main's):
#   kiln run --rm --network none busybox /bin/true        (A, then B)
#   kiln run --rm --network none -a stdout busybox /bin/true  (B, for reference)
#   bench/run_ab.sh A_KILN B_KILN [RUNS]   (as root; RUNS default 30)
# Both builds must read the same store format. Prints each command's median
# wall time and mean user+sys CPU, B/A ratios, and the load average before
# and after: compare ratios, never figures from another run.
set -euo pipefail
A=$(realpath "$1") B=$(realpath "$2") runs=${3:-30}
src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run_ab: needs root" >&2; exit 1; }
W=$(mktemp -d /tmp/kiln-runab.XXXXXX)
trap 'KILN_ROOT="$W/root" "$B" rm -f $(KILN_ROOT="$W/root" "$B" ps -aq 2>/dev/null) >/dev/null 2>&1; rm -rf "$W"' EXIT
export KILN_ROOT="$W/root"
KILN="$B" KILN_TEST_TMP="$W" "$src/testdata/make-busybox.sh" --import "$W/bb.tar" >/dev/null
for k in "$A" "$B"; do "$k" run --rm --network none busybox /bin/true; done # warm
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$src/bench/rounds.py" --runs "$runs" --export-json "$W/ab.json" \
	A "" "$A run --rm --network none busybox /bin/true" \
	B "" "$B run --rm --network none busybox /bin/true" \
	B-a "" "$B run --rm --network none -a stdout busybox /bin/true"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$W/ab.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
def cpu(x): return (x["user"] + x["system"]) * 1000
a = r["A"]
for name, x in r.items():
    print("%-4s median %6.1f ms  cpu %5.1f ms  median/A %.2f  cpu/A %.2f" % (
        name, x["median"] * 1000, cpu(x), x["median"] / a["median"], cpu(x) / cpu(a)))
PY
