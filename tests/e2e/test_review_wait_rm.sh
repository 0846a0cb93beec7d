#!/usr/bin/env bash
# Review finding: `kiln wait` on a --rm container. docker 20.10 prints the
# container's exit code (the wait is on the container's state, the removal
# comes after): `docker run -d --rm busybox sh -c 'sleep 1; exit 3'` then
# `docker wait` prints 3. kiln polls the state and loses the race with the
# removal: "No such container", or worse, "0" (the state read while the
# record's directory is being deleted: status no longer running, exit code
# unset), a success for a container that failed.
. "$(dirname "$0")/lib.sh"
busybox_base "containers need root"

# Each container ends once the wait has announced itself (ending after a
# fixed second, it could be gone under load before the wait looked).
mkdir -p "$T/go"
ends_on() { echo "while [ ! -e /go/$1 ]; do sleep 0.05; done; exit 3"; }
# waited NAME: a wait on NAME has announced itself
waited() { [ -n "$(ls "$ROOT/containers/$(kiln inspect -f '{{.Id}}' "$1" 2>/dev/null)/waiters" 2>/dev/null)" ]; }
# wait_code NAME: the wait's exit code and output, once it waited
wait_code() {
	kiln wait "$1" >"$T/wait.out" 2>&1 &
	local w=$!
	for _ in $(seq 1200); do waited "$1" && break; kill -0 $w 2>/dev/null || break; sleep 0.05; done
	touch "$T/go/$1"
	wait $w
	echo "$?:$(cat "$T/wait.out")"
}

for n in 1 2 3; do
	kiln run -d --rm --network none --name wr$n -v "$T/go:/go" busybox sh -c "$(ends_on wr$n)" >/dev/null
	expect_eq "wait on a detached --rm container ($n): its exit code" "$(wait_code wr$n)" "0:3"
done

"$KILN" run --rm --network none --name wf -v "$T/go:/go" busybox sh -c "$(ends_on wf)" >/dev/null 2>&1 &
fg=$!
at_exit "kill $fg 2>/dev/null"
# running, not just created (a wait on a created container returns 0 at
# once, as docker's: the record exists a moment before its start)
for _ in $(seq 1200); do [ "$(kiln inspect -f '{{.State.Running}}' wf 2>/dev/null)" = true ] && break; sleep 0.05; done
expect_eq "wait on a foreground --rm container: its exit code" "$(wait_code wf)" "0:3"
wait $fg
expect_eq "the foreground run returned 3" "$?" 3
