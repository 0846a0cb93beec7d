#!/usr/bin/env bash
# Review 4 of 4a9a6cd (-o without -t stores no image): the build checks
# whether its image was stored before (builder/build.c commit_image,
# image_stored), exports, then removes every index entry of that image
# ID (img_store_remove_image), tags included. A tag the image got in the
# meantime (kiln tag, or a concurrent `kiln build -t` of the same
# Dockerfile: a build whose steps all hit gives the same image ID) is
# deleted with it: a user's tag is lost. Here the export to stdout is held
# (a full pipe) while the image is tagged; the tag must survive.
. "$(dirname "$0")/lib.sh"
busybox_base "builds need root"
C="$T/ctx"
mkdir -p "$C"
echo "review4-$RANDOM$RANDOM" >"$C/f"
printf 'FROM busybox\nCOPY f /f\n' >"$C/Dockerfile"
# the reader waits for the image ID (written before the export), tags the
# image while the export blocks on the full pipe, then drains the pipe
( "$KILN" build -q -o type=tar,dest=- --iidfile "$T/iid" "$C" 2>"$T/err"; echo $? >"$T/rc" ) | {
	for _ in $(seq 600); do [ -s "$T/iid" ] && break; sleep 0.1; done
	"$KILN" tag "$(cat "$T/iid")" keep:1 >"$T/tag.out" 2>&1
	echo $? >"$T/tagrc"
	cat >/dev/null
}
expect_eq "the -o build succeeds" "$(cat "$T/rc")" 0
expect_eq "the image could be tagged while it was exported" "$(cat "$T/tagrc" 2>/dev/null)" 0
run_ok "the tag given meanwhile is still there" kiln image inspect --format '{{.Id}}' keep:1
expect_eq "and names the built image" "$OUT" "$(cat "$T/iid")"
run_ok "system check" kiln system check
echo "1..$((_pass + _fail))"
