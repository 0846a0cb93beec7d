#!/usr/bin/env bash
# Review 3 (issue 12, --output): `docker build -o type=local,dest=D .`
# exports and stores nothing (DOCKER_BUILDKIT=1 docker build 20.10:
# `docker images -a` unchanged, a -t beside -o ignored). kiln stores every
# -o build as well, so a loop of exports without -t leaves one dangling
# image per build in `kiln images -a` (builder/build.c finish:
# commit_image before the exports). With -t, kiln storing and tagging as
# well is the issue's "or as well as storing"; without -t nothing asked
# for the image.
. "$(dirname "$0")/lib.sh"
busybox_base "build steps need root"

C="$T/ctx"
mkdir -p "$C"
before=$(kiln images -aq --no-trunc | sort | tr '\n' ' ')
for i in 1 2; do
	printf 'FROM busybox\nLABEL round=%s\n' "$i" >"$C/Dockerfile"
	run_ok "export $i to a directory" kiln build -q -o "type=local,dest=$T/out$i" "$C"
	run_ok "export $i to a tar" kiln build -q -o "type=tar,dest=$T/out$i.tar" "$C"
done
[ -d "$T/out2/bin" ] && ok "the directory export holds the rootfs" || not_ok "the directory export holds the rootfs"
expect_eq "no image is stored by -o builds without -t" "$(kiln images -aq --no-trunc | sort | tr '\n' ' ')" "$before"
# and, as docker 20.10's -o (review 4), -q prints no image ID and the
# --iidfile is written empty: there is no image to name
run_ok "-o with -q and --iidfile" kiln build -q -o "type=tar,dest=$T/q.tar" --iidfile "$T/iid" "$C"
expect_eq "-q prints an empty line" "$OUT" ""
expect_eq "the iidfile is empty" "$(cat "$T/iid")" ""
run_ok "-o with -t" kiln build -q -o "type=tar,dest=$T/qt.tar" -t out:1 "$C"
expect_eq "-q prints the ID of the image kept and tagged" "$OUT" "$(kiln image inspect -f '{{.Id}}' out:1)"
