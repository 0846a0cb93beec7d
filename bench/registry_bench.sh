#!/usr/bin/env bash
# Push and pull of the w2 image (one ~420 MB layer: 20,000 files, mostly
# incompressible assets) to a local docker-registry, kiln beside skopeo and
# docker in the same run, on the same disk, RUNS times (medians printed
# with the ratios and the issue's goals).
#
#   bench/registry_bench.sh BUILD_DIR [WORKDIR]
#   env: RUNS=3; BENCH_DOCKER=0 leaves docker out; BENCH_BASE_KILN=PATH also
#        times the pull and the first push of another kiln binary (a build
#        of main: before and after in the same run, "kiln-base-pull",
#        "kiln-base-push-first"); BENCH_LOOP=0 keeps the
#        stores on WORKDIR's file system instead of a journaled ext4 loop
#        mount made for the run (the host's root file system has no journal,
#        where creating files soon after deleting many is several times
#        slower: ../shared/design/HOST-NOTES.md).
#
# Each run starts from an empty registry. What is timed:
#   skopeo push   an already gzip-compressed OCI layout (no compression work)
#   kiln push     first push of the uncompressed local layer (gzip included),
#                 then a second push (HEADs and the manifest only)
#   docker push   a private dockerd (--insecure-registry), gzip included
#   skopeo pull   into an OCI layout (verified, not unpacked)
#   kiln pull     into an empty store: verified and unpacked (runnable)
#   docker pull   into an empty private dockerd: verified and unpacked
# Peak memory (max RSS) is kiln's. Wall times, and CPU times (user+sys of
# the client only: the registry's are not counted); the machine may be
# shared, so compare tools within one run, never with another day's figures.
# On a loaded machine wall times follow CPU times (the scheduler's share).
# Every figure's load average is printed with it.
set -euo pipefail
B=$(cd "${1:?usage: registry_bench.sh BUILD_DIR [WORKDIR]}" && pwd)
W=${2:-/tmp/kiln-registry-bench}
RUNS=${RUNS:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
KILN="$B/kiln"
mkdir -p "$W"
W=$(cd "$W" && pwd)
T=$(mktemp -d "$W/run.XXXXXX")
RPID= DPID= CPID= M="$T"

cleanup() {
	[ -z "$RPID" ] || { kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null; } || true
	if [ -n "$DPID" ]; then
		[ -n "$CPID" ] || CPID=$(cat "$T/d/x/containerd/containerd.pid" 2>/dev/null || true)
		for p in $DPID $CPID; do kill -TERM "$p" 2>/dev/null || true; done
		for _ in $(seq 120); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.25; done
		for p in $DPID $CPID; do kill -KILL "$p" 2>/dev/null || true; done
		wait "$DPID" 2>/dev/null || true
	fi
	awk -v d="$T" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	[ ! -L "$T/d" ] || rm -rf "$(readlink "$T/d")"
	rm -rf "$T"
}
trap cleanup EXIT

# --- a journaled ext4 for every store (kiln's, skopeo's, docker's, the registry's)
if [ "${BENCH_LOOP:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
	truncate -s 12G "$T/disk.img"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/disk.img"
	mkdir "$T/mnt"
	mount -o loop "$T/disk.img" "$T/mnt"
	M="$T/mnt"
	echo "# stores on a journaled ext4 loop mount"
fi

[ -d "$W/w2ctx" ] || "$SRC/../shared/bench/workloads/w2-bigctx/gen-context.sh" "$W/w2ctx" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
R=127.0.0.1:$port
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$M/reg" "$R" >"$T/reg.yml"
registry_restart() { # an empty registry
	[ -z "$RPID" ] || { kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null || true; }
	rm -rf "$M/reg"
	docker-registry serve "$T/reg.yml" >"$T/reg.log" 2>&1 &
	RPID=$!
	for _ in $(seq 100); do curl -fso /dev/null "http://$R/v2/" && return 0; sleep 0.1; done
	echo "registry did not start" >&2; cat "$T/reg.log" >&2; exit 1
}

# skopeo in a private mount namespace over a fresh blob-info cache: it
# would otherwise remember where blobs went and mount them from there
SK=(skopeo)
if [ -d /var/lib/containers/cache ] && [ "$(id -u)" = 0 ]; then
	SK=(unshare -m sh -c 'mount -t tmpfs kiln-bench /var/lib/containers/cache && exec "$0" "$@"' skopeo)
fi

# --- the image: kiln's store, a compressed layout for skopeo, docker's copy
export KILN_ROOT="$M/k-src"
"$KILN" import "$W/w2ctx" "$R/w2:src" >/dev/null
"${SK[@]}" copy -q --dest-compress --dest-compress-format gzip "oci:$KILN_ROOT/images:$R/w2:src" "oci:$M/sk-src:w2" >/dev/null

DOCKER=0
if [ "${BENCH_DOCKER:-1}" != 0 ] && [ "$(id -u)" = 0 ] && [ -x /usr/bin/docker ] && command -v dockerd >/dev/null; then
	D="$T/d" # a private dockerd: own roots, own /run, no iptables, no bridge
	if [ ${#D} -gt 50 ]; then D=$(mktemp -d /tmp/kiln-rb.XXXXXX); ln -s "$D" "$T/d"; fi
	mkdir -p "$D/tmp" "$M/docker"
	printf '{"deprecated-key-path": "%s/key.json"}\n' "$D" >"$D/daemon.json"
	TMPDIR="$D/tmp" unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0755 kiln-bench-run /run && exec "$0" "$@"' \
		"$(command -v dockerd)" --config-file "$D/daemon.json" --data-root "$M/docker" --exec-root "$D/x" \
		--pidfile "$D/pid" -H "unix://$D/sock" --iptables=false --ip6tables=false --bridge=none \
		--storage-driver=overlay2 --insecure-registry "$R" >"$D/log" 2>&1 &
	DPID=$!
	export DOCKER_HOST="unix://$D/sock" DOCKER_CONFIG="$D/cfg"
	for _ in $(seq 120); do
		kill -0 "$DPID" 2>/dev/null || break
		if /usr/bin/docker version >/dev/null 2>&1; then DOCKER=1; break; fi
		sleep 0.5
	done
	if [ "$DOCKER" = 1 ]; then
		CPID=$(cat "$D/x/containerd/containerd.pid" 2>/dev/null || true)
		"$KILN" save "$R/w2:src" | /usr/bin/docker load -q >/dev/null
		/usr/bin/docker tag "$R/w2:src" "$R/w2:dk"
	else
		echo "# private dockerd did not start: docker left out"; tail -5 "$D/log" | sed 's/^/#   /'
	fi
fi
sync

# t NAME CMD...: times one command (wall seconds, max RSS KiB) into $OUTF
OUTF="$T/times"
t() {
	local name=$1; shift
	sync
	/usr/bin/time -o "$T/one" -f '%e %M %U %S' "$@" >/dev/null 2>"$T/err" || {
		echo "$name failed:" >&2; cat "$T/err" >&2; exit 1; }
	echo "$name $(cat "$T/one")" >>"$OUTF"
}

for i in $(seq "$RUNS"); do
	registry_restart
	t skopeo-push "${SK[@]}" copy -q --dest-tls-verify=false "oci:$M/sk-src:w2" "docker://$R/w2:sk"
	rm -rf "$M/k1"
	"$KILN" --root "$M/k1" import "$W/w2ctx" "$R/w2:k" >/dev/null
	t kiln-push-first "$KILN" --root "$M/k1" push "$R/w2:k"
	t kiln-push-second "$KILN" --root "$M/k1" push "$R/w2:k"
	if [ -n "${BENCH_BASE_KILN:-}" ]; then # the same first push by the older kiln, to a repository of its own
		rm -rf "$M/k1b"
		"$BENCH_BASE_KILN" --root "$M/k1b" import "$W/w2ctx" "$R/w2b:k" >/dev/null
		t kiln-base-push-first "$BENCH_BASE_KILN" --root "$M/k1b" push "$R/w2b:k"
		rm -rf "$M/k1b"
	fi
	[ "$DOCKER" = 0 ] || t docker-push /usr/bin/docker push "$R/w2:dk"

	rm -rf "$M/sk-dst" "$M/k2"
	t skopeo-pull "${SK[@]}" copy -q --src-tls-verify=false "docker://$R/w2:sk" "oci:$M/sk-dst:w2"
	t kiln-pull "$KILN" --root "$M/k2" pull "$R/w2:k"
	if [ -n "${BENCH_BASE_KILN:-}" ]; then
		rm -rf "$M/k2"
		t kiln-base-pull "$BENCH_BASE_KILN" --root "$M/k2" pull "$R/w2:k"
	fi
	if [ "$DOCKER" = 1 ]; then
		/usr/bin/docker rmi -f $(/usr/bin/docker images -q | sort -u) >/dev/null
		t docker-pull /usr/bin/docker pull "$R/w2:dk"
	fi
	echo "# run $i (load $(cut -d' ' -f1 /proc/loadavg)): $(awk -v r="$i" '{n[$1]++; if (n[$1] == r) printf "%s %ss  ", $1, $2}' "$OUTF")"
done

python3 - "$OUTF" "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, secs, rss, usr, sys_ = line.split()
    runs.setdefault(name, []).append((float(secs), int(rss), float(usr) + float(sys_)))
med = {k: statistics.median(s for s, _, _ in v) for k, v in runs.items()}
rss = {k: max(r for _, r, _ in v) for k, v in runs.items()}
cpu = {k: statistics.median(c for _, _, c in v) for k, v in runs.items()}
print("w2 image (420 MB, one layer) through docker-registry on 127.0.0.1, median of %s runs (load %s)" % (sys.argv[2], sys.argv[3]))
for k in ["skopeo-push", "kiln-push-first", "kiln-base-push-first", "kiln-push-second", "docker-push", "skopeo-pull", "kiln-pull", "kiln-base-pull", "docker-pull"]:
    if k in med:
        extra = "  peak %d MiB" % (rss[k] // 1024) if k.startswith("kiln") else ""
        print("  %-17s %6.2f s   (%s)  cpu %5.2f s%s" % (k, med[k], " ".join("%.2f" % s for s, _, _ in runs[k]), cpu[k], extra))
def ratio(a, b, goal, what):
    if a in med and b in med and med[b] > 0:
        r = med[a] / med[b]
        c = cpu[a] / cpu[b] if cpu[b] > 0 else 0
        print("  %-40s %5.2fx  goal %s: %-7s (cpu %.2fx)" % (what, r, goal, "met" if eval("%f %s" % (r, goal)) else "NOT met", c))
ratio("kiln-pull", "skopeo-pull", "<= 1.0", "kiln pull+unpack / skopeo pull")
ratio("kiln-base-pull", "skopeo-pull", "<= 1.0", "base kiln pull+unpack / skopeo pull")
ratio("kiln-pull", "kiln-base-pull", "<= 1.0", "kiln pull / base kiln pull")
ratio("kiln-push-first", "skopeo-push", "<= 1.5", "kiln first push (gzip) / skopeo push")
ratio("kiln-base-push-first", "skopeo-push", "<= 1.5", "base kiln first push / skopeo push")
ratio("kiln-pull", "docker-pull", "<= 1.0", "kiln pull / docker pull")
ratio("kiln-push-first", "docker-push", "<= 1.0", "kiln first push / docker push")
if "kiln-push-second" in med:
    s = med["kiln-push-second"]
    print("  %-40s %5.2f s  goal < 0.2 s: %s" % ("kiln second push", s, "met" if s < 0.2 else "NOT met"))
PY
