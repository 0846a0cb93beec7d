#!/usr/bin/env bash
# The main job on the bundled example, from a fresh Debian 12 machine (root):
# install dependencies, build kiln, make the busybox base image locally (no
# network), then show what kiln does today with testdata/example.
# The store is KILN_ROOT (default: a demo root under build/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
export KILN="$PWD/build/kiln"
export KILN_ROOT=${KILN_ROOT:-$PWD/build/demo-root}
kiln() { echo "\$ kiln $*" >&2; "$KILN" "$@"; }

echo "== base image: busybox from Debian's busybox-static, imported as busybox:latest"
testdata/make-busybox.sh --import build/busybox-rootfs.tar

echo
echo "== the example's instruction graph (testdata/example/Dockerfile)"
kiln parse testdata/example
echo
kiln parse --target site --json testdata/example >build/example-graph.json
head -c 400 build/example-graph.json; echo "... (whole graph in build/example-graph.json)"

echo
echo "== images in the store ($KILN_ROOT)"
kiln images
kiln history busybox
kiln inspect --format '{{.Id}} {{.Config.Cmd}} {{.RootFS.Layers}}' busybox

echo
echo "== save, then load into a second store: the image ID survives"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
kiln save -o "$out/busybox.tar" busybox:latest
KILN_ROOT="$out/root2" "$KILN" load -i "$out/busybox.tar"
a=$("$KILN" inspect --format '{{.Id}}' busybox)
b=$(KILN_ROOT="$out/root2" "$KILN" inspect --format '{{.Id}}' busybox)
echo "original $a"
echo "loaded   $b"
[ "$a" = "$b" ] && echo "round trip OK"
