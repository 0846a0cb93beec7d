#!/usr/bin/env bash
# Review 6: a --cache-to export that fails fails the build, as BuildKit's
# cache exporters do unless told ignore-error=true; a CI pipeline must not
# read exit 0 while no cache went to the registry. (kiln accepted
# ignore-error and ignored it: every export failure was a warning.)
source "$(dirname "$0")/lib.sh"
C="$T/ctx"
mkdir -p "$C"
echo one >"$C/a.txt"
printf 'FROM scratch\nCOPY a.txt /a.txt\n' >"$C/Dockerfile"
# nothing listens on 127.0.0.1:1: the export cannot connect
run_fail "an export that cannot reach its registry fails the build" 1 \
	kiln build -t app:1 --cache-to type=registry,ref=127.0.0.1:1/cache:x "$C"
expect_contains "... naming the cache ref" "$OUT" "127.0.0.1:1/cache:x"
run_ok "ignore-error=true keeps it a warning" \
	kiln build -t app:2 --cache-to type=registry,ref=127.0.0.1:1/cache:x,ignore-error=true "$C"
expect_contains "... which names the cache ref" "$OUT" "--cache-to \`127.0.0.1:1/cache:x\` failed"
run_ok "the image of the ignored export is tagged" kiln inspect -f '{{.Id}}' app:2
run_fail "ignore-error takes true or false" 1 \
	kiln build --cache-to type=registry,ref=127.0.0.1:1/cache:x,ignore-error=maybe "$C"
