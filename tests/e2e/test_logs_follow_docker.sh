#!/usr/bin/env bash
# logs -f beside docker 20.10 across a container's runs: a follow ends with
# the run it began on (by exit under a restart policy, by restart, by
# stop), prints none of a later run's lines; a created container (no log
# file yet) and a stopped one are printed and not followed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

dk_from_kiln busybox || skip_all "docker could not load the image"
# follow_ends TOOL NAME OUT: starts TOOL logs -f NAME into OUT; FPID
follow_start() { timeout 60 "$1" logs -f "$2" >"$3" 2>&1 & FPID=$!; }
# follow_wait: its exit code (124: it was still following after 60 s)
follow_wait() { wait "$FPID"; }
for t in /usr/bin/docker "$KILN"; do
	w=$(basename "$t")
	# a restart policy: the follow ends when the first run exits
	$t run -d --name rp --restart always busybox sh -c 'echo run; sleep 1; exit 1' >/dev/null
	wait_for 20 grep -q run <($t logs rp 2>&1)
	follow_start "$t" rp "$T/$w.rp"
	follow_wait
	echo "rc=$? $(tr '\n' ' ' <"$T/$w.rp")" >"$T/$w.rp.res"
	$t rm -f rp >/dev/null
	# restart by hand: the follow ends at the stop
	$t run -d --name rs busybox sh -c 'echo up; exec sleep 1000' >/dev/null
	wait_for 20 grep -q up <($t logs rs 2>&1)
	follow_start "$t" rs "$T/$w.rs"
	wait_for 20 grep -q up "$T/$w.rs"
	$t restart -t 0 rs >/dev/null
	follow_wait
	echo "rc=$? $(tr '\n' ' ' <"$T/$w.rs")" >"$T/$w.rs.res"
	$t rm -f rs >/dev/null
	# created: no log yet, not followed; then stopped: printed, not followed
	$t create --name cr busybox sh -c 'echo one; echo two >&2' >/dev/null
	follow_start "$t" cr "$T/$w.cr"
	follow_wait
	echo "rc=$? [$(cat "$T/$w.cr")]" >"$T/$w.cr.res"
	$t start -a cr >/dev/null 2>&1
	follow_start "$t" cr "$T/$w.st"
	follow_wait
	echo "rc=$? $(sort "$T/$w.st" | tr '\n' ' ')" >"$T/$w.st.res"
	$t rm -f cr >/dev/null
done
expect_eq "a restart policy: the follow ends with the first run, as docker's" \
	"$(cat "$T/kiln.rp.res")" "$(cat "$T/docker.rp.res")"
expect_eq "... and printed that run's line once" "$(cat "$T/kiln.rp.res")" "rc=0 run "
expect_eq "restart: the follow ends at the stop, as docker's" \
	"$(cat "$T/kiln.rs.res")" "$(cat "$T/docker.rs.res")"
expect_eq "a created container: nothing, not followed, as docker" \
	"$(cat "$T/kiln.cr.res")" "$(cat "$T/docker.cr.res")"
expect_eq "a stopped container: its lines, not followed, as docker" \
	"$(cat "$T/kiln.st.res")" "$(cat "$T/docker.st.res")"
