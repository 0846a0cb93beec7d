#!/usr/bin/env bash
# Review 3 (issue 12, "Output and failure"): Ctrl-C (SIGINT, or SIGTERM) to
# `kiln build` must leave nothing in the store within a second. A RUN after
# a large COPY first unpacks the COPY's layer into a snapshot
# (img_snapshot_ensure -> extract_new: ROOT/tmp/extract-XXXXXX, then a
# rename); a signal during that unpacking kills kiln with the half-made
# tree left in ROOT/tmp (tens of MB per interrupted build here), until a
# prune or the 10-minute stale sweep. The signal is sent as soon as the
# extract-* directory appears; the build runs in its own process group
# (set -m) so that SIGINT is not ignored as in a background job.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
busybox_base "build containers need root"
pid=
at_exit '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null'

C="$T/ctx"
mkdir -p "$C"
python3 - "$C" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(12000):
    d = os.path.join(root, "d%03d" % (i // 300))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%d" % i), "w") as f:
        f.write(str(i))
EOF
printf 'FROM busybox\nCOPY . /big/\nRUN true\n' >"$C/Dockerfile"

extracts() { ls "$ROOT/tmp" 2>/dev/null | grep '^extract-'; }
for sig in INT TERM; do
	caught=
	for attempt in 1 2 3; do
		set -m
		"$KILN" build --no-cache --progress plain -t intr:$sig "$C" >"$T/out" 2>&1 &
		pid=$!
		set +m
		for _ in $(seq 1500); do
			[ -n "$(extracts)" ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.01
		done
		if [ -n "$(extracts)" ] && kill -"$sig" "$pid" 2>/dev/null; then
			caught=1
		fi
		wait "$pid"
		rc=$?
		pid=
		[ "$caught" ] && break
		kiln rmi -f intr:$sig >/dev/null 2>&1
	done
	if [ -z "$caught" ]; then
		not_ok "SIG$sig: the unpacking of the COPY layer was never seen in ROOT/tmp"
		continue
	fi
	[ "$rc" -ne 0 ] && ok "SIG$sig during the unpacking: the build fails (exit $rc)" ||
		not_ok "SIG$sig during the unpacking: the build fails (exit $rc)"
	run_fail "SIG$sig: nothing is tagged" nonzero kiln image inspect intr:$sig
	sleep 1
	expect_eq "SIG$sig: no half-unpacked extract-* dir left in ROOT/tmp a second later" \
		"$(extracts | tr '\n' ' ')" ""
	expect_eq "SIG$sig: nothing of the store mounted" "$(grep -c " $ROOT" /proc/self/mountinfo)" 0
	kiln system prune -f >/dev/null 2>&1 # the next round starts clean
done
