#!/usr/bin/env bash
# RUN --mount=type=cache dirs live in ROOT/cache/mounts/<name> beside a
# lock file <name>.lock (builder/run_mounts.c). A prune removes the lock
# together with its dir, under the lock, so `builder prune -af` and
# `system prune -af` leave no stale lock files; a lock whose dir is gone
# (a step killed before it made it) is swept too; builds that wait on a
# sharing=locked cache while prunes run still take turns.
. "$(dirname "$0")/lib.sh"
busybox_base "RUN needs root"
C="$T/ctx"
M="$ROOT/cache/mounts"
mkdir -p "$C"
cat >"$C/Dockerfile" <<'DF'
FROM busybox
RUN --mount=type=cache,target=/s,id=lk-shared echo s >/s/f
RUN --mount=type=cache,target=/l,id=lk-locked,sharing=locked echo l >/l/f
RUN --mount=type=cache,target=/p,id=lk-private,sharing=private echo p >/p/f
DF
count() { find "$M" -mindepth 1 -maxdepth 1 -name "$1" 2>/dev/null | wc -l; }

run_ok "a build with shared, locked and private cache mounts" \
	kiln build --progress plain --no-cache --network none "$C"
expect_eq "three cache dirs" "$(count '*[!k]' | tr -d ' ')" 3
expect_eq "three lock files beside them" "$(count '*.lock' | tr -d ' ')" 3
# what a step killed between taking its lock and making its dir leaves
touch "$M/0123456789abcdef0123456789abcdef.lock"
run_ok "builder prune -af" kiln builder prune -af
expect_eq "builder prune -af leaves nothing in cache/mounts" "$(ls -A "$M" 2>/dev/null)" ""

# Builds queue on one sharing=locked cache while prunes run beside them:
# each holder must be alone in it (a prune that removed the lock file a
# build was waiting on must not let that build and a newcomer in at once).
cat >"$C/Dockerfile.turns" <<'DF'
FROM busybox
RUN --mount=type=cache,target=/c,id=lk-turns,sharing=locked sh -c 'mkdir /c/in || echo OVER""LAP; sleep 0.2; rmdir /c/in'
DF
pids=()
for i in 1 2 3; do
	kiln build --progress plain --no-cache --network none -f "$C/Dockerfile.turns" "$C" >"$T/b$i" 2>&1 &
	pids+=($!)
	at_exit "kill ${pids[-1]} 2>/dev/null"
done
running() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
prunes=0 prune_fail=0
while running; do
	kiln builder prune -af >/dev/null 2>"$T/prune.err" || prune_fail=1
	prunes=$((prunes + 1))
done
rcs=
for i in "${!pids[@]}"; do wait "${pids[$i]}"; rcs="$rcs$?"; done
expect_eq "three builds on one locked cache, with $prunes prunes beside them, succeed" "$rcs" 000
expect_eq "no prune fails while they run" "$prune_fail" 0
expect_not_contains "each build is alone in the locked cache" "$(cat "$T"/b?)" "OVERLAP"
run_ok "builder prune -af afterwards" kiln builder prune -af
expect_eq "and nothing is left in cache/mounts" "$(ls -A "$M" 2>/dev/null)" ""

run_ok "the build again after the prunes" kiln build --progress plain --no-cache --network none "$C"
expect_eq "its cache dirs and locks are back" "$(count '*' | tr -d ' ')" 6
run_ok "system prune -af" kiln system prune -af
expect_eq "system prune -af leaves nothing in cache/mounts" "$(ls -A "$M" 2>/dev/null)" ""
