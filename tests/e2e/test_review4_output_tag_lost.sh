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
# the reader waits for the new image in the index (committed before the
# export), tags it while the export blocks on the full pipe, then drains
# the pipe. (If a fix stores no image at all for -o, none appears: after
# 60 s the reader drains and the tag checks are moot.)
before=$(kiln images -aq --no-trunc | sort | tr '\n' ' ')
( "$KILN" build -q -o type=tar,dest=- "$C" 2>"$T/err"; echo $? >"$T/rc" ) | {
	for _ in $(seq 600); do
		for id in $("$KILN" images -aq --no-trunc); do
			case " $before " in *" $id "*) ;; *) echo "$id" >"$T/iid" ;; esac
		done
		[ -s "$T/iid" ] && break
		sleep 0.1
	done
	[ -s "$T/iid" ] && "$KILN" tag "$(head -1 "$T/iid")" keep:1 >"$T/tag.out" 2>&1
	echo $? >"$T/tagrc"
	cat >/dev/null
}
expect_eq "the -o build succeeds" "$(cat "$T/rc")" 0
if [ -s "$T/iid" ]; then
	expect_eq "the image could be tagged while it was exported" "$(cat "$T/tagrc")" 0
	run_ok "the tag given meanwhile is still there" kiln image inspect --format '{{.Id}}' keep:1
	expect_eq "and names the built image" "$OUT" "$(head -1 "$T/iid")"
else
	ok "no image was stored during the export: nothing to lose"
fi
run_ok "system check" kiln system check
echo "1..$((_pass + _fail))"
