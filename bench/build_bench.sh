#!/usr/bin/env bash
# Cold builds side by side in one run: kiln, BuildKit (DOCKER_BUILDKIT=1)
# and the classic builder (DOCKER_BUILDKIT=0) of a private dockerd started
# here, on the shared workloads (../shared/bench/workloads/: w1-app,
# w2-bigctx, w3-multistage; base image bbase:1 from make-base.sh).
#
#   bench/build_bench.sh [BUILD_DIR] [WORKLOAD...]   (default: build, all three)
#   env: RUNS (default 5; w2-bigctx: W2_RUNS, default 3), BENCH_IMG_SIZE (16G),
#        KILN_BEFORE=PATH: another kiln binary (say a build of main) timed
#        in the same run, same cold state, as "kiln-before"
#   needs root, python3, GNU time, dockerd (scripts/deps.sh --bench)
#
# Timed in rounds (bench/rounds.py): each round runs every builder once,
# each round starting with the next one, so none is always timed first.
# Cold: before every timed run a prepare step removes the built image
# and all build cache (kiln: the store is replaced by a copy of one holding
# only bbase:1 with its layer unpacked, as dockerd's overlay2 keeps an
# imported image; docker: rmi + builder prune + image prune), then syncs.
# All stores, the contexts and the base live on one journaled ext4 loop
# mount made here (../shared/design/HOST-NOTES.md: the root fs has no
# journal). Peak memory: kiln's largest process (GNU time %M, one extra
# cold run); docker: the peak RSS of dockerd + containerd over one cold
# build (VmHWM, reset through /proc/PID/clear_refs before it).
# RUN networks: kiln its default (a slirp4netns per RUN); docker `--network
# host`, as this dockerd has no bridge (--bridge=none: no host firewall
# changes), which spares docker a network namespace per RUN.
# Prints each builder's times, then per workload mean, ratio to BuildKit, CPU
# time (user+sys; docker's is its CLI's only), peak memory of each, the load
# average and the goals of issue 12; for w3, the time its RUN alone takes in
# a plain chroot (the floor under kiln's figure) and kiln's split: total =
# floor + overhead, measured in interleaved pairs (also for kiln-before).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
shift || true
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(w1-app w2-bigctx w3-multistage)
shared=${KILN_SHARED:-$src/../shared}
K=$(realpath "$build/kiln")
KB=${KILN_BEFORE:+$(realpath "$KILN_BEFORE")}
RUNS=${RUNS:-5}
W2_RUNS=${W2_RUNS:-3}
DOCKER=/usr/bin/docker # the 20.10 CLI: its built-in BuildKit client (no buildx needed)
DOCKERD=$(command -v dockerd /usr/sbin/dockerd /usr/bin/dockerd 2>/dev/null | head -1 || true)

[ "$(id -u)" = 0 ] || { echo "build_bench: needs root" >&2; exit 1; }
for t in /usr/bin/time "$DOCKER" "$DOCKERD" mkfs.ext4 unshare python3; do
	command -v "$t" >/dev/null || { echo "build_bench: $t missing (scripts/deps.sh --bench)" >&2; exit 1; }
done

