#!/usr/bin/env bash
# docker pulls and runs what kiln pushed to a local docker-registry, and
# kiln pulls what docker pushed: a private dockerd (started as in
# test_docker_interop.sh: own roots, socket and /run, no iptables, no
# bridge; stopped by PID) and docker-registry on 127.0.0.1, which docker
# treats as insecure (plain HTTP) by default.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
DOCKERD=$(command -v /usr/bin/dockerd /usr/sbin/dockerd | head -1)
[ -n "$DOCKERD" ] || skip_all "dockerd not installed (apt-get install docker.io)"
[ -x /usr/bin/docker ] || skip_all "/usr/bin/docker (docker.io CLI) not installed"
[ "$(id -u)" = 0 ] || skip_all "dockerd needs root"
command -v unshare >/dev/null || skip_all "unshare (util-linux) not installed"
BB="$T/busybox.tar"
KILN_TEST_TMP="$T" "$KILN_SRC/testdata/make-busybox.sh" "$BB" >/dev/null 2>&1 ||
	skip_all "no static busybox (apt-get install busybox-static)"
D="$T/d"
if [ ${#D} -gt 50 ]; then
	D=$(mktemp -d /tmp/kiln-dk.XXXXXX)
	at_exit "rm -rf '$D'"
fi
mkdir -p "$D/tmp"
export DOCKER_HOST="unix://$D/sock" DOCKER_CONFIG="$D/cfg"
dk() { timeout 120 /usr/bin/docker "$@"; }
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
ready=0
for _ in $(seq 120); do
	kill -0 "$DPID" 2>/dev/null || break
	if dk version >/dev/null 2>&1; then ready=1; break; fi
	sleep 0.5
done
[ "$ready" = 1 ] || { sed 's/^/#   /' "$D/log" | tail -20; skip_all "private dockerd did not come up"; }
CPID=$(cat "$D/x/containerd/containerd.pid" 2>/dev/null)
ok "private dockerd is up"

start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a
run_ok "import busybox" kiln import "$BB" "$R/bb:1"
run_ok "kiln push" kiln push "$R/bb:1"
DIG=$(printf '%s\n' "$OUT" | sed -n 's/^1: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
run_ok "docker pulls what kiln pushed" dk pull "$R/bb:1"
expect_contains "docker sees kiln's digest" "$OUT" "Digest: $DIG"
expect_eq "docker has kiln's image ID" "$(dk image inspect -f '{{.Id}}' "$R/bb:1")" \
	"$(kiln inspect -f '{{.Id}}' "$R/bb:1")"
run_ok "docker runs it" dk run --rm --network none "$R/bb:1" echo hi from kiln
expect_eq "the container ran" "$OUT" "hi from kiln"

DIFF=$(kiln inspect -f '{{index .RootFS.Layers 0}}' "$R/bb:1")
run_ok "kiln push again" kiln push "$R/bb:1"
expect_contains "kiln's push lines name the layer by diffID" "$OUT" "${DIFF:7:12}: Layer already exists"
run_ok "docker tag" dk tag "$R/bb:1" "$R/bb:fromdocker"
run_ok "docker push" dk push "$R/bb:fromdocker"
expect_contains "docker's push lines name the layer by diffID too" "$OUT" "${DIFF:7:12}: Layer already exists"
DDIG=$(printf '%s\n' "$OUT" | sed -n 's/^fromdocker: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
run_ok "kiln pulls what docker pushed" kiln --root "$T/r2" pull "$R/bb:fromdocker"
expect_contains "kiln sees docker's digest" "$OUT" "Digest: $DDIG"
expect_eq "same image ID through docker" "$(kiln --root "$T/r2" inspect -f '{{.Id}}' "$R/bb:fromdocker")" \
	"$(kiln inspect -f '{{.Id}}' "$R/bb:1")"
run_ok "kiln tags docker's image elsewhere" kiln --root "$T/r2" tag "$R/bb:fromdocker" "$R/again:1"
run_ok "kiln pushes docker's image on" kiln --root "$T/r2" push "$R/again:1"
expect_contains "its manifest goes up verbatim: docker's digest" "$OUT" "1: digest: $DDIG"
