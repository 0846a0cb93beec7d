#!/usr/bin/env bash
# Review finding: `kiln builder prune` deletes a RUN --mount=type=cache
# directory that a running build has mounted (cache/prune.c removes the
# mount's tree without taking its lock, and nothing else keeps a prune
# from running beside a build): the step's own files vanish under it.
# BuildKit does not prune a cache mount that is in use.
. "$(dirname "$0")/lib.sh"
busybox_base "RUN needs root"
C="$T/ctx"
mkdir -p "$C"
# the RUN writes /c/f, then waits (10 s at most) for the test's /c/done,
# or for /c/f to vanish
cat >"$C/Dockerfile" <<'DF'
FROM busybox
RUN --mount=type=cache,target=/c,id=review-prune sh -c 'echo data >/c/f; i=0; while [ ! -e /c/done ] && [ -e /c/f ] && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done; echo saw $(cat /c/f 2>&1)'
DF
"$KILN" build --progress plain --no-cache --network none "$C" >"$T/out" 2>&1 &
pid=$!
at_exit "kill $pid 2>/dev/null"
f=
for _ in $(seq 1 200); do
	f=$(ls "$ROOT"/cache/mounts/*/f 2>/dev/null | head -1)
	[ -n "$f" ] && break
	sleep 0.05
done
if [ -n "$f" ]; then ok "the RUN wrote into its cache mount"; else not_ok "the RUN never wrote its cache file"; fi
run_ok "builder prune -af while the RUN runs" kiln builder prune -af
touch "$(dirname "$f")/done" 2>/dev/null
wait $pid
expect_eq "the build succeeds" "$?" 0
expect_contains "the RUN still sees its own file in its cache mount" "$(cat "$T/out")" "saw data"
