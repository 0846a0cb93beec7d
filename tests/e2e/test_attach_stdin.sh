#!/usr/bin/env bash
# attach: a container that never reads its stdin does not stall the
# monitor. An attacher typing more than the stdin pipe (or the terminal's
# input queue) holds waits itself; the container's output still reaches
# the log and the other attachers, as with docker's shim.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"

lines() { "$KILN" logs "$1" 2>/dev/null | grep -c '^tick'; }
grows() { # grows NAME FROM: the log has 20 more ticks than FROM
	[ "$(lines "$1")" -ge $(($2 + 20)) ]
}
feeders=()
stop_feeders() { for p in "${feeders[@]}"; do kill "$p" 2>/dev/null; done; return 0; }
at_exit stop_feeders

for mode in -i -it; do
	name=deaf${mode//-/}
	run_ok "run $mode: a container that never reads stdin" kiln run -d $mode --name "$name" \
		busybox sh -c 'while :; do echo tick; sleep 0.05; done'
	wait_for 10 grows "$name" 0
	# 4 MiB of input: far more than a pipe or a terminal queue holds
	head -c 4194304 /dev/zero | timeout 60 "$KILN" attach "$name" >/dev/null 2>&1 &
	feeders+=($!)
	n=$(lines "$name")
	if wait_for 20 grows "$name" "$n"; then
		ok "$mode: the output is still logged while an attacher's input waits"
	else
		not_ok "$mode: the log stopped at $(lines "$name") ticks (from $n)"
	fi
	run_ok "$mode: the container stops" kiln rm -f "$name"
done
