#!/usr/bin/env bash
# run with stdin attached (-i, or -a stdin) and -t while kiln's stdin is
# not a terminal: docker 20.10's CLI refuses before it creates anything
# ("the input device is not a TTY", exit 1); kiln started the container
# and hung on the pty (cat never sees an end of input), leaving the
# --rm container running after the client was killed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

dk_from_kiln busybox ||
	skip_all "docker could not load the image"
for flags in "-i -t" "-a stdin -a stdout -t"; do
	d=$(echo hello | dk run --rm $flags busybox cat 2>&1)
	drc=$?
	k=$(echo hello | timeout 20 "$KILN" run --rm $flags busybox cat 2>&1)
	krc=$?
	expect_eq "run $flags, stdin a pipe: docker's exit code" "$krc" "$drc"
	expect_eq "run $flags, stdin a pipe: docker's message" "${k#kiln: }" "${d#docker: }"
	cleanup_containers
done
