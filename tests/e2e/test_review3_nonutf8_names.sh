#!/usr/bin/env bash
# Review 3 (issue 12, robustness): file names are bytes. A RUN that makes a
# file whose name is not UTF-8 (Latin-1 "lat\351n", as old tarballs and
# some Debian packages' test data carry), or a context file with such a
# name under `COPY . /ctx/`, fails the whole build in kiln:
#   creating layer from `.../upper`: tar entry `lat?n`: Can't translate
#   pathname 'lat?n' to UTF-8
# (libarchive's pax writer returns ARCHIVE_WARN, and writes the entry with
# hdrcharset=BINARY; image/layer_tar.c, image/layer_writer.c take any
# status but ARCHIVE_OK as a failure). DOCKER_BUILDKIT=1 docker build
# builds both and the names come out byte for byte; kiln load of docker's
# image keeps them too.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
busybox_base "build containers need root"

C="$T/ctx"
mkdir -p "$C"
printf 'ctx\n' >"$C/$(printf 'ctx\351')"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox
RUN n="$(printf 'lat\351n')" && echo run >"/$n" && ln -s "$n" /lnk && ln "/$n" /hard
COPY . /ctx/
EOF
run_ok "a RUN and a COPY with non-UTF-8 names build" kiln build -q -t nonutf:1 "$C"
if kiln image inspect nonutf:1 >/dev/null 2>&1; then
	run_ok "the image runs" kiln run --rm --network none nonutf:1 sh -c \
		'cat "/$(printf "lat\351n")" /hard "/ctx/$(printf "ctx\351")"; readlink /lnk | od -An -c'
	expect_contains "the RUN's file, its hardlink and the context file, by their byte names" "$OUT" "run
run
ctx"
	expect_contains "the symlink's target keeps its byte" "$OUT" "l   a   t 351   n"
else
	not_ok "the image nonutf:1 exists"
fi
