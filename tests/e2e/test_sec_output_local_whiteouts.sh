#!/usr/bin/env bash
# Data loss: `build -o type=local,dest=DIR` flattens the stage's layers
# into DIR with the layer extractor in apply mode, so an image's
# whiteouts removed the files DIR held before the build: a layer's
# `.wh.NAME` removed DIR/NAME and an opaque `.wh..wh..opq` at the root
# emptied DIR of everything that layer did not write. BuildKit's local
# exporter (docker 20.10's `build -o`) writes the image's files into DIR
# and leaves the others alone: only the image's own files are shadowed.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "the layers are owned by root"

python3 "$KILN_SRC/tests/e2e/sec_layers.py" "$T/evil.tar" evil:1 \
	'[[{"name": "a", "type": "file", "data": "a"}, {"name": "gone", "type": "file", "data": "g"}],
	  [{"name": ".wh.mine", "type": "file"}, {"name": ".wh.gone", "type": "file"}],
	  [{"name": ".wh..wh..opq", "type": "file"}, {"name": "b", "type": "file", "data": "b"},
	   {"name": "keep", "type": "dir"}, {"name": "keep/img", "type": "file", "data": "i"}]]'
run_ok "the image loads" kiln load -i "$T/evil.tar"
mkdir -p "$T/ctx" "$T/out/keep"
printf 'FROM evil:1\n' >"$T/ctx/Dockerfile"
echo mine >"$T/out/mine"
echo kept >"$T/out/keep/f"
run_ok "build -o type=local into a directory holding files" \
	kiln build -q -o "type=local,dest=$T/out" "$T/ctx"
expect_eq "the image's files are there, its removed ones not" \
	"$(cd "$T/out" && ls -d b a gone keep/img 2>/dev/null | tr '\n' ' ')" "b keep/img "
expect_eq "a file the directory held is kept (a .wh. of that name in a layer)" \
	"$(cat "$T/out/mine" 2>&1)" mine
expect_eq "a directory the directory held is kept (an opaque root in a layer)" \
	"$(cat "$T/out/keep/f" 2>&1)" kept
run_ok "again, into the same directory" kiln build -q -o "type=local,dest=$T/out" "$T/ctx"
expect_eq "the directory holds the image's files and its own, no scratch dir" \
	"$(cd "$T/out" && find . | sort | tr '\n' ' ')" ". ./b ./keep ./keep/f ./keep/img ./mine "
