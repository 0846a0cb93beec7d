#!/usr/bin/env bash
# kiln build: multi-stage (--target builds only what it needs), COPY
# --from a stage, an index or an image, ONBUILD triggers, scratch, ADD of
# tars and URLs (127.0.0.1 only), --output, contexts on stdin, the command
# aliases, SOURCE_DATE_EPOCH builds bit-identical on two roots, and built
# images as skopeo and umoci read them.
. "$(dirname "$0")/lib.sh"

busybox_base "layer snapshots need root"

C="$T/ctx"
mkdir -p "$C/src/in"
echo one >"$C/src/in/one.txt"
ln -s one.txt "$C/src/in/link"
ln "$C/src/in/one.txt" "$C/src/in/hard.txt"
echo main >"$C/main.txt"
tar -C "$C/src" --owner=7 --group=8 -czf "$C/arch.tgz" in

# --- multi-stage and --target ----------------------------------------------------
cat >"$C/Dockerfile" <<'EOF2'
ARG BASE=busybox
FROM $BASE AS build
COPY src/in /out/
ADD arch.tgz /unpacked/

FROM scratch AS unused
COPY main.txt /never

FROM busybox AS final
COPY --from=build /out/one.txt /app/
COPY --from=0 /unpacked/in/link /app/link
COPY --from=busybox /bin/busybox /app/bb
CMD ["/app/bb"]
EOF2
run_ok "multi-stage build" kiln build --progress=plain -t ms:1 "$C"
expect_contains "builds the stage it needs" "$OUT" "[build 2/3] COPY src/in /out/"
expect_not_contains "skips the stage nobody needs" "$OUT" "unused"
L=$(layers ms:1)
expect_contains "COPY --from=stage" "$L" "1 f 0644 0:0 4 app/one.txt"
expect_contains "COPY --from=0 follows the named link" "$L" "2 f 0644 7:8 4 app/link"
expect_contains "COPY --from=image" "$L" "3 f 0755 0:0"
run_ok "--target an early stage" kiln build --progress=plain --target build -t ms:build "$C"
expect_not_contains "--target stops there" "$OUT" "[final"
L=$(layers ms:build)
expect_contains "ADD extracts a local tar, owners from the archive" "$L" "2 f 0644 7:8 4 unpacked/in/hard.txt"
expect_contains "ADD keeps a tar's symlinks" "$L" "2 l 0777 7:8 0 unpacked/in/link -> one.txt"
expect_contains "ADD keeps a tar's hardlinks" "$L" "unpacked/in/one.txt -> unpacked/in/hard.txt"
expect_contains "COPY keeps hardlinks inside a dir" "$L" "1 h 0644 0:0 0 out/one.txt -> out/hard.txt"
run_fail "--target naming no stage" 1 kiln build --target nope "$C"
expect_contains "lists the stages" "$OUT" "nope"
run_ok "--target a scratch stage" kiln build -q --target unused -t ms:scratch "$C"
expect_eq "scratch stage has one layer" "$(kiln inspect -f '{{len .RootFS.Layers}}' ms:scratch)" "1"
expect_eq "scratch stage gets a PATH" "$(kiln inspect -f '{{index .Config.Env 0}}' ms:scratch)" \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# --- ONBUILD -----------------------------------------------------------------------
printf 'FROM busybox\nONBUILD COPY main.txt /triggered/\nONBUILD LABEL fired=yes\n' >"$T/onbuild.Dockerfile"
run_ok "image with ONBUILD" kiln build -q -f "$T/onbuild.Dockerfile" -t parent:1 "$C"
printf 'FROM parent:1\nLABEL child=yes\n' >"$T/child.Dockerfile"
run_ok "child of an ONBUILD image" kiln build --progress=plain -f "$T/child.Dockerfile" -t child:1 "$C"
expect_contains "triggers fire" "$OUT" "COPY main.txt /triggered/"
expect_contains "trigger COPY made its layer" "$(layers child:1 1)" "triggered/main.txt"
expect_eq "trigger LABEL applied" "$(kiln inspect -f '{{index .Config.Labels "fired"}}' child:1)" "yes"
expect_eq "triggers are not inherited" "$(kiln inspect -f '{{len .Config.OnBuild}}' child:1)" "0"

