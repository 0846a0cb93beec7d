#!/usr/bin/env bash
# Container start latency, side by side in ONE hyperfine run (20 runs each):
#   kiln run --rm --network none busybox /bin/true
#   crun run and runc run of the same busybox rootfs as an OCI bundle
#   docker run --rm --network none busybox /bin/true on a private dockerd
# then `run -d` latency (kiln vs docker) and `ps -a` with 200 containers
# (kiln vs docker), each with ratios, and the resident memory of a
# detached container's monitor.
#   bench/run_bench.sh [BUILD_DIR]   (default: build, a Release tree; as root)
# kiln's store, the OCI bundle and dockerd's data root live on one journaled
# ext4 loop mount made for the run (../shared/design/HOST-NOTES.md: the
# host's root filesystem has no journal and discards freed blocks at once).
# The load average is printed with each figure: compare ratios.
# Peers: scripts/deps.sh --bench installs hyperfine and crun; docker.io
# comes with the test dependencies. A peer that is missing is left out
# (and said so).
#
# crun refuses the hybrid cgroup layout of these hosts (v1 controllers
# plus a unified v2 mount owning hugetlb only). When the unified mount
# owns hugetlb, the bench moves hugetlb to a v1 mount of its own
# (/sys/fs/cgroup/hugetlb) for the run, says so, and moves it back at exit
# (unmounting the v1 hierarchy, once the empty groups crun and dockerd
# made there are gone, gives the controller back to v2; checked).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
KILN=${KILN:-$src/${1:-build}/kiln}
[ "$(id -u)" = 0 ] || { echo "run_bench: needs root" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "run_bench: scripts/deps.sh --bench (hyperfine)" >&2; exit 1; }
W=$(mktemp -d /tmp/kiln-runbench.XXXXXX)
M="$W/m" # the loop mount
export KILN_ROOT="$M/root"
HUGETLB_MOVED=0
DPID=
D=
cleanup() {
	set +e # every step runs, whatever failed before
	"$KILN" rm -f $("$KILN" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	if [ -n "$DPID" ]; then
		/usr/bin/docker rm -f $(/usr/bin/docker ps -aq 2>/dev/null) >/dev/null 2>&1 || true
		kill -TERM "$DPID" 2>/dev/null || true
		for _ in $(seq 60); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.25; done
		kill -KILL "$DPID" 2>/dev/null || true
		awk -v d="$D" -v m="$M/docker" 'index($5, d) == 1 || index($5, m) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	fi
	[ -n "$D" ] && rm -rf "$D"
	if mountpoint -q "$M"; then
		# detached kiln-rm processes may still be deleting under it
		for _ in $(seq 40); do umount "$M" 2>/dev/null && break; sleep 0.25; done
		mountpoint -q "$M" && umount -l "$M"
	fi
	if [ "$HUGETLB_MOVED" = 1 ]; then
		# the groups crun and dockerd made there (empty now) keep the v1
		# hierarchy, and hugetlb with it, alive after the umount; a removed
		# group lingers a moment (the umount must come after it is gone,
		# else the hierarchy survives: then mount and umount it again)
		find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
		sleep 1
		umount /sys/fs/cgroup/hugetlb
		for attempt in 1 2 3; do
			for _ in $(seq 20); do
				grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && break 2
				sleep 0.25
			done
			# groups whose last task left after the first pass (dockerd's
			# "docker" outlived its teardown once) are removed on a retry
			mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb &&
				find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
			sleep 1
			umount /sys/fs/cgroup/hugetlb
		done
		rmdir /sys/fs/cgroup/hugetlb
		if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; then
			echo "run_bench: hugetlb is back on the unified mount"
		else
			echo "run_bench: WARNING: hugetlb is still on a v1 hierarchy (see /proc/cgroups): mount -t cgroup -o hugetlb cgroup DIR, remove its empty groups, umount DIR"
		fi
	fi
	rm -rf "$W"
}
trap cleanup EXIT

truncate -s 4G "$W/img"
mkfs.ext4 -q -F "$W/img"
mkdir "$M"
mount -o loop "$W/img" "$M"
KILN_TEST_TMP="$W" KILN="$KILN" "$src/testdata/make-busybox.sh" --import "$W/bb.tar" >/dev/null
mkdir -p "$M/bundle/rootfs"
tar -xf "$W/bb.tar" -C "$M/bundle/rootfs"
(cd "$M/bundle" && runc spec)
# the default spec runs `sh` on a terminal: /bin/true without one
python3 - "$M/bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
EOF

# --- crun on a hybrid host -------------------------------------------------------
if command -v crun >/dev/null && [ -f /sys/fs/cgroup/unified/cgroup.controllers ] &&
	grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && [ ! -e /sys/fs/cgroup/hugetlb ]; then
	echo "run_bench: moving hugetlb from the unified (v2) mount to a v1 mount at /sys/fs/cgroup/hugetlb so that crun accepts this host; moved back at exit"
	mkdir /sys/fs/cgroup/hugetlb
	if mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb; then
		HUGETLB_MOVED=1
	else
		rmdir /sys/fs/cgroup/hugetlb
		echo "run_bench: could not move hugetlb: crun's row will fail"
	fi
fi

# --- a private dockerd ----------------------------------------------------------------
DOCKERD=$(command -v /usr/bin/dockerd /usr/sbin/dockerd 2>/dev/null | head -1 || true)
if [ -n "$DOCKERD" ] && [ -x /usr/bin/docker ]; then
	D=$(mktemp -d /tmp/kiln-rb-dk.XXXXXX) # sun_path is short: not under $W
	printf '{"deprecated-key-path": "%s/key.json"}\n' "$D" >"$D/daemon.json"
	unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0755 kiln-bench-run /run && exec "$0" "$@"' \
		"$DOCKERD" --config-file "$D/daemon.json" --data-root "$M/docker" --exec-root "$D/x" \
		--pidfile "$D/pid" -H "unix://$D/sock" --iptables=false --ip6tables=false --bridge=none \
		--storage-driver=overlay2 >"$D/log" 2>&1 &
	DPID=$!
	export DOCKER_HOST="unix://$D/sock" DOCKER_CONFIG="$D/cfg"
	for _ in $(seq 120); do /usr/bin/docker version >/dev/null 2>&1 && break; sleep 0.5; done
	if /usr/bin/docker import -c 'CMD ["sh"]' "$W/bb.tar" busybox:latest >/dev/null 2>&1; then
		echo "run_bench: private dockerd $(/usr/bin/docker version -f '{{.Server.Version}}') (pid $DPID)"
	else
		echo "run_bench: the private dockerd did not come up: docker is left out"
		kill "$DPID"; DPID=
	fi
fi

load() { echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared: compare ratios)"; }
ratios() { # JSON: the first row (kiln) against every other
	python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]
for x in r:
    print("  %-8s mean %7.1f ms  median %7.1f ms  user+sys %6.1f ms" % (
        x["command"], x["mean"] * 1e3, x["median"] * 1e3, (x["user"] + x["system"]) * 1e3))
for x in r[1:]:
    print("  %s/%s = %.2f (means), %.2f (medians)" % (base["command"], x["command"],
        base["mean"] / x["mean"], base["median"] / x["median"]))
EOF
}

