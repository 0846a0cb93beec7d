#!/usr/bin/env bash
# Security: the builder looks paths up in a stage's layer snapshots
# without mounting them (builder/rootfs.c find_child: for each layer,
# topmost first, lstat(<snapshot dir>/<path>)). A lower layer holding
# `a` as a symlink to a host path, under an upper layer holding `a` as a
# directory, made the lookup of /a/F follow the lower layer's symlink on
# the host: `COPY --from=<image> /a/F` copied any host file (here one
# under $T) into the image, read as root. In the union (overlay, as
# docker and BuildKit see it) /a is the upper layer's directory and
# /a/F does not exist, so the COPY fails saying so.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "reading snapshots needs root"

mkdir -p "$T/host" "$T/ctx"
echo HOST-SECRET >"$T/host/secret.txt"
python3 "$KILN_SRC/tests/e2e/sec_layers.py" "$T/evil.tar" evil:1 \
	"[[{\"name\": \"a\", \"type\": \"symlink\", \"target\": \"$T/host\"}],
	  [{\"name\": \"a\", \"type\": \"dir\"}, {\"name\": \"a/keep\", \"type\": \"file\", \"data\": \"k\"}]]"
run_ok "the two-layer image loads" kiln load -i "$T/evil.tar"

for src in /a/secret.txt /a/; do
	printf 'FROM scratch\nCOPY --from=evil:1 %s /got/\n' "$src" >"$T/ctx/Dockerfile"
	rm -rf "$T/out"
	kiln build --no-cache -q -o "type=local,dest=$T/out" "$T/ctx" >"$T/log" 2>&1
	rc=$?
	if grep -rqs HOST-SECRET "$T/out"; then
		not_ok "COPY --from $src: a host file came through a lower layer's symlink: $(grep -rl HOST-SECRET "$T/out")"
	else
		ok "COPY --from $src: no host file in the output"
	fi
	if [ "$src" = /a/secret.txt ]; then
		expect_eq "COPY --from $src: fails (not in the union)" "$rc" 1
		expect_contains "COPY --from $src: names the source" "$(cat "$T/log")" secret.txt
	else
		expect_eq "COPY --from $src: copies the union's /a" "$(ls "$T/out/got" 2>&1 | tr '\n' ' ')" "keep "
	fi
done
