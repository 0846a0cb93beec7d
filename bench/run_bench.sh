#!/usr/bin/env bash
# Container start latency side by side in one run (hyperfine, 20 runs):
#   kiln run --rm --network none busybox /bin/true
#   runc run of the same busybox rootfs as an OCI bundle
#   crun run of that bundle when crun is installed (crun refuses the hybrid
#   cgroup layout of some hosts: then its row fails and says so)
# plus the resident memory of a detached container's monitor.
#   bench/run_bench.sh [BUILD_DIR]   (default: build, a Release tree; as root)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
KILN=${KILN:-$src/${1:-build}/kiln}
[ "$(id -u)" = 0 ] || { echo "run_bench: needs root" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "run_bench: apt-get install hyperfine" >&2; exit 1; }
W=$(mktemp -d /tmp/kiln-runbench.XXXXXX)
export KILN_ROOT="$W/root"
cleanup() {
	"$KILN" rm -f $("$KILN" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

KILN_TEST_TMP="$W" KILN="$KILN" "$src/testdata/make-busybox.sh" --import "$W/bb.tar" >/dev/null
mkdir -p "$W/bundle/rootfs"
tar -xf "$W/bb.tar" -C "$W/bundle/rootfs"
(cd "$W/bundle" && runc spec)
# the default spec runs `sh` on a terminal: /bin/true without one
python3 - "$W/bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
EOF

cmds=("$KILN run --rm --network none busybox /bin/true"
      "runc run --bundle $W/bundle kiln-bench-runc")
names=(kiln runc)
if command -v crun >/dev/null; then
	cmds+=("crun run --bundle $W/bundle kiln-bench-crun")
	names+=(crun)
fi
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --warmup 3 --runs 20 -i "${args[@]}"

id=$("$KILN" run -d --network none busybox sleep 30)
mon=$(ps -o ppid= -p "$("$KILN" container inspect -f '{{.State.Pid}}' "$id")" | tr -d ' ')
echo "monitor (pid $mon): $(grep VmRSS "/proc/$mon/status")"