echo "== start and remove: run --rm /bin/true"
cmds=(-n kiln "$KILN run --rm --network none busybox /bin/true")
command -v crun >/dev/null && cmds+=(-n crun "crun run --bundle $M/bundle kiln-bench-crun")
command -v runc >/dev/null && cmds+=(-n runc "runc run --bundle $M/bundle kiln-bench-runc")
[ -n "$DPID" ] && cmds+=(-n docker "/usr/bin/docker run --rm --network none busybox /bin/true")
hyperfine -N --warmup 3 --runs 20 -i --export-json "$W/run.json" "${cmds[@]}"
ratios "$W/run.json"
load

echo "== run -d latency (until the command runs)"
cmds=(-n kiln "$KILN run -d --network none busybox sleep 600")
[ -n "$DPID" ] && cmds+=(-n docker "/usr/bin/docker run -d --network none busybox sleep 600")
hyperfine -N --warmup 2 --runs 20 --export-json "$W/rund.json" "${cmds[@]}"
ratios "$W/rund.json"
load
mon=$(ps -o ppid= -p "$("$KILN" container inspect -f '{{.State.Pid}}' "$("$KILN" ps -lq)")" | tr -d ' ')
echo "monitor (pid $mon): $(grep VmRSS "/proc/$mon/status")"
"$KILN" rm -f $("$KILN" ps -aq) >/dev/null
[ -n "$DPID" ] && /usr/bin/docker rm -f $(/usr/bin/docker ps -aq) >/dev/null

echo "== ps -a with 200 containers"
for i in $(seq 200); do "$KILN" create --network none busybox true >/dev/null; done
[ -n "$DPID" ] && for i in $(seq 200); do /usr/bin/docker create --network none busybox true >/dev/null; done
cmds=(-n kiln "$KILN ps -a")
[ -n "$DPID" ] && cmds+=(-n docker "/usr/bin/docker ps -a")
hyperfine -N --warmup 2 --runs 20 --export-json "$W/ps.json" "${cmds[@]}"
ratios "$W/ps.json"
load
