#!/usr/bin/env bash
# Review 5: what `kiln build` prints when it fails before any step.
# - `-f - -` is a usage error that docker's CLI reports before the build
#   starts (DOCKER_BUILDKIT=1 docker build 20.10: "invalid argument: can't
#   use stdin for both build context and dockerfile", exit 1, nothing else
#   printed); kiln printed "#1 [internal] load build definition from
#   Dockerfile" first, a vertex it never finished.
# - a Dockerfile that cannot be read or parsed left vertex #1 started and
#   never finished: no "#1 DONE"/"#1 ERROR" in plain, and in --progress=json
#   a "start" event with no end event (BuildKit ends the vertex, DONE, and
#   then fails the solve). Every started vertex must end.
# Nothing here runs a container: no root, no busybox.
. "$(dirname "$0")/lib.sh"
C="$T/ctx"
mkdir -p "$C"

run_fail "-f - with context -: exit 1 as docker" 1 sh -c "'$KILN' build --progress=plain -f - - </dev/null"
expect_contains "says why" "$OUT" "cannot both come from stdin"
expect_not_contains "before any progress, as docker's CLI" "$OUT" "#1 "

# every vertex a json stream starts ends (done, cached, error or canceled)
unended() {
	python3 -c '
import json, sys
open_ = {}
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e["event"] == "start":
        open_[e["vertex"]] = e["name"]
    elif e["event"] in ("done", "cached", "error", "canceled"):
        open_.pop(e["vertex"], None)
print(" ".join("#%d %s" % kv for kv in sorted(open_.items())) or "none")'
}
printf 'FROM scratch\nBOGUS x\n' >"$C/Dockerfile"
run_fail "a parse error" 1 kiln build --progress=json "$C"
expect_contains "names the line" "$OUT" "Dockerfile:2: unknown instruction: BOGUS"
expect_eq "json: every started vertex ends" "$(printf '%s\n' "$OUT" | unended)" none
run_fail "a parse error, plain" 1 kiln build --progress=plain "$C"
if printf '%s\n' "$OUT" | grep -Eq '^#1 (DONE|ERROR)'; then ok "plain: vertex #1 ends (DONE or ERROR)"
else not_ok "plain: vertex #1 ends (DONE or ERROR)"; printf '%s\n' "$OUT" | sed 's/^/#   /'; fi

run_fail "a -f that is not there" 1 kiln build --progress=json -f "$T/nosuch" "$C"
expect_contains "names it" "$OUT" "nosuch"
expect_eq "json: every started vertex ends" "$(printf '%s\n' "$OUT" | unended)" none
expect_eq "nothing stored" "$(kiln images -aq | wc -l)" 0
