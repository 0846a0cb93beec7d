#!/usr/bin/env bash
# run -a beside docker 20.10 where test_run_attach_docker does not go: a
# tty (-t: one stream, docker's stdout), a command that cannot run (exit
# 127/126 and the message on the attached stream or not), --rm -a stdin.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

dk_from_kiln busybox:latest ||
	skip_all "docker could not load the image"
PROG='echo out; echo err >&2; exit 3'
same() { # [--rc-out] NAME RUN-ARGS...: --rc-out compares no stderr (docker's
	# names runc's layers there)
	local errs=1
	[ "$1" = --rc-out ] && { errs=; shift; }
	local name=$1; shift
	"$KILN" run "$@" </dev/null >"$T/k.out" 2>"$T/k.err"; local kr=$?
	dk run "$@" </dev/null >"$T/d.out" 2>"$T/d.err"; local dr=$?
	local k d
	k="$kr|$(sed 's/^[0-9a-f]\{64\}$/ID/' "$T/k.out" | tr -d '\r' | tr '\n' ' ')|$(sed 's/kiln/X/g' "$T/k.err" | tr '\n' ' ')"
	d="$dr|$(sed 's/^[0-9a-f]\{64\}$/ID/' "$T/d.out" | tr -d '\r' | tr '\n' ' ')|$(sed 's/docker/X/g' "$T/d.err" | tr '\n' ' ')"
	[ -n "$errs" ] || { k=${k%|*}; d=${d%|*}; }
	if [ "$k" = "$d" ]; then ok "$name (both: $k)"; else not_ok "$name: kiln $k, docker $d"; fi
}
same "-t -a stdout: the tty's one stream" -t -a stdout busybox sh -c "$PROG"
same "-t -a stderr: nothing (the tty is stdout)" -t -a stderr busybox sh -c "$PROG"
same --rc-out "-a stderr, a command not found" -a stderr busybox no-such-cmd
expect_contains "... the error names it" "$(cat "$T/k.err")" 'exec: "no-such-cmd": executable file not found in $PATH'
same --rc-out "-a stdout, a command not found" -a stdout busybox no-such-cmd
same --rc-out "-a stdout, not executable" -a stdout busybox /etc/passwd
expect_contains "... the error names it" "$(cat "$T/k.err")" 'exec: "/etc/passwd": permission denied'
same "--rm -a stdin: the ID, exit 0" --rm -a stdin busybox sh -c "$PROG"
cleanup_containers
dk rm -f $(dk ps -aq) >/dev/null 2>&1
true
