#!/usr/bin/env bash
# A `kiln rm` killed while it deletes the record it renamed into ROOT/tmp
# (a big upper dir takes a while) must not leave the container's GC root:
# nothing reaps a root whose container is gone, so the image's blobs and
# snapshots would stay for good (rmi + system prune -af reclaim nothing,
# system df shows 0B). The record leaves in one rename; its GC root and
# name can go right then, before the slow deletion of the moved tree
# (which a temp sweep finishes if we are killed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
pids=()
stop_pids() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; return 0; }
at_exit stop_pids

run_ok "run: a container that leaves 5000 files in its upper dir" kiln run --name big busybox \
	sh -c 'mkdir /d; i=0; while [ $i -lt 5000 ]; do : > /d/f$i; i=$((i+1)); done'
id=$("$KILN" inspect -f '{{.Id}}' big)
trash="$ROOT/tmp/kiln-rm-$id"
expect_eq "the container has a GC root" "$(ls "$ROOT/gc-roots" | grep -c "$id")" 1
"$KILN" rm big >/dev/null 2>&1 &
pids+=($!)
# kill it once the deletion of the moved record has begun
caught=
for _ in $(seq 2000); do
	if [ -d "$trash/upper/d" ] && [ "$(ls "$trash/upper/d" 2>/dev/null | wc -l)" -lt 5000 ]; then
		kill -KILL "${pids[0]}" 2>/dev/null && caught=1
		break
	fi
	kill -0 "${pids[0]}" 2>/dev/null || break
	sleep 0.005
done
wait "${pids[0]}" 2>/dev/null
if [ -z "$caught" ]; then
	not_ok "rm ended before it could be killed mid-deletion (no check made)"
else
	ok "rm killed while deleting the moved record"
	expect_eq "the container is gone" "$("$KILN" ps -aq --no-trunc | grep -c "$id")" 0
	expect_eq "its GC root is gone with it" "$(ls "$ROOT/gc-roots" 2>/dev/null | grep -c "$id")" 0
	run_ok "rmi busybox" kiln rmi busybox
	run_ok "system prune -af" kiln system prune -af
	expect_eq "no blob of the image is kept" "$(find "$ROOT/images/blobs" -type f 2>/dev/null | wc -l)" 0
	run_ok "create --name big: the name is free" kiln create --name big "$(kiln import "$BB" 2>/dev/null)" true
fi
