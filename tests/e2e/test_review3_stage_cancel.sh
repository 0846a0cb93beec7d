#!/usr/bin/env bash
# Review 3 (issue 12, parallel stages and "a failing RUN"): when a step of
# one stage fails while an independent stage's RUN is still running,
# BuildKit cancels the other step at once (`#7 CANCELED`) and the build
# fails in about a second (DOCKER_BUILDKIT=1 docker build 20.10, checked
# by hand with this Dockerfile). kiln reports the error but then waits for
# the sibling RUN to finish on its own: here `sleep 300`, so the build
# only ends when something kills it.
# The test gives the build 60 s (a bound, not a timing claim: the
# sibling would need 300 s) and wants exit 1 from kiln itself, with no
# process of the sibling step left.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
busybox_base "build containers need root"
MARK="kiln-review3-sibling-$RANDOM$RANDOM"

C="$T/ctx"
mkdir -p "$C"
cat >"$C/Dockerfile" <<EOF
FROM busybox AS a
RUN sleep 1; exit 4
FROM busybox AS b
RUN ["sh", "-c", "echo b-started; sleep 300", "$MARK"]
FROM busybox
COPY --from=a /etc/hostname /a
COPY --from=b /etc/hostname /b
EOF
at_exit 'p=$(pgrep -f "$MARK"); [ -n "$p" ] && kill -9 $p'
run_fail "the build fails on stage a's error without waiting for stage b" 1 \
	timeout -s TERM 60 "$KILN" build --no-cache --network none --progress plain "$C"
expect_contains "stage a's exit code is reported" "$OUT" "exit code: 4"
left=
for _ in $(seq 50); do
	left=$(pgrep -f "$MARK")
	[ -z "$left" ] && break
	sleep 0.1
done
expect_eq "no process of stage b's RUN is left" "$left" ""
