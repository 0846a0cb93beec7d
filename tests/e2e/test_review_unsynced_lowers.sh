#!/usr/bin/env bash
# Review finding: a container keeps the snapshot dirs of its image as its
# overlay lower dirs (state.json lower_dirs), resolved once at create. The
# snapshots are now marked complete without a sync, trusted only in the
# boot that wrote them; but `kiln start` in a later boot mounted those dirs
# as they were, so a container created before a crash ran on a tree whose
# bytes may be torn. And in that later boot the next use of the image
# (run, build, pull) or `system check --repair` removed the tree and made
# it again (or left none) under the container.
# The fix: create makes a persisted container's lowers durable (.complete,
# one syncfs) before its state is written; --rm runs keep the unsynced
# fast path; start refuses lowers that are not trusted in its boot (a
# container of an earlier kiln), naming the container and its image.
# The crash is simulated as the store tests do: KILN_TEST_BOOT_ID names
# another boot, a file planted in the snapshot stands for torn bytes.
. "$(dirname "$0")/lib.sh"
busybox_base "containers need root"
export KILN_TEST_BOOT_ID=review-boot-a
run_ok "boot A: run --rm" kiln run --rm busybox:latest true
snap=$(find "$ROOT/snapshots" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' | head -1)
if [ -n "$snap" ] && grep -q " boot=review-boot-a\$" "$snap.unsynced" 2>/dev/null && [ ! -e "$snap.complete" ]; then
	ok "a --rm run leaves the snapshot unsynced (boot A's marker, no sync)"
else
	not_ok "no unsynced marker of boot A after run --rm"
fi
run_ok "create a container in boot A" kiln create --name rv1 busybox:latest \
	sh -c 'cat /torn 2>/dev/null || echo clean'
run_ok "create a second (long-running) container in boot A" kiln create --name rv2 busybox:latest sleep 60
at_exit 'kiln rm -f rv1 rv2 >/dev/null 2>&1'
if [ -f "$snap.complete" ] && [ ! -e "$snap.unsynced" ]; then
	ok "create made the container's lower snapshot durable"
else
	not_ok "the lower snapshot of a created container is not durable"
fi

# the crash: boot B starts (boot A's durable tree cannot be torn)
export KILN_TEST_BOOT_ID=review-boot-b
run_ok "boot B: start -a the container created in boot A" kiln start -a rv1
expect_contains "boot B: ... and runs on its image's tree" "$OUT" "clean"

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

# a container of an earlier kiln whose lower an earlier boot left unsynced
# (and torn): start refuses it instead of mounting torn bytes
rec=$(cat "$snap.complete")
printf '%s boot=review-boot-c\n' "$rec" >"$snap.unsynced"
rm -f "$snap.complete"
echo torn >"$snap/torn"
export KILN_TEST_BOOT_ID=review-boot-d
run_fail "boot D: start -a on a lower boot C left unsynced fails" nonzero kiln start -a rv1
expect_not_contains "boot D: the container does not run on the torn snapshot" "$OUT" "torn"
expect_contains "boot D: the error names the container" "$OUT" "rv1"
expect_contains "boot D: the error names the image" "$OUT" "busybox:latest"
expect_contains "boot D: the error says why" "$OUT" "written in an earlier boot without a flush"