# --- ADD of a URL ------------------------------------------------------------------
W="$T/www"; mkdir -p "$W"; echo "served" >"$W/file.txt"
PORT_FILE="$T/port"
python3 - "$W" "$PORT_FILE" >/dev/null 2>&1 <<'PY' &
import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
HTTP_PID=$!
at_exit "kill $HTTP_PID"
for _ in $(seq 50); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
PORT=$(cat "$PORT_FILE")
SUM=sha256:$(sha256sum "$W/file.txt" | cut -d' ' -f1)
printf 'FROM busybox\nADD --checksum=%s http://127.0.0.1:%s/file.txt /dl/\n' "$SUM" "$PORT" >"$T/url.Dockerfile"
run_ok "ADD a URL with --checksum" kiln build -q -f "$T/url.Dockerfile" -t url:1 "$C"
expect_contains "downloaded file, mode 0600" "$(layers url:1)" "1 f 0600 0:0 7 dl/file.txt"
# BuildKit's names and times: the decoded last path component (query and
# fragment dropped), "__unnamed__" without one; mtime from Last-Modified
# (the directory listing has none: 0)
mkdir -p "$W/sub" && echo sub >"$W/sub/file.txt" && touch -d @1577934245 "$W/sub/file.txt"
printf 'FROM busybox\nADD http://127.0.0.1:%s/ http://127.0.0.1:%s/sub/fi%%6ce.txt?a=b/c#f /named/\n' \
	"$PORT" "$PORT" >"$T/url.Dockerfile"
run_ok "ADD URLs without a checksum" kiln build -q -f "$T/url.Dockerfile" -t url:2 "$C"
expect_eq "URL names and mtimes as BuildKit's" \
	"$(kiln run --rm --network none url:2 stat -c '%n %Y' /named/__unnamed__ /named/file.txt 2>&1)" \
	"/named/__unnamed__ 0
/named/file.txt 1577934245"
printf 'FROM busybox\nADD --checksum=sha256:%064d http://127.0.0.1:%s/file.txt /dl/\n' 0 "$PORT" >"$T/url.Dockerfile"
run_fail "a wrong checksum fails" 1 kiln build -f "$T/url.Dockerfile" "$C"
expect_contains "checksum error" "$OUT" "digest mismatch"
printf 'FROM busybox\nADD http://127.0.0.1:%s/file%%zz.txt /dl/\n' "$PORT" >"$T/url.Dockerfile"
run_fail "a malformed escape in the URL fails, as BuildKit's fetch" 1 kiln build -f "$T/url.Dockerfile" "$C"
expect_contains "saying so" "$OUT" "invalid URL escape"
printf 'FROM busybox\nADD http://127.0.0.1:%s/missing.txt /dl/\n' "$PORT" >"$T/url.Dockerfile"
run_fail "a missing URL fails" 1 kiln build -f "$T/url.Dockerfile" "$C"
expect_contains "URL error at its line" "$OUT" "Dockerfile:2"

# --- outputs, iidfile, stdin, aliases ---------------------------------------------------
printf 'FROM busybox\nCOPY main.txt /m.txt\n' >"$C/small.Dockerfile"
run_ok "--output local, tar, oci, docker" kiln image build -q -f "$C/small.Dockerfile" --iidfile "$T/iid" \
	-o "type=local,dest=$T/out-local" -o "type=tar,dest=$T/out.tar" \
	-o "type=oci,dest=$T/out-oci.tar" -o "type=docker,dest=$T/out-docker.tar" "$C"
