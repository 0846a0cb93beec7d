# Sourced by e2e tests (after lib.sh) that need a private dockerd: its own
# --data-root/--exec-root/socket under $T (or a short /tmp dir), its own
# containerd, no iptables, no bridge, a fresh /run in a private mount
# namespace; stopped by PID at exit and nothing left mounted. A system
# dockerd and /var/lib/docker are never used. Skips the test when dockerd
# or /usr/bin/docker is missing. Defines dk (the CLI, bounded by a timeout).
DOCKERD=$(command -v /usr/bin/dockerd /usr/sbin/dockerd | head -1)
[ -n "$DOCKERD" ] || skip_all "dockerd not installed (apt-get install docker.io)"
[ -x /usr/bin/docker ] || skip_all "/usr/bin/docker (docker.io CLI) not installed"
[ "$(id -u)" = 0 ] || skip_all "dockerd needs root"
command -v unshare >/dev/null || skip_all "unshare (util-linux) not installed"
D="$T/d"
if [ ${#D} -gt 50 ]; then # socket paths must fit in sun_path
	D=$(mktemp -d /tmp/kiln-dk.XXXXXX)
	at_exit "rm -rf '$D'"
fi
mkdir -p "$D/tmp"
export DOCKER_HOST="unix://$D/sock" DOCKER_CONFIG="$D/cfg"
dk() { timeout 300 /usr/bin/docker "$@"; }
printf '{"deprecated-key-path": "%s/key.json"}\n' "$D" >"$D/daemon.json"
TMPDIR="$D/tmp" unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=0755 kiln-e2e-run /run && exec "$0" "$@"' \
	"$DOCKERD" --config-file "$D/daemon.json" \
	--data-root "$D/data" --exec-root "$D/x" --pidfile "$D/pid" -H "unix://$D/sock" \
	--iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 >"$D/log" 2>&1 &
DPID=$!
CPID=
stop_docker() { # TERM, bounded wait, then KILL; by PID only
	local p
	[ -n "$CPID" ] || CPID=$(cat "$D/x/containerd/containerd.pid" 2>/dev/null)
	for p in $DPID $CPID; do kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 120); do
		kill -0 "$DPID" 2>/dev/null || { [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; } || break
		sleep 0.25
	done
	for p in $DPID $CPID; do kill -KILL "$p" 2>/dev/null; done
	wait "$DPID" 2>/dev/null
	awk -v d="$D" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$D/data" "$D/x"
}
at_exit stop_docker
_ready=0
for _ in $(seq 120); do
	kill -0 "$DPID" 2>/dev/null || break
	if dk version --format '{{.Server.Version}}' >"$D/version" 2>/dev/null; then _ready=1; break; fi
	sleep 0.5
done
if [ "$_ready" != 1 ]; then
	sed 's/^/#   /' "$D/log" | tail -20
	skip_all "private dockerd did not come up (exited or not ready within 60 s)"
fi
CPID=$(cat "$D/x/containerd/containerd.pid" 2>/dev/null)