# Short base dir: dockerd's socket paths must fit in sun_path.
W=$(mktemp -d /tmp/kiln-bb.XXXXXX)
M="$W/m"
DPID= CPID=
cleanup() {
	local p
	[ -n "$CPID" ] || CPID=$(cat "$W/x/containerd/containerd.pid" 2>/dev/null || true)
	for p in $DPID $CPID; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 120); do
		{ [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; } ||
			{ [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; } || break
		sleep 0.25
	done
	for p in $DPID $CPID; do kill -KILL "$p" 2>/dev/null || true; done
	[ -z "$DPID" ] || wait "$DPID" 2>/dev/null || true
	awk -v d="$W/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

# One journaled ext4 for everything measured.
truncate -s "${BENCH_IMG_SIZE:-16G}" "$W/img"
mkfs.ext4 -q -F "$W/img"
mkdir -p "$M"
mount -o loop "$W/img" "$M"
tune2fs -l "$W/img" | grep -q has_journal || { echo "build_bench: no journal on $M" >&2; exit 1; }

echo "# preparing: base image, contexts, private dockerd" >&2
bash "$shared/bench/make-base.sh" "$M/bbase.tar" >/dev/null
for wl in "${workloads[@]}"; do
	bash "$shared/bench/workloads/$wl/gen-context.sh" "$M/ctx-$wl" >/dev/null
done

# The kiln store every cold run starts from: bbase:1, its layer unpacked.
KBASE="$M/kiln-base" KROOT="$M/kiln"
KILN_ROOT="$KBASE" "$K" import "$M/bbase.tar" bbase:1 >/dev/null
KILN_ROOT="$KBASE" "$K" run --rm --network none bbase:1 true

# dockerd in a private mount namespace with a fresh /run (as
# tests/e2e/dockerd.sh starts it): its own containerd, no iptables, no bridge.
mkdir -p "$W/tmp" "$W/cfg"
printf '{"deprecated-key-path": "%s/key.json"}\n' "$W" >"$W/daemon.json"
export DOCKER_HOST="unix://$W/sock" DOCKER_CONFIG="$W/cfg"
TMPDIR="$W/tmp" unshare -m --propagation private sh -c \
	'mount -t tmpfs -o mode=0755 kiln-bench-run /run && exec "$0" "$@"' \
	"$DOCKERD" --config-file "$W/daemon.json" --data-root "$M/docker" --exec-root "$W/x" \
	--pidfile "$W/pid" -H "unix://$W/sock" --iptables=false --ip6tables=false \
	--bridge=none --storage-driver=overlay2 >"$W/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 120); do
	kill -0 "$DPID" 2>/dev/null || break
	"$DOCKER" version >/dev/null 2>&1 && break
	sleep 0.5
done
"$DOCKER" version >/dev/null 2>&1 || { tail -20 "$W/dockerd.log" >&2; echo "build_bench: dockerd did not start" >&2; exit 1; }
CPID=$(cat "$W/x/containerd/containerd.pid" 2>/dev/null || true)
"$DOCKER" import "$M/bbase.tar" bbase:1 >/dev/null

# The floor of w3's own work: its RUN in a plain chroot of bbase:1 with
# the context's src/ in /build (no namespaces, no overlay, no layer). It
# moves with the load as much as kiln does, so kiln's split is measured in
# pairs: each round times a cold kiln build (and kiln-before's) and the
# chroot run right after it; printed are the medians of the totals, of the
# floor and of the per-round differences (kiln's overhead). /out is removed
# before each chroot run. Writes "NAME total floor overhead" lines.
chroot_floor() {
	local root="$M/chroot-w3" cmd i name bin t0 k f
	rm -rf "$root" && mkdir -p "$root/build"
	tar -xf "$M/bbase.tar" -C "$root"
	cp -a "$M/ctx-w3-multistage/src" "$root/build/"
	cmd=$(sed -n 's/^RUN //p' "$M/ctx-w3-multistage/Dockerfile")
	printf '%s\n' "$cmd" >"$root/run.sh"
	: >"$W/w3-pairs"
	for i in $(seq "$1"); do
		for name in kiln ${KB:+kiln-before}; do
			bin=$K
			[ "$name" = kiln ] || bin=$KB
			"$W/prep-kiln"
			t0=${EPOCHREALTIME/./} # microseconds
			$(kiln_cmd w3-multistage "$bin") >/dev/null
			k=$((${EPOCHREALTIME/./} - t0))
			rm -rf "$root/out"
			t0=${EPOCHREALTIME/./}
			chroot "$root" /bin/sh -c 'cd /build && . /run.sh'
			f=$((${EPOCHREALTIME/./} - t0))
			echo "$name $k $f" >>"$W/w3-pairs"
		done
	done
	python3 - "$W/w3-pairs" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, k, f = line.split()
    rows.setdefault(name, []).append((int(k) / 1e6, int(f) / 1e6))
for name, v in rows.items():
    med = statistics.median
    print(name, med(k for k, _ in v), med(f for _, f in v), med(k - f for k, f in v))
EOF
}

# Cleanup commands (run before each timed build): no image, no cache, data on disk.
cat >"$W/prep-kiln" <<EOF
#!/bin/sh
rm -rf '$KROOT' && cp -a '$KBASE' '$KROOT' && sync
EOF
cat >"$W/prep-docker" <<EOF
#!/bin/sh
export DOCKER_HOST='$DOCKER_HOST' DOCKER_CONFIG='$DOCKER_CONFIG'
$DOCKER rmi -f bench-bk:1 bench-classic:1 >/dev/null 2>&1
$DOCKER builder prune -af >/dev/null 2>&1
$DOCKER image prune -f >/dev/null 2>&1
sync
EOF
chmod +x "$W/prep-kiln" "$W/prep-docker"

kiln_cmd() { echo "env KILN_ROOT=$KROOT ${2:-$K} build -q -t bench-kiln:1 $M/ctx-$1"; }
bk_cmd() { echo "env DOCKER_BUILDKIT=1 $DOCKER build -q --network host -t bench-bk:1 $M/ctx-$1"; }
classic_cmd() { echo "env DOCKER_BUILDKIT=0 $DOCKER build -q --network host -t bench-classic:1 $M/ctx-$1"; }

# Peak RSS in kB of dockerd + containerd over one command.
daemon_peak() {
	local p sum=0 v
	for p in $DPID $CPID; do echo 5 >"/proc/$p/clear_refs"; done
	"$@" >/dev/null
	for p in $DPID $CPID; do
		v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status")
		sum=$((sum + v))
	done
	echo "$sum"
}

# Peak RSS in kB of kiln's largest process over one cold build.
kiln_peak() {
	"$W/prep-kiln"
	{ /usr/bin/time -f %M $(kiln_cmd "$1" "$2") >/dev/null; } 2>&1 | tail -1
}

# Every builder must build every workload before anything is timed.
for wl in "${workloads[@]}"; do
	for c in "$(bk_cmd "$wl")" "$(classic_cmd "$wl")"; do
		out=$($c 2>&1) || { printf '%s\n' "$out" >&2; echo "build_bench: failed: $c" >&2; exit 1; }
	done
done

summary="$W/summary"
: >"$summary"
for wl in "${workloads[@]}"; do
	runs=$RUNS
	[ "$wl" = w2-bigctx ] && runs=$W2_RUNS
	load=$(cut -d' ' -f1 /proc/loadavg)
	echo "## $wl: cold builds, $runs runs each (load $load)"
	before=()
	[ -z "$KB" ] || before=(kiln-before "$W/prep-kiln" "$(kiln_cmd "$wl" "$KB")")
	# rounds, not hyperfine: each round times every builder once, starting
	# with a different one, so no builder is always timed right after the
	# others' writes (w2: 428 MB a build) or right after the setup
	python3 "$(dirname "$0")/rounds.py" --runs "$runs" --export-json "$W/$wl.json" \
		kiln "$W/prep-kiln" "$(kiln_cmd "$wl")" "${before[@]}" \
		buildkit "$W/prep-docker" "$(bk_cmd "$wl")" \
		classic "$W/prep-docker" "$(classic_cmd "$wl")"
	mem="kiln=$(kiln_peak "$wl" "$K")"
	[ -z "$KB" ] || mem="$mem kiln-before=$(kiln_peak "$wl" "$KB")"
	"$W/prep-docker"
	mem="$mem buildkit=$(daemon_peak $(bk_cmd "$wl"))"
	"$W/prep-docker"
	mem="$mem classic=$(daemon_peak $(classic_cmd "$wl"))"
	echo "$wl $W/$wl.json $load $mem" >>"$summary"
	[ "$wl" != w3-multistage ] || chroot_floor "$runs" >"$W/w3-floor"
done

python3 - "$summary" "$W/w3-floor" <<'EOF'
import json, os, sys
goals = {"w1-app": 0.1, "w2-bigctx": 1.5, "w3-multistage": 0.12}
print("\n%-14s %-11s %7s %8s %10s %9s %11s" % ("workload", "builder", "mean s", "sd s", "vs BuildKit",
      "cpu s", "peak RSS"))
for line in open(sys.argv[1]):
    wl, path, load, *pairs = line.split()
    mem = dict(p.split("=") for p in pairs)
    res = {r["command"]: r for r in json.load(open(path))["results"]}
    bk = res["buildkit"]["mean"]
    for name, m in mem.items():
        r = res[name]
        who = " (dockerd+containerd)" if name in ("buildkit", "classic") else ""
        # user+sys of the command and the children it waited for: all of
        # kiln's work; for docker only its CLI (the daemons do the build)
        print("%-14s %-11s %7.3f %8.3f %10.2fx %9.3f %8.1f MB%s" % (wl, name, r["mean"], r["stddev"] or 0,
              r["mean"] / bk, r["user"] + r["system"], int(m) / 1024, who))
    k = res["kiln"]["mean"]
    print("%-14s load average at the start: %s" % (wl, load))
    print("%-14s goal: kiln under %.2f s cold (%s), peak RSS under 100 MB (%s)" % (
        wl, goals.get(wl, 0), "met" if k < goals.get(wl, 0) else "NOT met",
        "met" if int(mem["kiln"]) < 100 * 1024 else "NOT met"))
    if wl == "w3-multistage" and os.path.exists(sys.argv[2]):
        # the split, in pairs (chroot_floor): kiln's total = the RUN's own
        # work (its floor: the same commands in a plain chroot, no
        # namespaces, overlay or layer) + kiln's overhead (the steps, the
        # container start, layers, commit); medians over the rounds
        floor = None
        for row in open(sys.argv[2]):
            name, t, floor, over = row.split()
            print("%-14s split %-11s total %.3f s = RUN work in a plain chroot %.3f s + overhead %.3f s"
                  " (medians of %s paired rounds)" % (wl, name, float(t), float(floor), float(over),
                                                      os.environ.get("RUNS", "5")))
        if floor is not None:
            print("%-14s the goal (%.2f s) is %s the floor of the RUN's own work (%.3f s)" % (
                wl, goals[wl], "below" if goals[wl] < float(floor) else "above", float(floor)))
EOF