expect_eq "--iidfile holds the ID" "$(cat "$T/iid")" "$OUT"
expect_eq "local output is the rootfs" "$(cat "$T/out-local/m.txt")" "main"
[ -x "$T/out-local/bin/busybox" ] && ok "local output has the base" || not_ok "local output has the base"
expect_contains "tar output holds the file" "$(tar -tf "$T/out.tar")" "m.txt"
expect_contains "oci output is a layout" "$(tar -tf "$T/out-oci.tar")" "index.json"
expect_contains "docker output has manifest.json" "$(tar -tf "$T/out-docker.tar")" "manifest.json"
run_fail "unknown output type: exit 1, as docker" 1 kiln build -o type=registry,dest=x "$C"
# -o - is the tar on stdout, nothing after it: -q prints no ID there (docker)
kiln build -q -f "$C/small.Dockerfile" -o - "$C" >"$T/stdout.tar" 2>"$T/stdout.err" ||
	not_ok "-q -o -: build"
expect_eq "-q -o -: stdout is the tar alone" "$(tail -c 1024 "$T/stdout.tar" | tr -d '\0' | wc -c)" 0
expect_contains "-q -o -: the tar holds the file" "$(tar -tf "$T/stdout.tar")" "m.txt"

run_ok "Dockerfile on stdin (-f -)" sh -c "'$KILN' builder build -q -f - -t stdin:1 '$C' <'$C/small.Dockerfile'"
run_ok "lone Dockerfile as the context (-)" sh -c "printf 'FROM busybox\nLABEL a=b\n' | '$KILN' build -q -t stdin:2 -"
run_ok "tar context on stdin" sh -c "tar -C '$C' -c . | '$KILN' build -q -f small.Dockerfile -t stdin:3 -"
expect_contains "tar context COPY worked" "$(layers stdin:3)" "1 f 0644 0:0 5 m.txt"

# --- reused tags -------------------------------------------------------------------------
OLD=$(kiln inspect -f '{{.Id}}' stdin:2)
run_ok "rebuild onto a used tag" sh -c "printf 'FROM busybox\nLABEL a=c\n' | '$KILN' build -q -t stdin:2 -"
expect_eq "the tag moved" "$(kiln inspect -f '{{.Id}}' stdin:2)" "$OUT"
expect_contains "the old image is dangling" "$(kiln images -a --filter dangling=true -q --no-trunc)" "$OLD"

# --- SOURCE_DATE_EPOCH: same image on two roots --------------------------------------------
touch -d '2030-01-01' "$C/main.txt"
ids=()
for r in r1 r2; do
	# the same base image on both roots (import is deterministic under the epoch too)
	SOURCE_DATE_EPOCH=1600000000 KILN_ROOT="$T/$r" "$KILN" import -m busybox -c 'CMD ["sh"]' "$BB" busybox:latest >/dev/null
	ids+=("$(SOURCE_DATE_EPOCH=1700000000 KILN_ROOT="$T/$r" "$KILN" build -q "$C")")
done
expect_eq "bit-identical image IDs" "${ids[0]}" "${ids[1]}"
expect_contains "is an image ID" "${ids[0]}" "sha256:"
KILN_ROOT="$T/r1" "$KILN" save "${ids[0]}" -o "$T/sde.tar"
mt=$(python3 - "$T/sde.tar" <<'PY'
import io, json, sys, tarfile
t = tarfile.open(sys.argv[1]); m = json.load(t.extractfile("manifest.json"))[0]
print(max(e.mtime for l in m["Layers"][1:] for e in tarfile.open(fileobj=io.BytesIO(t.extractfile(l).read()))))
PY
)
expect_eq "mtimes clamped to the epoch" "$mt" "1700000000"
cfg=$(KILN_ROOT="$T/r1" "$KILN" inspect -f '{{.Created}}' "${ids[0]}")
expect_contains "created from the epoch" "$cfg" "2023-11-14T22:13:20"

