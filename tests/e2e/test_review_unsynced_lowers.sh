#!/usr/bin/env bash
# Review finding: a container keeps the snapshot dirs of its image as its
# overlay lower dirs (state.json lower_dirs), resolved once at create. The
# snapshots are now marked complete without a sync, trusted only in the
# boot that wrote them; but `kiln start` in a later boot mounts those dirs
# as they are, so a container created before a crash runs on a tree whose
# bytes may be torn. And in that later boot the next use of the image
# (run, build, pull) or `system check --repair` removes the tree and makes
# it again (or leaves none) under the container.
# The crash is simulated as the store tests do: KILN_TEST_BOOT_ID names
# another boot, a file planted in the snapshot stands for torn bytes.
. "$(dirname "$0")/lib.sh"
busybox_base "containers need root"
export KILN_TEST_BOOT_ID=review-boot-a
run_ok "create a container in boot A" kiln create --name rv1 busybox:latest \
	sh -c 'cat /torn 2>/dev/null || echo clean'
run_ok "create a second (long-running) container in boot A" kiln create --name rv2 busybox:latest sleep 60
at_exit 'kiln rm -f rv1 rv2 >/dev/null 2>&1'
snap=$(find "$ROOT/snapshots" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' | head -1)
if [ -n "$snap" ] && grep -q " boot=review-boot-a\$" "$snap.unsynced" 2>/dev/null; then
	ok "the snapshot's marker names boot A (unsynced)"
else
	not_ok "no unsynced marker of boot A"
fi

# the crash: bytes of boot A's unflushed tree are torn; boot B starts
echo torn >"$snap/torn"
export KILN_TEST_BOOT_ID=review-boot-b
run_ok "boot B: start -a the container created in boot A" kiln start -a rv1
expect_not_contains "boot B: the container does not run on the snapshot boot A left unsynced" \
	"$OUT" "torn"

# a container of boot A started in boot B runs on the snapshot dirs; the
# next use of the image in boot B must not pull the tree from under it
run_ok "boot B: start the second container" kiln start rv2
run_ok "boot B: run the same image" kiln run --rm busybox:latest true
run_ok "boot B: the running container still sees its image's files" kiln exec rv2 ls /bin/busybox
kiln kill rv2 >/dev/null 2>&1

# (boot C) --repair drops the snapshots an earlier boot left unsynced: the created
# container must still start (its lower dirs made again, or kept)
export KILN_TEST_BOOT_ID=review-boot-c
run_ok "boot C: system check --repair" kiln system check --repair
run_ok "boot C: the container still starts after --repair" kiln start -a rv1
expect_contains "... and runs" "$OUT" "clean"
