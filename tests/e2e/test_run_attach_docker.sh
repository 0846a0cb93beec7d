#!/usr/bin/env bash
# run -a/--attach and create -a, side by side with a private dockerd
# (docker's behaviour is the spec): only the named streams reach run's
# stdout and stderr, the others only the container's log; the exit code
# is the container's; -a stdin alone prints the ID, feeds stdin (with -i)
# and exits 0 at its end; -d with -a and a bad stream name are docker's
# errors, as is -t with a stdin attached that is no terminal;
# Config.Attach*/StdinOnce as docker's for create and run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

dk_from_kiln busybox:latest ||
	skip_all "docker could not load the image"
PROG='echo out; echo err >&2; exit 3'
n=0
# same NAME STDIN-FILE RUN-ARGS...: stdout, stderr (IDs made "ID") and exit code equal
same() {
	local name=$1 in=$2; shift 2
	n=$((n + 1))
	"$KILN" run "$@" <"$in" >"$T/k.out" 2>"$T/k.err"; local kr=$?
	dk run "$@" <"$in" >"$T/d.out" 2>"$T/d.err"; local dr=$?
	local k d
	k="$kr|$(sed 's/^[0-9a-f]\{64\}$/ID/' "$T/k.out" | tr '\n' ' ')|$(sed 's/kiln/X/g' "$T/k.err" | tr '\n' ' ')"
	d="$dr|$(sed 's/^[0-9a-f]\{64\}$/ID/' "$T/d.out" | tr '\n' ' ')|$(sed 's/docker/X/g' "$T/d.err" | tr '\n' ' ')"
	if [ "$k" = "$d" ]; then ok "$name (both: $k)"; else not_ok "$name: kiln $k, docker $d"; fi
}
same "-a stdout: stdout only, the container's exit code" /dev/null -a stdout busybox sh -c "$PROG"
same "-a STDERR (any case): stderr only" /dev/null -a STDERR busybox sh -c "$PROG"
same "-a stdin -a stdout" /dev/null -a stdin -a stdout busybox sh -c "$PROG"
same "-a for all three" /dev/null -a stdout -a stderr -a stdin busybox sh -c "$PROG"
same "--rm -a stderr" /dev/null --rm -a stderr busybox sh -c "$PROG"
same "-a stdin alone: the ID, exit 0" /dev/null -a stdin busybox sh -c "$PROG"
same "-a stdin -i alone: the ID, exit 0" /dev/null -a stdin -i busybox sh -c "$PROG"
same "-d with -a: docker's conflict" /dev/null -d -a stdout busybox true
same "an unknown stream" /dev/null -a foo busybox true
same "-it with a stdin that is no terminal" /dev/null -it busybox true
same "-t -a stdin with a stdin that is no terminal" /dev/null -t -a stdin busybox true
same "-t -a stdout: no stdin, no terminal needed" /dev/null -t -a stdout busybox sh -c "$PROG"
printf 'hi\n' >"$T/hi"
same "-i -a stdout: -i attaches stdin too" "$T/hi" -i -a stdout busybox sh -c 'cat; echo err >&2'

# the streams left out go to the log (both sides)
for t in kiln dk; do
	r=/usr/bin/docker; [ $t = kiln ] && r=$KILN
	$r run --name lg -a stdout busybox sh -c "$PROG" >/dev/null 2>&1
	echo "$($r logs lg 2>/dev/null | tr '\n' ' ')|$($r logs lg 2>&1 >/dev/null | tr '\n' ' ')" >"$T/$t.logs"
done
expect_eq "-a stdout: stderr is in the log" "$(cat "$T/kiln.logs")" "$(cat "$T/dk.logs")"

# -a stdin -i: the bytes reach the container, which runs on after run exits
for t in kiln dk; do
	r=/usr/bin/docker; [ $t = kiln ] && r=$KILN
	printf 'data\n' | $r run -a stdin -i --name si busybox sh -c 'cat; exit 4' >/dev/null
	echo "$?|$(timeout 60 $r wait si)|$($r logs si 2>&1 | tr '\n' ' ')" >"$T/$t.si"
done
expect_eq "-a stdin -i: exit 0, the stdin in the container, its own exit code" \
	"$(cat "$T/kiln.si")" "$(cat "$T/dk.si")"

# Config.Attach*, OpenStdin, StdinOnce
F='{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}} {{.Config.OpenStdin}} {{.Config.StdinOnce}}'
i=0
for args in "-a stdout" "-a stderr -a stdin" "-a stdin -i" "-i -a stdout" "-a stdin"; do
	i=$((i + 1))
	"$KILN" create --name "kc$i" $args busybox true >/dev/null
	dk create --name "dc$i" $args busybox true >/dev/null
	expect_eq "create $args: Config.Attach*, StdinOnce" "$("$KILN" inspect -f "$F" "kc$i")" \
		"$(dk inspect -f "$F" "dc$i")"
done
# start -a attaches stdout and stderr whatever create -a said
"$KILN" create --name ks -a stdout busybox sh -c "$PROG" >/dev/null
dk create --name ds -a stdout busybox sh -c "$PROG" >/dev/null
k=$("$KILN" start -a ks 2>&1 | sort | tr '\n' ' '; echo "${PIPESTATUS[0]}")
d=$(dk start -a ds 2>&1 | sort | tr '\n' ' '; echo "${PIPESTATUS[0]}")
expect_eq "start -a of a create -a stdout container" "$k" "$d"
