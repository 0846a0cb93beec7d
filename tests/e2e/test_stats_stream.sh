#!/usr/bin/env bash
# kiln stats without --no-stream: docker's live view, a frame a second,
# each starting with docker's clear-screen sequence, until interrupted;
# without names and -a it ends once no container runs.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"

"$KILN" run -d --name st --network none busybox sleep 1000 >/dev/null
timeout -s INT 4 "$KILN" stats st >"$T/stats.out"
rc=$?
expect_eq "streams until interrupted" "$rc" "124"
frames=$(grep -c $'\033\[2J\033\[H' "$T/stats.out")
[ "$frames" -ge 2 ] && ok "several frames ($frames), each clearing the screen" || not_ok "frames: $frames"
expect_eq "every frame has docker's header" "$(grep -c 'CONTAINER ID   NAME' "$T/stats.out")" "$frames"
expect_contains "the container's row" "$(cat "$T/stats.out")" "st "
"$KILN" rm -f st >/dev/null
run_ok "with nothing running, stats ends by itself" timeout 10 "$KILN" stats
expect_contains "after one empty frame" "$OUT" "CONTAINER ID"
