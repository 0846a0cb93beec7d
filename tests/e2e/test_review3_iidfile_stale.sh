#!/usr/bin/env bash
# Review 3 (issue 12, --iidfile): docker removes the --iidfile before it
# builds, so a failed build leaves no file and a script's
# `docker build --iidfile f . ; docker run "$(cat f)"` cannot run the
# previous image (DOCKER_BUILDKIT=1 docker build 20.10: rc 1, no file).
# kiln writes the file only on success and leaves an old one in place
# after a failure (cli/cmd_build.c, builder/build.c finish).
. "$(dirname "$0")/lib.sh"
busybox_base "build steps need root"

C="$T/ctx"
mkdir -p "$C"
printf 'FROM busybox\nLABEL ok=1\n' >"$C/Dockerfile"
run_ok "a good build writes the iidfile" kiln build -q --iidfile "$T/iid" "$C"
expect_eq "the iidfile holds the image ID" "$(cat "$T/iid")" "$(kiln inspect -f '{{.Id}}' "$(cat "$T/iid")")"
printf 'FROM busybox\nCOPY missing /x\n' >"$C/Dockerfile"
run_fail "a failing build" 1 kiln build -q --iidfile "$T/iid" "$C"
[ -e "$T/iid" ] && not_ok "a failed build leaves no iidfile (it holds $(cat "$T/iid"))" ||
	ok "a failed build leaves no iidfile"
