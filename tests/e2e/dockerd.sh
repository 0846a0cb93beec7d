# Sourced by e2e tests that compare with docker: starts a private dockerd
# (own data/exec root, socket and /run under $T, own containerd, no
# iptables, no bridge) and defines dk; skips the test when it cannot.
# Stopped by PID at exit. (The start block of test_docker_interop.sh.)
DOCKERD=$(command -v /usr/bin/dockerd /usr/sbin/dockerd | head -1)
if [ -z "$DOCKERD" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "# installing docker.io" >&2
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends docker.io >/dev/null 2>&1
	DOCKERD=$(command -v /usr/bin/dockerd /usr/sbin/dockerd | head -1)
fi
[ -n "$DOCKERD" ] || skip_all "dockerd not installed (apt-get install docker.io)"
[ -x /usr/bin/docker ] || skip_all "/usr/bin/docker (docker.io CLI) not installed"
[ "$(id -u)" = 0 ] || skip_all "dockerd needs root"

# dockerd's socket paths must fit in sun_path (108 bytes)
D="$T/d"
if [ ${#D} -gt 50 ]; then
	D=$(mktemp -d /tmp/kiln-dk.XXXXXX)
	at_exit "rm -rf '$D'"
	own_dir "$D" # the leftover check looks for processes naming it too
fi
mkdir -p "$D"
export DOCKER_HOST="unix://$D/sock" DOCKER_CONFIG="$D/cfg"
dk() { timeout 300 /usr/bin/docker "$@"; }
# dk_from_kiln IMAGE: kiln's IMAGE into the private dockerd (kiln save, docker load)
dk_from_kiln() { "$KILN" save -o "$T/dk-from-kiln.tar" "$1" && dk load -i "$T/dk-from-kiln.tar" >/dev/null; }

# dockerd and everything it starts run in a private mount namespace with a
# fresh /run: a system containerd socket stays invisible (dockerd starts its
# own), and /run/docker and containerd's shim sockets vanish with it. Its
# daemon.json and key.json are ours too, never /etc/docker's.
command -v unshare >/dev/null || skip_all "unshare (util-linux) not installed"
printf '{"deprecated-key-path": "%s/key.json"}\n' "$D" >"$D/daemon.json"
# TMPDIR keeps the daemons' own files (containerd's stack dumps) under $D.
mkdir -p "$D/tmp"
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
	# a container still running (a check failed before it was removed)
	# outlives both in its containerd-shim: end the shims whose command
	# line names our containerd (its socket is under $D) and what they run
	local shims=() kids
	for p in $(procs_naming "$D"); do
		case "$(cat "/proc/$p/comm" 2>/dev/null)" in containerd-shim*) shims+=("$p") ;; esac
	done
	if [ ${#shims[@]} -gt 0 ]; then
		kids=$(descendants "${shims[@]}")
		kill -KILL $kids "${shims[@]}" 2>/dev/null
		for _ in $(seq 100); do
			[ -z "$(live $kids "${shims[@]}")" ] && break
			sleep 0.1
		done
	fi
	awk -v d="$D" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$D/data" "$D/x"
}
at_exit stop_docker

ready=0
for _ in $(seq 120); do
	kill -0 "$DPID" 2>/dev/null || break
	if dk version --format '{{.Server.Version}}' >"$D/version" 2>/dev/null; then ready=1; break; fi
	sleep 0.5
done
if [ "$ready" != 1 ]; then
	sed 's/^/#   /' "$D/log" | tail -20
	skip_all "private dockerd did not come up (exited or not ready within 60 s)"
fi
CPID=$(cat "$D/x/containerd/containerd.pid" 2>/dev/null)
ok "private dockerd $(cat "$D/version") is up (dockerd pid $DPID, containerd pid ${CPID:-?})"
expect_contains "dockerd runs its own containerd" "$(cat "$D/log")" "started new containerd process"
expect_contains "dockerd has its own /run" "$(grep ' /run ' "/proc/$DPID/mountinfo")" kiln-e2e-run
[ -n "$CPID" ] && expect_contains "containerd uses the private exec root" "$(tr '\0' ' ' <"/proc/$CPID/cmdline")" "$D/x/containerd"