# --- interop -------------------------------------------------------------------------------
if command -v skopeo >/dev/null && command -v umoci >/dev/null; then
	REF=docker.io/library/ms:1
	run_ok "skopeo inspects a built image" skopeo inspect "oci:$ROOT/images:$REF"
	run_ok "umoci unpacks a built image" umoci unpack --image "$ROOT/images:$REF" "$T/unpacked"
	expect_eq "unpacked file" "$(cat "$T/unpacked/rootfs/app/one.txt")" "one"
fi

# --- a base with whiteouts, an opaque dir, a symlinked dir and its own passwd ------
python3 - "$T/wh.tar" <<'PY'
import hashlib, io, json, sys, tarfile
def layer(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            i = tarfile.TarInfo(name)
            i.mtime, i.mode = 0, 0o755 if kind == "d" else 0o644
            if kind == "d":
                i.type = tarfile.DIRTYPE
            elif kind == "l":
                i.type, i.linkname, i.mode = tarfile.SYMTYPE, data, 0o777
            else:
                i.size = len(data)
            t.addfile(i, io.BytesIO(data.encode()) if kind == "f" else None)
    return raw.getvalue()
l0 = layer([("dir", "d", ""), ("dir/a", "f", "a"), ("dir/b", "f", "b"), ("dir/sub", "d", ""),
            ("dir/sub/c", "f", "c"), ("keep", "d", ""), ("keep/x", "f", "x"), ("etc", "d", ""),
            ("etc/passwd", "f", "root:x:0:0::/root:/bin/sh\napp:x:1500:1600::/home/app:/bin/sh\n"),
            ("etc/group", "f", "root:x:0:\ngrp:x:1700:\n"), ("lnk", "l", "dir")])
l1 = layer([("dir", "d", ""), ("dir/.wh.a", "f", ""), ("keep", "d", ""),
            ("keep/.wh..wh..opq", "f", ""), ("keep/y", "f", "y")])
ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in (l0, l1)]
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ids},
                  "history": [{"created_by": "l0"}, {"created_by": "l1"}]}).encode()
with tarfile.open(sys.argv[1], "w") as t:
    def add(name, data):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    add("l0.tar", l0); add("l1.tar", l1); add("config.json", cfg)
    add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["wh:1"],
                                      "Layers": ["l0.tar", "l1.tar"]}]).encode())
PY
run_ok "load a base with whiteouts" kiln load -i "$T/wh.tar"
printf 'FROM wh:1\nCOPY --chown=app:grp main.txt /lnk/f\nWORKDIR /keep/new\n' >"$T/wh.Dockerfile"
run_ok "build on it" kiln build -q -f "$T/wh.Dockerfile" -t wh:2 "$C"
L=$(layers wh:2 2)
expect_contains "dest through a symlinked dir of the base, owner from its passwd and group" "$L" \
	"2 f 0644 1500:1700 5 dir/f"
expect_contains "WORKDIR inside an opaque dir" "$L" "3 d 0755 0:0 0 keep/new"
printf 'FROM busybox\nCOPY --from=wh:1 /dir /d/\nCOPY --from=wh:1 /keep /k/\n' >"$T/wh2.Dockerfile"
run_ok "COPY --from an image with whiteouts" kiln build -q -f "$T/wh2.Dockerfile" -t wh:3 "$C"
L=$(layers wh:3)
expect_contains "files kept" "$L" "1 f 0644 0:0 1 d/b"
expect_contains "nested kept" "$L" "1 f 0644 0:0 1 d/sub/c"
expect_not_contains "whited-out file gone" "$L" "d/a"
expect_contains "opaque dir: upper entries" "$L" "2 f 0644 0:0 1 k/y"
expect_not_contains "opaque dir: lower entries hidden" "$L" "k/x"

