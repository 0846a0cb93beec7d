#!/usr/bin/env bash
# wait on an --rm container prints its exit code, as docker 20.10's does,
# though the record goes as the container ends (a foreground --rm run
# renames it away without writing its end; a monitor removes it right
# after): each wait announces itself in the container's dir and the remover
# writes the code there first (rt_waiters_notify). Also rm -f under a wait.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
running() { [ "$("$KILN" inspect -f '{{.State.Status}}' "$1" 2>/dev/null)" = running ]; }
# waiting NAME N: N waits on NAME have announced themselves
waiting() { [ "$(ls "$ROOT/containers/$("$KILN" inspect -f '{{.Id}}' "$1" 2>/dev/null)/waiters" 2>/dev/null | wc -l)" = "$2" ]; }
mkdir -p "$T/go"

# a foreground --rm run, four waiters; it ends once they all wait (ending
# after a fixed second, it could be gone before a waiter under load looked)
"$KILN" run --rm --name w1 -v "$T/go:/go" busybox sh -c 'while [ ! -e /go/w1 ]; do sleep 0.05; done; exit 4' >/dev/null 2>&1 &
fg=$!
wait_for 20 running w1 || not_ok "w1 runs"
# four waiters: a waiter reading the record while the run renames it away
# took it for a "created" container that had ended with 0 (seen in CI)
for w in a b c d; do "$KILN" wait w1 >"$T/w1$w" 2>&1 & eval "p$w=\$!"; done
wait_for 60 waiting w1 4 || not_ok "four waiters announce themselves"
touch "$T/go/w1"
codes=
for w in a b c d; do eval "wait \$p$w"; codes="$codes$?"; done
expect_eq "wait on a foreground --rm container exits 0, every waiter" "$codes" 0000
expect_eq "... all print its exit code" "$(cat "$T/w1a" "$T/w1b" "$T/w1c" "$T/w1d" | tr '\n' ' ')" "4 4 4 4 "
wait "$fg"
expect_eq "the run returns it" "$?" 4
run_fail "the container is gone afterwards" 1 kiln wait w1
expect_contains "... docker's message" "$OUT" "No such container: w1"

# a detached --rm container (its monitor removes it)
run_ok "run -d --rm" kiln run -d --rm --name w2 -v "$T/go:/go" busybox sh -c 'while [ ! -e /go/w2 ]; do sleep 0.05; done; exit 6'
"$KILN" wait w2 >"$T/w2" 2>&1 &
a=$!
wait_for 60 waiting w2 1 || not_ok "the waiter announces itself"
touch "$T/go/w2"
wait "$a"
expect_eq "wait on it exits 0" "$?" 0
expect_eq "... prints its exit code" "$(cat "$T/w2")" 6

# rm -f of a running container under a wait: docker's 137
run_ok "run -d" kiln run -d --name w3 busybox sleep 100
"$KILN" wait w3 >"$T/w3" 2>&1 &
a=$!
wait_for 20 test -d "$ROOT/containers/$("$KILN" inspect -f '{{.Id}}' w3)/waiters" ||
	not_ok "the waiter announces itself"
run_ok "rm -f" kiln rm -f w3
wait "$a"
expect_eq "the wait ends with 0" "$?" 0
expect_eq "... and prints 137" "$(cat "$T/w3")" 137
# a plain container's wait leaves nothing behind in its dir
run_ok "run -d" kiln run -d --name w4 busybox sh -c 'sleep 1; exit 2'
run_ok "wait" kiln wait w4
expect_eq "... prints 2" "$OUT" 2
id=$("$KILN" inspect -f '{{.Id}}' w4)
if [ -e "$ROOT/containers/$id/waiters" ]; then not_ok "a waiters dir is left"; else ok "no waiters dir left"; fi
