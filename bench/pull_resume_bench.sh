#!/usr/bin/env bash
# A pull that resumes one large layer from the partial an earlier (killed)
# pull kept, while the image's other large layer downloads: the kept bytes
# are read back (hashed, handed to the layer's unpacker) before the rest is
# asked for. Before, that replay ran whole on the transfer loop's thread
# before the other layer's GET started; now it goes a chunk a turn between
# the transfers' turns. Times BASE_KILN (another kiln binary: a build of
# main) and this build's kiln alternately, RUNS times each, into fresh
# stores holding the same partial (all but the last byte of layer 1), from
# a docker-registry on 127.0.0.1; prints the medians (wall, user+sys), the
# ratio and the load average. Nothing is timed in a test.
#
#   bench/pull_resume_bench.sh BUILD_DIR BASE_KILN [WORKDIR]
#   env: RUNS=5; SIZE=100000000 (random bytes per layer, gzip); RATE=BYTES
#        per second and connection from the registry through a throttling
#        forwarder on 127.0.0.1 (a link slower than loopback, where the
#        overlap shows; 0: straight to the registry)
set -euo pipefail
B=$(cd "${1:?usage: pull_resume_bench.sh BUILD_DIR BASE_KILN [WORKDIR]}" && pwd)
BASE=${2:?usage: pull_resume_bench.sh BUILD_DIR BASE_KILN [WORKDIR]}
W=${3:-/tmp}
RUNS=${RUNS:-5}
SIZE=${SIZE:-100000000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
NEW="$B/kiln"
mkdir -p "$W"
T=$(mktemp -d "$W/pull-resume.XXXXXX")
_cleanups=()
at_exit() { _cleanups+=("$*"); } # for tests/e2e/registry_lib.sh
skip_all() { echo "$*" >&2; exit 1; }
cleanup() {
	for c in "${_cleanups[@]}"; do eval "$c" || true; done
	rm -rf "$T"
}
trap cleanup EXIT
cp "$BASE" "$T/kiln-base" # the base may be rebuilt while this runs
source "$SRC/tests/e2e/registry_lib.sh"
start_registry a
REG=$REG_a
RATE=${RATE:-0}
if [ "$RATE" != 0 ]; then # each connection's downloads at RATE bytes/s
	python3 - "$T/fwd.port" "${REG#*:}" "$RATE" <<'PY' &
import socket, sys, threading, time
port_file, up, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def pump(a, b, limit):
    t0, sent = time.monotonic(), 0
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
            sent += len(d)
            if limit:
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
open(port_file, "w").write(str(ls.getsockname()[1]))
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", up))
    threading.Thread(target=pump, args=(c, u, False), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, True), daemon=True).start()
PY
	at_exit "kill $! 2>/dev/null"
	for _ in $(seq 100); do [ -s "$T/fwd.port" ] && break; sleep 0.1; done
	PULL=127.0.0.1:$(cat "$T/fwd.port")
else
	PULL=$REG
fi

echo "# two layers of $SIZE random bytes (gzip) ..."
python3 "$SRC/tests/e2e/mklayers.py" "$T/lay" img 2 "$SIZE" >"$T/layers.list"
skopeo copy -q --dest-tls-verify=false "oci:$T/lay:img" "docker://$REG/img:1"
L1=$(sed -n 1p "$T/layers.list" | cut -d' ' -f1)
"$NEW" --root "$T/ref" pull -q "$PULL/img:1" >/dev/null
WANT=$("$NEW" --root "$T/ref" inspect -f '{{.Id}}' "$PULL/img:1")
BLOB="$T/ref/images/blobs/sha256/${L1#sha256:}"
KEEP=$(($(stat -c %s "$BLOB") - 1))
head -c "$KEEP" "$BLOB" >"$T/partial"
rm -rf "$T/ref"

# one_pull NAME BIN RUN: appends "wall cpu" to $T/NAME.times
one_pull() {
	local root="$T/r-$1-$3" t
	"$2" --root "$root" images >/dev/null
	cp "$T/partial" "$root/tmp/partial-${L1#sha256:}"
	sync
	t=$({ TIMEFORMAT='%R %U %S'; time "$2" --root "$root" pull -q "$PULL/img:1" >/dev/null; } 2>&1)
	[ "$("$2" --root "$root" inspect -f '{{.Id}}' "$PULL/img:1")" = "$WANT" ] ||
		{ echo "$1: the pulled image is not $WANT" >&2; exit 1; }
	echo "$t" | awk '{printf "%s %.3f\n", $1, $2 + $3}' >>"$T/$1.times"
	rm -rf "$root"
}
for r in $(seq "$RUNS"); do
	if [ $((r % 2)) = 1 ]; then
		one_pull base "$T/kiln-base" "$r"
		one_pull new "$NEW" "$r"
	else
		one_pull new "$NEW" "$r"
		one_pull base "$T/kiln-base" "$r"
	fi
done
med() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
bw=$(cut -d' ' -f1 "$T/base.times" | med) bc=$(cut -d' ' -f2 "$T/base.times" | med)
nw=$(cut -d' ' -f1 "$T/new.times" | med) nc=$(cut -d' ' -f2 "$T/new.times" | med)
echo "# pull of 2 x $SIZE-byte layers, layer 1 resumed from a kept partial of $KEEP bytes, RATE=$RATE B/s; medians of $RUNS"
printf '%-6s wall %6.3f s  cpu %6.3f s  (runs: %s)\n' base "$bw" "$bc" "$(cut -d' ' -f1 "$T/base.times" | tr '\n' ' ')"
printf '%-6s wall %6.3f s  cpu %6.3f s  (runs: %s)\n' new "$nw" "$nc" "$(cut -d' ' -f1 "$T/new.times" | tr '\n' ' ')"
awk -v b="$bw" -v n="$nw" 'BEGIN {printf "wall base/new %.2f\n", b / n}'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
