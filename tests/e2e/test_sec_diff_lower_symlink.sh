#!/usr/bin/env bash
# Security: `kiln diff` tells a path the container added (A) from one it
# changed (C) by looking it up in the image's layer snapshots
# (runtime/commit.c in_lowers: lstat(<lower>/<path>)), which followed a
# lower layer's symlink onto the host: with `a -> /host/dir` in one layer
# and a directory `a` above it, a file the container made at /a/F showed
# as C when /host/dir/F existed on the host, telling the container's
# user which host paths exist. In the image /a is the upper layer's
# directory (overlay merges nothing below a non-directory), so /a/F is
# added: A, as docker says. The host path probed is under $T.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "containers need root"

mkdir -p "$T/host"
echo x >"$T/host/probe"
python3 "$KILN_SRC/tests/e2e/sec_layers.py" "$T/evil.tar" evil:1 \
	"[[{\"name\": \"a\", \"type\": \"symlink\", \"target\": \"$T/host\"}],
	  [{\"name\": \"a\", \"type\": \"dir\"}]]"
run_ok "the two-layer image loads" kiln load -i "$T/evil.tar"
id=$(kiln create evil:1 /probe 2>"$T/err") || { not_ok "create: $(cat "$T/err")"; exit 1; }
at_exit "kiln rm -f $id >/dev/null 2>&1"
# what the container would write, put in its upper dir directly (the
# image has no shell): the container's writes land there
upper=$(kiln inspect -f '{{.GraphDriver.Data.UpperDir}}' "$id" 2>/dev/null)
if [ -z "$upper" ] || [ ! -d "$upper" ]; then
	upper=$(find "$ROOT/containers/$id" -maxdepth 1 -name upper -type d | head -1)
fi
mkdir -p "$upper/a" && echo y >"$upper/a/probe"
run_ok "diff" kiln diff "$id"
expect_contains "a file the image lacks is A, whatever the host holds" "$OUT" "A /a/probe"
expect_not_contains "never C" "$OUT" "C /a/probe"
