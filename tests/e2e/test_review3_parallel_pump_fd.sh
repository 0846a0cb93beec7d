#!/usr/bin/env bash
# Review 3 (issue 12, "stages that do not depend on each other build in
# parallel"): a RUN step of stage a whose command has ended stays open
# until a RUN of stage b, started after it, ends too. Each RUN's output
# reader is a forked kiln process (builder/step_run.c run: fork, no exec),
# and a fork keeps every fd of the parent, O_CLOEXEC or not: stage b's
# reader holds the write end of stage a's output pipe, so stage a's reader
# sees no EOF (and stage a no next step) until b's RUN and reader end.
# Seen by hand: a's `sleep 2` done at 2.06 s, its step DONE at 6.1 s when
# b's `sleep 6` ended; a stage of three such RUNs beside b took 10.6 s
# instead of 6. Worse, when both pipes exist before either reader is
# forked, each reader holds the other's write end and both wait for an
# EOF forever: `kiln build` hung for 13 minutes (ASan build, both
# containers gone, the parent in waitpid, both readers in pipe_read),
# until killed. Hence the timeout below.
# The test's stage a runs a 4 s step and then a second one; stage b waits
# half a second (so that its long RUN starts while a's first step runs:
# whichever stage the scheduler starts first) and then runs 20 s. The
# second step of a must print before b's long RUN ends.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
busybox_base "build containers need root"

C="$T/ctx"
mkdir -p "$C"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox AS a
RUN sleep 4; echo a-first
RUN echo a-second-ran
FROM busybox AS b
RUN sleep 0.5
RUN echo b-started; sleep 20; echo b-done
FROM busybox
COPY --from=a /bin/busybox /a
COPY --from=b /bin/busybox /b
EOF
# the base's snapshot first, so that neither stage waits to unpack it
printf 'FROM busybox\nRUN true\n' | kiln build -q -f - "$C" >/dev/null ||
	not_ok "warm-up build"
run_ok "the two-stage build ends (90 s bound; it needs about 21)" timeout -s TERM 90 "$KILN" build --no-cache --network none --progress plain "$C"
order=$(printf '%s\n' "$OUT" | grep -E '^#[0-9]+ [0-9.]+ (a-second-ran|b-done)$' | awk '{print $3}' | tr '\n' ' ')
expect_eq "stage a's second RUN runs while stage b's RUN still runs" "$order" "a-second-ran b-done "
