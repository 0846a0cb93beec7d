#!/usr/bin/env bash
# The main job on the bundled example, from a fresh Debian 12 machine (root):
# install dependencies, build kiln, make the busybox base image locally (no
# network), build testdata/example (multi-stage, COPY, RUN, metadata), run
# it detached with a published port, fetch its page from 127.0.0.1, show
# the image's history, stop and remove the container, build again (every
# step CACHED, same image ID), then edit one file and build again (the steps
# that read it miss, each with its reason).
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
# The example is copied, so the edit at the end never touches the checkout.
ctx=build/demo-example
rm -rf "$ctx" && cp -a testdata/example "$ctx"
echo "== build testdata/example"
kiln build --progress plain -t kiln-example:latest "$ctx"

echo
echo "== run it detached, its port 80 published on 127.0.0.1"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cid=$(kiln run -d -p "127.0.0.1:$port:80" kiln-example:latest)
cleanup() { "$KILN" rm -f "$cid" >/dev/null 2>&1 || true; }
trap cleanup EXIT
page=
for _ in $(seq 50); do
	if page=$(wget -q -T 2 -O - "http://127.0.0.1:$port/" 2>/dev/null ||
		curl -fsS -m 2 "http://127.0.0.1:$port/" 2>/dev/null); then
		break
	fi
	sleep 0.2
done
echo "\$ wget -q -O - http://127.0.0.1:$port/"
if [ -z "$page" ]; then
	echo "no answer from the container on 127.0.0.1:$port" >&2
	kiln logs "$cid" >&2 || true
	exit 1
fi
printf '%s\n' "$page"
echo "\$ wget -q -O - http://127.0.0.1:$port/build.txt"
wget -q -T 2 -O - "http://127.0.0.1:$port/build.txt" 2>/dev/null ||
	curl -fsS -m 2 "http://127.0.0.1:$port/build.txt"
kiln logs "$cid"

echo
echo "== the image's history"
kiln history kiln-example:latest

echo
echo "== stop and remove the container"
kiln stop "$cid" >/dev/null
kiln rm "$cid" >/dev/null
trap - EXIT
echo "removed ${cid:0:12}"

echo
echo "== build again: nothing changed, so every step is CACHED and the image ID is the same"
kiln build --progress plain -t kiln-example:latest "$ctx"

echo
echo "== edit one page and build again: the steps that read it miss, and say why"
printf '<p>edited at %s</p>\n' "$(date -u +%H:%M:%S)" >>"$ctx/www/index.html"
kiln build --progress plain -t kiln-example:latest "$ctx"
