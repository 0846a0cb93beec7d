#!/usr/bin/env bash
# An --rm container whose remover died (its monitor or foreground kiln
# killed; a host crash is the same: no process left, the dir with its upper
# and work dirs and the `volatile` overlay's work/incompat/volatile mark) is
# removed when kiln next sees it, as docker's daemon removes such containers
# when it starts: never listed as exited, never started again over an upper
# dir that was not synced. A created --rm container that never ran stays.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
gone() { ! kill -0 "$1" 2>/dev/null; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# under a monitor: kill -9 the monitor, the container dies with it
run_ok "run -d --rm" kiln run -d --rm --name v1 busybox sleep 100
id=$OUT
dir="$ROOT/containers/$id"
mon=$(field "$dir/state.json" monitor_pid)
init=$("$KILN" inspect -f '{{.State.Pid}}' v1)
kill -KILL "$mon"
wait_for 20 gone "$init" || not_ok "the container died with its monitor"
if [ -d "$dir/work/work/incompat/volatile" ]; then ok "its dir is left with the volatile mark"
else not_ok "no volatile mark left (nothing to check)"; fi
expect_eq "ps -a does not list it" "$("$KILN" ps -aq --filter name=v1)" ""
if [ -e "$dir" ]; then not_ok "its dir is still there"; else ok "its dir is removed"; fi
run_fail "start: no such container" 1 kiln start v1
expect_contains "... docker's message" "$OUT" "No such container: v1"

# a foreground --rm run: kill -9 that kiln
"$KILN" run --rm --name v2 busybox sleep 100 >/dev/null 2>&1 &
fg=$!
wait_for 20 sh -c "[ \"\$('$KILN' inspect -f '{{.State.Status}}' v2 2>/dev/null)\" = running ]" || not_ok "v2 runs"
id=$("$KILN" inspect -f '{{.Id}}' v2)
init=$("$KILN" inspect -f '{{.State.Pid}}' v2)
kill -KILL "$fg"
wait "$fg" 2>/dev/null
wait_for 20 gone "$init" || not_ok "the container died with its kiln"
run_fail "start -a of it: no such container" 1 kiln start -a v2
expect_contains "... docker's message" "$OUT" "No such container: v2"
if [ -e "$ROOT/containers/$id" ]; then not_ok "its dir is still there"; else ok "its dir is removed"; fi
run_ok "system prune has nothing of it" kiln system prune -f
