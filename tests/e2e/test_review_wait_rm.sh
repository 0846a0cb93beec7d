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

for n in 1 2 3; do
	kiln run -d --rm --network none --name wr$n busybox sh -c 'sleep 1; exit 3' >/dev/null
	OUT=$(kiln wait wr$n 2>&1)
	rc=$?
	expect_eq "wait on a detached --rm container ($n): its exit code" "$rc:$OUT" "0:3"
done

"$KILN" run --rm --network none --name wf busybox sh -c 'sleep 1; exit 3' >/dev/null 2>&1 &
fg=$!
at_exit "kill $fg 2>/dev/null"
for _ in $(seq 100); do kiln inspect wf >/dev/null 2>&1 && break; sleep 0.05; done
OUT=$(kiln wait wf 2>&1)
rc=$?
expect_eq "wait on a foreground --rm container: its exit code" "$rc:$OUT" "0:3"
wait $fg
expect_eq "the foreground run returned 3" "$?" 3
