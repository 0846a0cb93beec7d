#!/usr/bin/env bash
# exec -t and attach when kiln's stdin is not a terminal, beside docker
# 20.10: exec -it and attach (stdin attached) to a -t container refuse with
# "the input device is not a TTY" and exit 1, as run -it does (docker's
# CheckTty, one function in kiln: kiln_check_tty); exec -t without -i and
# attach --no-stdin do not check; attach checks the container's state
# first ("You cannot attach to a stopped container, start it first", bare).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

dk_from_kiln busybox || skip_all "docker could not load the image"
# same_as_docker NAME ARGS...: kiln's and docker's exit code and output
same_as_docker() {
	local name=$1; shift
	local d k drc krc
	d=$(timeout 20 /usr/bin/docker "$@" </dev/null 2>&1)
	drc=$?
	k=$(timeout 20 "$KILN" "$@" </dev/null 2>&1)
	krc=$?
	expect_eq "$name: docker's exit code" "$krc" "$drc"
	expect_eq "$name: docker's output" "$k" "$d"
}
for t in /usr/bin/docker "$KILN"; do
	$t run -d -t -i --name tt busybox sh >/dev/null &&
		$t create -t -i --name ct busybox sh >/dev/null ||
		{ not_ok "$t: start the containers"; exit 1; }
done
same_as_docker "exec -it, stdin /dev/null" exec -it tt echo hi
same_as_docker "exec -it of a created container" exec -it ct echo hi
same_as_docker "exec -t without -i" exec -t tt echo hi
same_as_docker "exec -i without -t" exec -i tt echo hi
same_as_docker "attach to a -t container, stdin /dev/null" attach tt
same_as_docker "attach to a created container" attach ct
expect_eq "the refused attach left the container running" \
	"$("$KILN" inspect -f '{{.State.Running}}' tt)" true
dk rm -f tt ct >/dev/null 2>&1
cleanup_containers
