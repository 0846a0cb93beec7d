#!/usr/bin/env bash
# attach to a container whose `kiln run` is in the foreground without -t
# (no monitor: a thread of that kiln serves the attach socket, logrelay.c),
# from another process, as docker 20.10 allows: the attacher gets stdout
# and stderr apart from the moment it attaches and the exit code at the
# end; with -i its stdin reaches the container beside the run's own, and
# its end closes the container's (docker's StdinOnce); no escape keys
# without a terminal; Ctrl-C of an attach without --sig-proxy leaves the
# container running. The foreground kiln still prints everything and the
# log is complete.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
pids=()
stop_pids() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; return 0; }
at_exit stop_pids
mkdir -p "$T/sync"
logged() { "$KILN" logs "$1" 2>&1 | grep -q -- "$2"; }
has() { grep -q -- "$2" "$1" 2>/dev/null; }

# --- without -i: output and exit code -------------------------------------------
"$KILN" run --name fa -v "$T/sync:/sync" busybox sh -c \
	'i=0; while [ ! -e /sync/stop ]; do i=$((i+1)); echo line$i; echo err$i >&2; sleep 0.05; done; echo last; exit 3' \
	>"$T/fa.out" 2>"$T/fa.err" </dev/null &
fg=$!
pids+=($fg)
wait_for 20 logged fa line1 || not_ok "the foreground container runs"
"$KILN" attach fa >"$T/at.out" 2>"$T/at.err" </dev/null &
at=$!
pids+=($at)
if wait_for 20 has "$T/at.out" line && wait_for 20 has "$T/at.err" err; then
	ok "attach from another process gets stdout and stderr"
else
	not_ok "the attacher got no output"; sed 's/^/#   /' "$T/at.err" | head
fi
# Ctrl-C of an attach without --sig-proxy: the attach ends, the container runs on
set -m
"$KILN" attach --sig-proxy=false fa >/dev/null 2>&1 &
ns=$!
set +m
pids+=($ns)
sleep 0.5 # (not a timing assertion: lets it attach before the signal)
kill -INT "$ns"
wait "$ns"
expect_eq "attach --sig-proxy=false ends on SIGINT" "$?" 130
expect_eq "the container still runs" "$("$KILN" inspect -f '{{.State.Status}}' fa)" running
touch "$T/sync/stop"
wait "$at"
expect_eq "attach returns the container's exit code" "$?" 3
wait "$fg"
expect_eq "the foreground run returns it too" "$?" 3
expect_contains "the attacher got the last line" "$(cat "$T/at.out")" last
expect_not_contains "stderr stays apart" "$(cat "$T/at.out")" err
expect_eq "the foreground kiln printed every line" "$(head -1 "$T/fa.out"),$(tail -1 "$T/fa.out")" line1,last
n=$(grep -c . "$T/fa.out")
expect_eq "the log has every stdout line" "$("$KILN" logs fa 2>/dev/null | grep -c .)" "$n"
expect_eq "... and every stderr line" "$("$KILN" logs fa 2>&1 >/dev/null | grep -c .)" "$(grep -c . "$T/fa.err")"
id=$("$KILN" inspect -f '{{.Id}}' fa)
if [ -e "$ROOT/containers/$id/attach" ]; then not_ok "the attach socket is left"; else ok "the attach socket is gone"; fi
run_fail "attach to it now" 1 kiln attach fa
expect_contains "... docker's message" "$OUT" "You cannot attach to a stopped container"

# --- with -i: stdin from the attacher too, its end closes the container's -------
mkfifo "$T/in"
"$KILN" run -i --name fb busybox sh -c 'while read l; do echo got:$l; done; echo eof; exit 5' \
	<"$T/in" >"$T/fb.out" 2>&1 &
fg=$!
pids+=($fg)
exec 7>"$T/in"
echo one >&7
wait_for 20 logged fb got:one || not_ok "run -i reads the run's own stdin"
expect_eq "inspect: AttachStdin, StdinOnce" "$("$KILN" inspect -f '{{.Config.AttachStdin}} {{.Config.StdinOnce}}' fb)" "true true"
# ctrl-p ctrl-q are plain bytes without a terminal (docker's escape proxy is for -t)
OUT=$(printf '\020\021two\n' | timeout 20 "$KILN" attach fb 7>&- 2>&1)
expect_eq "attach -i returns the exit code once its stdin ended the container's" "$?" 5
expect_contains "the attacher's stdin reached the container" "$OUT" "two"
expect_contains "... and the container's end came back" "$OUT" eof
expect_not_contains "no escape sequence without a terminal" "$OUT" "escape sequence"
exec 7>&-
wait "$fg"
expect_eq "the foreground run -i returns 5" "$?" 5
expect_eq "the foreground kiln printed both inputs" "$(grep -c 'got:' "$T/fb.out")" 2
expect_eq "... and the log has them" "$("$KILN" logs fb 2>&1 | grep -c 'got:')" 2

# --- run --rm in the foreground: attachable and logged while it runs (docker) ----
rm -f "$T/sync/stop"
"$KILN" run --rm --name fc -v "$T/sync:/sync" busybox sh -c \
	'i=0; while [ ! -e /sync/stop ]; do i=$((i+1)); echo rm$i; sleep 0.05; done; echo gone; exit 6' \
	>"$T/fc.out" 2>&1 </dev/null &
fg=$!
pids+=($fg)
wait_for 20 logged fc rm1 && ok "run --rm: logs while it runs" || not_ok "run --rm: no log while it runs"
"$KILN" attach fc >"$T/atc.out" 2>&1 </dev/null &
at=$!
pids+=($at)
wait_for 20 has "$T/atc.out" rm || not_ok "run --rm: the attacher got no output"
touch "$T/sync/stop"
wait "$at"
expect_eq "attach to a run --rm returns its exit code" "$?" 6
expect_contains "... and got its last line" "$(cat "$T/atc.out")" gone
wait "$fg"
expect_eq "the foreground run --rm returns it too" "$?" 6
expect_eq "... printed every line" "$(head -1 "$T/fc.out"),$(tail -1 "$T/fc.out")" rm1,gone
wait_for 20 sh -c '! "$0" inspect fc >/dev/null 2>&1' "$KILN" && ok "... and is removed" ||
	not_ok "the --rm container is left"
