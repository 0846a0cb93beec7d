#!/usr/bin/env bash
# Resident memory of a container's monitor: kiln's (kiln-monitor, started by
# `kiln run -d busybox sleep 100`) beside conmon's (Debian's conmon with
# runc, the same busybox rootfs as an OCI bundle, the container started),
# VmRSS from /proc/PID/status, median of N containers each. Issue 11's goal:
# kiln's under 2 MB. Without conmon (apt-get install conmon) kiln's figure is
# printed alone.
#
#   bench/monitor_rss.sh [KILN] [N]      KILN default: build/kiln (Release)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KILN=$(realpath "${1:-$HERE/../build/kiln}")
N=${2:-5}
[ "$(id -u)" = 0 ] || { echo "monitor_rss: needs root" >&2; exit 1; }
T=$(mktemp -d /tmp/kiln-rss.XXXXXX)
export KILN_ROOT="$T/root"
ids=() cms=()
cleanup() {
	[ ${#ids[@]} -gt 0 ] && "$KILN" rm -f "${ids[@]}" >/dev/null 2>&1
	for c in "${cms[@]}"; do # conmon exits when its container does
		runc --root "$T/runc" delete -f "$c" >/dev/null 2>&1
		[ -s "$T/$c.cpid" ] && wait_gone "$(cat "$T/$c.cpid")"
	done
	rm -rf "$T"
}
trap cleanup EXIT

wait_gone() { for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

KILN_TEST_TMP="$T" KILN="$KILN" "$HERE/../testdata/make-busybox.sh" --import "$T/bb.tar" >/dev/null
for i in $(seq "$N"); do
	ids+=("$("$KILN" run -d --network none busybox sleep 100)")
done
sleep 0.5
kiln_rss=$(for id in "${ids[@]}"; do
	mpid=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['monitor_pid'])" \
		"$KILN_ROOT/containers/$id/state.json")
	rss "$mpid"
done | median)
echo "kiln-monitor ($(file -b "$(dirname "$KILN")/kiln-monitor" | cut -d, -f4 | sed 's/^ //'))" \
	"VmRSS median of $N: ${kiln_rss} kB"

if ! command -v conmon >/dev/null || ! command -v runc >/dev/null; then
	echo "conmon: not installed (apt-get install conmon runc): nothing to compare with"
	exit 0
fi
mkdir -p "$T/bundle/rootfs" "$T/exit" "$T/sock" "$T/runc"
tar -xf "$T/bb.tar" -C "$T/bundle/rootfs"
(cd "$T/bundle" && runc spec)
python3 - "$T/bundle/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "100"]
json.dump(c, open(sys.argv[1], "w"))
EOF
for i in $(seq "$N"); do
	c=rss$i
	cms+=("$c")
	conmon --api-version 1 -c "$c" -u "$c" -n "$c" -r "$(command -v runc)" -b "$T/bundle" \
		-p "$T/$c.pid" -l "k8s-file:$T/$c.log" --exit-dir "$T/exit" --socket-dir-path "$T/sock" \
		--conmon-pidfile "$T/$c.cpid" --runtime-arg "--root=$T/runc" --log-level error
	for _ in $(seq 100); do [ -s "$T/$c.pid" ] && break; sleep 0.05; done # conmon creates it in the background
	runc --root "$T/runc" start "$c" >&2
done
sleep 0.5
conmon_rss=$(for c in "${cms[@]}"; do rss "$(cat "$T/$c.cpid")"; done | median)
running=$(runc --root "$T/runc" list -q 2>/dev/null | while read -r c; do
	runc --root "$T/runc" state "$c"; done | grep -c '"status": "running"')
echo "conmon $(conmon --version | awk 'NR == 1 {print $3}') VmRSS median of $N: ${conmon_rss} kB" \
	"($running of its containers running, under runc)"
awk -v k="$kiln_rss" -v c="$conmon_rss" 'BEGIN {printf "kiln/conmon: %.2f\n", k / c}'
