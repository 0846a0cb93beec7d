#!/usr/bin/env bash
# A RUN --mount=type=secret never puts the secret's bytes under a host
# path, so a SIGKILLed build leaves none behind: checked with the build
# stopped right after the secret is made (KILN_TEST_STOP=kiln-secrets) and
# killed there, and killed while the step reads it. The step sees the
# file as BuildKit gives it (0400 root, or uid/gid/mode).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
need_busybox
kiln import -c 'CMD ["sh"]' "$BB" busybox:latest >/dev/null || { not_ok "import busybox"; exit 1; }
pids=()
at_exit 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done'
SECRET="kiln-kill-secret-$RANDOM$RANDOM$RANDOM"
export KILN_TEST_SECRET="$SECRET" # --secret env=: no file of the test holds it
touch "$T/start"
nowhere() { # NAME: the value is in no file of /dev/shm, ROOT, the test dir, nor one /tmp got since the start
	local hits
	hits=$( (
		grep -rlF -- "$SECRET" /dev/shm "$ROOT" "$T" 2>/dev/null
		find /tmp -xdev -type f -newer "$T/start" -size -4M -print0 2>/dev/null |
			xargs -0 -r grep -lF -- "$SECRET" 2>/dev/null
	) | head -3)
	expect_eq "$1: the secret is in no host file" "$hits" ""
}
store_unmounted() { # until no process's mount namespace holds the store (5 s at most)
	for _ in $(seq 100); do
		grep -lsF "$ROOT" /proc/[0-9]*/mountinfo | grep -qv "/proc/$$/" || return 0
		sleep 0.05
	done
	return 1
}
mkdir -p "$T/c"
cat >"$T/c/Dockerfile" <<'EOF'
FROM busybox
RUN --mount=type=secret,id=tok --mount=type=secret,id=tok,target=/etc/tok,uid=1,gid=2,mode=0440 echo "seen: $(stat -c '%a %u %g %s' /run/secrets/tok) $(stat -c '%a %u %g' /etc/tok) $(cat /run/secrets/tok | wc -c)"; echo in-step; sleep 1000
EOF
start_build() { # [POINT]: a build of $T/c in the background ($pid), stopped at POINT when given
	KILN_TEST_STOP=${1:-} "$KILN" build --no-cache --progress plain --network none \
		--secret id=tok,env=KILN_TEST_SECRET -t sk "$T/c" >"$T/out" 2>&1 &
	pid=$!
	pids+=($pid)
}

# stopped right after the secret's memfd is made, then SIGKILLed
start_build kiln-secrets
stopped=
for _ in $(seq 200); do
	[ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && stopped=1 && break
	sleep 0.05
done
[ "$stopped" ] && ok "stopped once the secret is made" || not_ok "stopped once the secret is made"
nowhere "made, before the step runs"
kill -9 $pid
wait $pid 2>/dev/null
nowhere "SIGKILLed there"

# SIGKILLed while the step holds the secret
start_build
found=
for _ in $(seq 400); do grep -qE "^#[0-9]+ [0-9.]+ in-step" "$T/out" && found=1 && break; sleep 0.05; done
[ "$found" ] && ok "the step runs with the secret" || { not_ok "the step runs with the secret"; sed 's/^/#   /' "$T/out"; }
expect_contains "0400 root by default, uid/gid/mode when given, its bytes" "$(cat "$T/out")" \
	"seen: 400 0 0 ${#SECRET} 440 1 2 ${#SECRET}"
expect_not_contains "never printed" "$(cat "$T/out")" "$SECRET"
nowhere "while the step runs"
kill -9 $pid
wait $pid 2>/dev/null
store_unmounted && ok "SIGKILL: the step's container is gone" || not_ok "SIGKILL: the step's container is gone"
nowhere "SIGKILLed during the step"
run_ok "builder prune after the kills" kiln builder prune -f
nowhere "at the end"
