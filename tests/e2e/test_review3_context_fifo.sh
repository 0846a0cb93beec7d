#!/usr/bin/env bash
# Review 3 (issue 12, robustness): a project directory with a named pipe
# in it (a tool's control FIFO, a log pipe) and `COPY . /app/`. Docker
# builds it: BuildKit (20.10's, as DOCKER_BUILDKIT=1 docker build shows)
# leaves the FIFO out and copies the rest; the classic builder copies it
# as a FIFO. kiln fails the whole build ("`pipe` is a fifo: only files,
# directories and symlinks can be copied": builder/copy_items.c
# copy_add_tree, cache/ctxhash.c), while it skips a socket silently.
# Expected here: the build succeeds, the regular files are copied, and
# the FIFO is either absent or a FIFO (never a regular file or a hang).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
busybox_base "build containers need root"

C="$T/ctx"
mkdir -p "$C/sub"
echo a >"$C/a"
echo b >"$C/sub/b"
mkfifo "$C/sub/pipe"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$C/sock"
printf 'FROM busybox\nCOPY . /app/\n' >"$C/Dockerfile"

run_ok "COPY . of a context with a FIFO and a socket builds" timeout 120 "$KILN" build -q -t fifo:1 "$C"
if kiln save -o "$T/s.tar" fifo:1 >/dev/null 2>&1; then
	listing=$(python3 -c '
import io, json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for name in json.load(t.extractfile("manifest.json"))[0]["Layers"][1:]:
        with tarfile.open(fileobj=io.BytesIO(t.extractfile(name).read())) as lt:
            for e in lt.getmembers():
                kind = "p" if e.isfifo() else "d" if e.isdir() else "f" if e.isfile() else "o"
                print(kind, e.name.rstrip("/"))
' "$T/s.tar")
	expect_contains "the regular files are copied" "$listing" "f app/sub/b"
	pipe=$(printf '%s\n' "$listing" | grep 'app/sub/pipe' || true)
	case "$pipe" in
	"" | p*) ok "the FIFO is left out or kept a FIFO" ;;
	*) not_ok "the FIFO is left out or kept a FIFO: $pipe" ;;
	esac
else
	not_ok "the image fifo:1 exists"
fi