# --- independent stages on worker threads: same image as one at a time ---------------
P="$T/par"; mkdir -p "$P"
{
	for i in 1 2 3 4 5 6; do
		echo "s$i" >"$P/f$i"
		printf 'FROM busybox AS s%d\nCOPY f%d /out/\nWORKDIR /w%d\n' "$i" "$i" "$i"
	done
	printf 'FROM busybox\n'
	for i in 1 2 3 4 5 6; do printf 'COPY --from=s%d /out/ /all/\n' "$i"; done
} >"$P/Dockerfile"
run_ok "parallel stages (4 jobs)" env SOURCE_DATE_EPOCH=1700000000 KILN_BUILD_JOBS=4 "$KILN" build -q -t par:4 "$P"
P4=$OUT
run_ok "the same, one stage at a time" env SOURCE_DATE_EPOCH=1700000000 KILN_BUILD_JOBS=1 "$KILN" build -q -t par:1 "$P"
expect_eq "same image either way" "$P4" "$OUT"
expect_eq "every stage's file is there" "$(layers par:4 | grep -c ' all/f')" "6"
printf 'FROM busybox AS bad\nCOPY missing /x\n' >>"$P/Dockerfile"
printf 'FROM busybox AS good\nCOPY f1 /x\nFROM busybox\nCOPY --from=bad /x /a\nCOPY --from=good /x /b\n' >>"$P/Dockerfile"
run_fail "a failing stage among parallel ones" 1 env KILN_BUILD_JOBS=4 "$KILN" build -t par:bad "$P"
expect_contains "its error and line" "$OUT" "Dockerfile:27: COPY missing /x"
run_fail "nothing tagged" 1 kiln inspect par:bad

# --- SIGTERM mid-build: temp files removed, nothing tagged ------------------------------
SLOW_PORT_FILE="$T/slow-port"
python3 - "$SLOW_PORT_FILE" "$T/slow-hit" >/dev/null 2>&1 <<'PY' &
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open(sys.argv[2], "w").close()
        self.send_response(200); self.send_header("Content-Length", "1000000"); self.end_headers()
        self.wfile.write(b"x" * 1000); self.wfile.flush()
        time.sleep(60)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
SLOW_PID=$!
at_exit "kill $SLOW_PID"
for _ in $(seq 50); do [ -s "$SLOW_PORT_FILE" ] && break; sleep 0.1; done
printf 'FROM busybox\nCOPY main.txt /\nADD http://127.0.0.1:%s/slow /slow\n' "$(cat "$SLOW_PORT_FILE")" >"$T/slow.Dockerfile"
"$KILN" build -q -f "$T/slow.Dockerfile" -t slow:1 "$C" >/dev/null 2>&1 &
BPID=$!
for _ in $(seq 100); do [ -e "$T/slow-hit" ] && break; sleep 0.1; done
sleep 0.2
expect_contains "the download is under way in a temp file" "$(ls "$ROOT/tmp")" "add-url-"
kill -TERM "$BPID"
wait "$BPID"
expect_eq "SIGTERM ends the build" "$?" "143"
expect_eq "no temp file left" "$(ls -A "$ROOT/tmp" | grep -v '\.lock$' || true)" ""
run_fail "nothing tagged" 1 kiln inspect slow:1

# a build killed with -9 leaves its temp dir; the next build removes it
mkdir -p "$ROOT/tmp/build-stale/add-x/root"
echo x >"$ROOT/tmp/build-stale/add-x/root/f"
: >"$ROOT/tmp/build-stale/.lock"
run_ok "a build after a killed one" kiln build -q -f "$C/small.Dockerfile" "$C"
[ ! -e "$ROOT/tmp/build-stale" ] && ok "the killed build's temp dir is gone" ||
	not_ok "the killed build's temp dir is gone"
expect_eq "and the new one left none" "$(ls -A "$ROOT/tmp" | grep -v '\.lock$' || true)" ""
