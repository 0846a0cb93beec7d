#!/usr/bin/env bash
# The build cache (issue 13): a rebuild with nothing changed runs no
# step and makes the same image ID (also with ARG first after FROM
# scratch); touch keeps every hit; chmod +x misses and names the file;
# edits to files no COPY reads or .dockerignore excludes keep every hit;
# a change only the last COPY sees reuses every earlier layer; a changed
# --build-arg misses and names the arg (a declared or ENV proxy too, an
# undeclared proxy arg keeps the hit); a content change with size and
# mtime put back is detected; --no-cache; --cache-report; a record whose
# layer blob was removed is a miss, not an error; the teaching example
# (COPY package.json, RUN install, COPY .) keeps the RUN cached after a
# source edit and misses it after a package.json edit, naming the file;
# RUN --mount=type=bind content is in the key; COPY --from names the
# source stage's step that missed; build history diff and trace;
# hardlinks and copies key alike (as BuildKit); 100,000 files and a 4 GB
# sparse file build in bounded memory; sockets and fifos are skipped, and
# devices refused by name.
. "$(dirname "$0")/lib.sh"

busybox_base "layer snapshots need root"

C="$T/ctx"
mkdir -p "$C/src" "$C/docs"
echo '{"name":"app"}' >"$C/package.json"
echo 'echo hi' >"$C/src/run.sh"
echo 'main' >"$C/src/main.c"
echo 'notes' >"$C/docs/notes.md"
echo 'scratch' >"$C/local.log"
printf 'local.log\n' >"$C/.dockerignore"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox
ARG VERSION=1
COPY package.json /app/
ENV V=$VERSION
COPY src /app/src
WORKDIR /app
COPY . /all
EOF
# docs/ is read by the last COPY only; this Dockerfile copies only src/
cat >"$C/Dockerfile.src" <<'EOF'
FROM busybox
COPY package.json /app/
COPY src /app/src
EOF

build() { # ARGS... -> $OUT (plain progress), $ID
	OUT=$(kiln build --progress=plain "$@" 2>&1) || { echo "$OUT" | sed 's/^/#   /'; return 1; }
	ID=$(printf '%s\n' "$OUT" | sed -n 's/^kiln: built \(sha256:[0-9a-f]*\) .*/\1/p')
}
misses() { printf '%s\n' "$OUT" | grep -c 'cache miss:' || true; }
cached() { printf '%s\n' "$OUT" | grep -c ' CACHED$' || true; }

build -t app:1 "$C" || not_ok "first build"
expect_eq "first build: every layer step misses" "$(misses)" 4
expect_contains "first build says why" "$OUT" "cache miss: no previous build of this target"
ID1=$ID

build -t app:1 --cache-report "$T/report.json" "$C" || not_ok "rebuild"
expect_eq "rebuild with nothing changed: no step runs" "$(misses)" 0
expect_eq "rebuild: every layer step CACHED" "$(cached)" 4
expect_eq "rebuild: same image ID" "$ID" "$ID1"
expect_contains "summary counts hits and the time saved" "$OUT" "4 cached"
expect_contains "summary says the time saved" "$OUT" "s saved)"
R=$(cat "$T/report.json")
expect_contains "report: hits" "$R" '"hits": 4'
expect_contains "report: a step with its line" "$R" '"step": "[2/5] COPY package.json /app/", "line": 3'
expect_contains "report: result" "$R" '"result": "hit"'

touch "$C/src/run.sh" "$C/package.json"
build -t app:1 "$C" || not_ok "build after touch"
expect_eq "touch keeps every hit" "$(misses)" 0
expect_eq "touch: same image ID" "$ID" "$ID1"

echo 'ignored edit' >>"$C/local.log"
build -t app:1 "$C" || not_ok "build after an ignored edit"
expect_eq "a .dockerignored edit keeps every hit" "$(misses)" 0

build -f "$C/Dockerfile.src" -t src:1 "$C" || not_ok "build of Dockerfile.src"
echo 'more notes' >>"$C/docs/notes.md"
build -f "$C/Dockerfile.src" -t src:1 "$C" || not_ok "Dockerfile.src after a docs edit"
expect_eq "an edit to a file no COPY reads keeps every hit" "$(misses)" 0

build -t app:1 "$C" || not_ok "build after a docs edit"
expect_eq "a file only the last COPY sees: one miss" "$(misses)" 1
expect_contains "earlier layers reused, the file named" "$OUT" \
	"cache miss: files changed: docs/notes.md (content)"
ID2=$ID

chmod +x "$C/src/run.sh"
build -t app:1 "$C" || not_ok "build after chmod +x"
expect_contains "chmod +x misses and names the file and modes" "$OUT" \
	"cache miss: files changed: src/run.sh (mode 644 -> 755)"
expect_contains "later steps name the parent that missed" "$OUT" \
	"cache miss: parent step missed: #4 [3/5] COPY src /app/src"
expect_contains "the first COPY still hits" "$(printf '%s\n' "$OUT" | sed -n '/COPY package.json/,/^$/p')" "CACHED"

# content changed, size and mtime put back (BuildKit reuses the stale file: moby/buildkit#4817)
cp -p "$C/src/main.c" "$T/main.ref"
echo 'MAIN' >"$C/src/main.c"
touch -r "$T/main.ref" "$C/src/main.c"
build -t app:1 "$C" || not_ok "build after a hidden edit"
expect_contains "a content change with size and mtime put back is detected and named" "$OUT" \
	"cache miss: files changed: src/main.c (content)"

build -t app:1 --build-arg VERSION=2 "$C" || not_ok "build with a changed arg"
expect_contains "a changed --build-arg misses and names the arg" "$OUT" \
	"cache miss: build arg VERSION changed: 1 -> 2"
# its first use is ENV V=$VERSION: the COPY before it (declared after the ARG) hits
expect_contains "the step before the arg's first use still hits" \
	"$(printf '%s\n' "$OUT" | sed -n '/COPY package.json/,/^$/p')" "CACHED"
expect_eq "the three layer steps after it miss" "$(misses)" 3
# an arg used only in a COPY heredoc's body (expanded: the delimiter is not
# quoted) misses there: the body is keyed unexpanded, so the arg must be
H="$T/heredoc"
mkdir -p "$H"
printf 'FROM busybox\nARG HV=one\nCOPY <<EOF /h\nvalue=$HV\nEOF\n' >"$H/Dockerfile"
build -t heredoc:1 "$H" || not_ok "heredoc build"
build -t heredoc:2 --build-arg HV=two "$H" || not_ok "heredoc build with a changed arg"
expect_eq "an arg used in a COPY heredoc body misses" "$(misses)" 1
expect_eq "the heredoc body has the new value" \
	"$(kiln run --rm --network none heredoc:2 cat /h 2>&1)" "value=two"
# proxies (docker's rule): an undeclared --build-arg http_proxy reaches the
# RUN and a change keeps the hit; declared with ARG, or set with ENV, a
# change misses (the RUN sees the new value), its value masked
PX="$T/proxy"
mkdir -p "$PX"
printf 'FROM busybox\nRUN echo "${http_proxy#*@}" >/u\n' >"$PX/Dockerfile.undeclared"
printf 'FROM busybox\nARG http_proxy\nRUN echo "$http_proxy" >/d\n' >"$PX/Dockerfile.arg"
for v in http://u:pw1@one:3128 http://u:pw2@two:3128; do
	build -t px:u -f "$PX/Dockerfile.undeclared" --build-arg "http_proxy=${v/u:/v:un}" "$PX" &&
		build -t px:d -f "$PX/Dockerfile.arg" --build-arg "http_proxy=$v" "$PX" ||
		not_ok "proxy builds ($v)"
	printf 'FROM busybox\nENV HTTPS_PROXY=%s\nRUN echo "$HTTPS_PROXY" >/e\n' "$v" >"$PX/Dockerfile.env"
	build -t px:e -f "$PX/Dockerfile.env" "$PX" || not_ok "ENV proxy build ($v)"
done
expect_eq "a declared proxy ARG that changed misses" \
	"$(kiln run --rm --network none px:d cat /d 2>&1)" "http://u:pw2@two:3128"
expect_eq "an ENV proxy that changed misses" "$(kiln run --rm --network none px:e cat /e 2>&1)" \
	"http://u:pw2@two:3128"
expect_eq "an undeclared proxy build arg keeps the hit" \
	"$(kiln run --rm --network none px:u cat /u 2>&1)" "one:3128"
expect_eq "an undeclared proxy's password never reaches the store" \
	"$(grep -rl 'v:unpw' "$ROOT" 2>/dev/null | wc -l)" 0
# ENV then ARG of one name: the ARG wins in the RUN (BuildKit's order);
# ARG then ENV: the ENV. Same env and args, so the order must be in the key.
printf 'FROM busybox\nENV Z=e\nARG Z=a\nRUN echo "$Z" >/z\n' >"$PX/Dockerfile.order1"
printf 'FROM busybox\nARG Z=a\nENV Z=e\nRUN echo "$Z" >/z\n' >"$PX/Dockerfile.order2"
build -t order:1 -f "$PX/Dockerfile.order1" "$PX" && build -t order:2 -f "$PX/Dockerfile.order2" "$PX" ||
	not_ok "ENV/ARG order builds"
expect_eq "ENV then ARG: the ARG's value, then ARG then ENV: the ENV's (no false hit)" \
	"$(kiln run --rm --network none order:1 cat /z 2>&1) $(kiln run --rm --network none order:2 cat /z 2>&1)" "a e"
build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=s3cret "$C" || not_ok "secret arg"
build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=other "$C" || not_ok "secret arg 2"
expect_not_contains "a secret arg's value never shows" "$OUT" "s3cret"

build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=other --no-cache "$C" || not_ok "--no-cache"
expect_eq "--no-cache: every layer step runs" "$(misses)" 4
expect_contains "--no-cache is the reason" "$OUT" "cache miss: cache disabled (--no-cache)"

# a record whose layer blob was removed: a miss, not an error
build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=other "$C" || not_ok "rebuild"
expect_eq "all hits before the blob goes" "$(misses)" 0
LAST=$(ls -t "$ROOT/cache/records" | head -1)
DIG=$(sed -n 's/^layer-digest [0-9]*:sha256:\([0-9a-f]*\)$/\1/p' "$ROOT/cache/records/$LAST")
kiln rmi -f app:1 >/dev/null 2>&1
rm -f "$ROOT/images/blobs/sha256/$DIG"
build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=other "$C" ||
	not_ok "build after a cached blob was removed"
expect_contains "a removed blob is a miss with its reason" "$OUT" \
	"cache miss: the cached layer was removed from the store"

# the cache is a GC root: removing the images (which collects garbage)
# and image prune keep it
kiln rmi -f app:1 src:1 >/dev/null 2>&1
kiln image prune -f >/dev/null 2>&1
build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=other "$C" || not_ok "after image prune"
expect_eq "image prune never breaks the cache" "$(misses)" 0

# a changed base image (same layers, another config): FROM's first step misses, both IDs named
OLD_BASE=$(kiln inspect -f '{{.Id}}' busybox)
kiln import -m busybox -c 'CMD ["sh", "-l"]' "$BB" busybox:latest >/dev/null || not_ok "re-import busybox"
NEW_BASE=$(kiln inspect -f '{{.Id}}' busybox)
build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=other "$C" || not_ok "build on a new base"
expect_contains "a changed base image misses and names both IDs" "$OUT" \
	"cache miss: base image changed: $OLD_BASE -> $NEW_BASE"

# --- builder du, history, prune ------------------------------------------------
OUT=$(kiln builder du 2>&1)
expect_contains "builder du lists records" "$OUT" "RECLAIMABLE"
expect_contains "builder du totals" "$OUT" "Total:"
OUT=$(kiln builder history ls 2>&1)
expect_contains "builder history ls lists builds with a hit ratio" "$OUT" "HIT RATIO"
expect_contains "builder history ls shows tags" "$OUT" "app:1"
OUT=$(kiln builder history inspect last 2>&1)
expect_contains "builder history inspect shows each step" "$OUT" "[5/5] COPY . /all (line 7)"
run_fail "builder history inspect of an unknown build" 1 kiln builder history inspect ffff0000
N_REC=$(ls "$ROOT/cache/records" | wc -l)
expect_eq "system df counts the build cache records" \
	"$(kiln system df | awk '/^Build Cache/ {print $3}')" "$N_REC"
run_fail "builder prune with a bad filter is a usage error" 125 kiln builder prune --filter what=1 -f
run_fail "builder prune with a bad size is a usage error" 125 kiln builder prune --keep-storage 1x -f
# --no-cache-filter: only the named stage runs again
printf 'FROM busybox AS base\nCOPY package.json /p/\nFROM base AS app\nCOPY src /s\n' >"$C/Dockerfile.multi"
build -f "$C/Dockerfile.multi" -t multi:1 "$C" || not_ok "multi-stage build"
build -f "$C/Dockerfile.multi" -t multi:1 --no-cache-filter app "$C" || not_ok "--no-cache-filter"
expect_eq "--no-cache-filter app: one step runs" "$(misses)" 1
expect_contains "--no-cache-filter is the reason" "$OUT" \
	"cache miss: cache disabled for stage \`app\` (--no-cache-filter)"
expect_eq "the other stage hits" "$(cached)" 1

kiln rmi -f app:1 >/dev/null 2>&1
run_ok "builder prune -a -f" kiln builder prune -a -f
expect_contains "prune reports the space" "$OUT" "Total:"
expect_eq "no record left" "$(ls "$ROOT/cache/records" | wc -l)" "0"
build -t app:1 --build-arg VERSION=2 --build-arg API_TOKEN=other "$C" || not_ok "build after prune"
expect_eq "after builder prune -a every layer step runs" "$(misses)" 4

# --- the teaching example: dependencies first, sources last ----------------------
# COPY package.json, RUN install, COPY . : a source edit keeps the install
# step cached; a package.json edit misses it, and the reason names the file.
P="$T/node"
mkdir -p "$P/src"
echo '{"dependencies":{"left-pad":"1.3.0"}}' >"$P/package.json"
echo 'console.log("hi")' >"$P/src/index.js"
cat >"$P/Dockerfile" <<'EOF2'
FROM busybox
WORKDIR /app
COPY package.json /app/
RUN cp package.json /installed.json && echo installed
COPY . /app
EOF2
build --network none -t node:1 "$P" || not_ok "teaching example: first build"
expect_contains "teaching example: the install step ran" "$OUT" "installed"
echo 'console.log("edited")' >"$P/src/index.js"
build --network none -t node:1 "$P" || not_ok "teaching example: after a source edit"
expect_contains "a source edit keeps the install step cached" \
	"$(printf '%s\n' "$OUT" | sed -n '/RUN cp package.json/,/^$/p')" "CACHED"
expect_contains "and only the last COPY runs, naming the file" "$OUT" \
	"cache miss: files changed: src/index.js (content)"
expect_eq "a source edit: one step runs" "$(misses)" 1
echo '{"dependencies":{"left-pad":"1.3.1"}}' >"$P/package.json"
build --network none -t node:1 "$P" || not_ok "teaching example: after a package.json edit"
expect_contains "a package.json edit misses its COPY, naming the file" "$OUT" \
	"cache miss: files changed: package.json (content)"
expect_contains "and the install step, naming the step and the file" \
	"$(printf '%s\n' "$OUT" | sed -n '/RUN cp package.json/,/^$/p')" \
	"cache miss: parent step missed: #4 [3/5] COPY package.json /app/ (files changed: package.json (content))"
expect_contains "the install step ran again" "$OUT" "installed"

# --- build history diff and trace ---------------------------------------------------
IDS=$(kiln build history ls | awk '/ node:1 / {print $1}')
NEW=$(printf '%s\n' "$IDS" | sed -n 1p) PREV=$(printf '%s\n' "$IDS" | sed -n 2p)
run_ok "build history diff of the last two builds" kiln build history diff "$PREV" "$NEW"
expect_contains "diff: an unchanged step" "$OUT" "= [2/5] WORKDIR /app"
expect_contains "diff: the changed COPY" "$OUT" "~ [3/5] COPY package.json /app/"
expect_contains "diff: with the file" "$OUT" "    files changed: package.json (content)"
expect_contains "diff: the RUN after it" "$OUT" "~ [4/5] RUN cp package.json"
expect_contains "diff: counts" "$OUT" "1 same, 3 changed, 0 added, 0 removed"
run_ok "builder history diff is the same command" kiln builder history diff "$PREV" "$NEW"
run_fail "diff of an unknown build" 1 kiln build history diff "$PREV" ffff0000
run_ok "build history trace -o" kiln build history trace "$NEW" -o "$T/trace.json"
OUT=$(python3 - "$T/trace.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
x = [e for e in d["traceEvents"] if e["ph"] == "X"]
ok = all(isinstance(e["ts"], int) and e["ts"] >= 0 and isinstance(e["dur"], int) and e["dur"] >= 1
         and e["cat"] in ("hit", "miss") and e["pid"] == 1 and "line" in e["args"] for e in x)
print("slices=%d ok=%s names=%s" % (len(x), ok, "|".join(e["name"] for e in x)))
PY
)
expect_contains "trace: one slice per step, Chrome trace-event fields" "$OUT" "slices=4 ok=True"
expect_contains "trace: slices named after the steps" "$OUT" "[3/5] COPY package.json /app/|[4/5] RUN"

# --- RUN --mount=type=bind: the mounted content is part of the key ------------
mkdir -p "$P/conf"
echo 'level=1' >"$P/conf/app.conf"
printf 'FROM busybox\nRUN --mount=type=bind,source=conf,target=/conf cat /conf/app.conf\n' >"$P/Dockerfile.bind"
build --network none -f "$P/Dockerfile.bind" -t bind:1 "$P" || not_ok "bind mount: first build"
build --network none -f "$P/Dockerfile.bind" -t bind:1 "$P" || not_ok "bind mount: rebuild"
expect_eq "bind mount: nothing changed, the RUN hits" "$(misses)" 0
echo 'level=2' >"$P/conf/app.conf"
build --network none -f "$P/Dockerfile.bind" -t bind:1 "$P" || not_ok "bind mount: after an edit"
expect_contains "an edit of a bound file misses the RUN and names the file" "$OUT" \
	"cache miss: files changed: conf/app.conf (content)"
expect_contains "and the RUN sees the new content" "$OUT" "level=2"
echo 'unrelated' >"$P/src/other.js"
build --network none -f "$P/Dockerfile.bind" -t bind:1 "$P" || not_ok "bind mount: unrelated edit"
expect_eq "a file outside the bound source keeps the hit" "$(misses)" 0

# --- COPY --from: the miss names the step of the source stage that changed -----
printf 'FROM busybox AS gen\nCOPY src /src\nRUN cat /src/index.js > /out.txt\nFROM busybox\nCOPY --from=gen /out.txt /o\n' >"$P/Dockerfile.from"
build --network none -f "$P/Dockerfile.from" -t from:1 "$P" || not_ok "COPY --from: first build"
echo 'console.log("again")' >"$P/src/index.js"
build --network none -f "$P/Dockerfile.from" -t from:1 "$P" || not_ok "COPY --from: after an edit"
expect_contains "COPY --from names the source stage, its step and the file" "$OUT" \
	"cache miss: source stage \`gen\` changed: step #3 [gen 2/3] COPY src /src missed (files changed: src/index.js (content))"

# --- hardlinks and copies: keyed alike, as BuildKit does ------------------------
# (docker 20.10's BuildKit, measured: a context whose two equal copies became
# one file hardlinked twice keeps COPY CACHED; only content, mode and xattrs count)
H="$T/hl"
mkdir -p "$H/d"
echo same >"$H/d/a"
cp "$H/d/a" "$H/d/b"
printf 'FROM busybox\nCOPY d /d\n' >"$H/Dockerfile"
build -t hl:1 "$H" || not_ok "hardlinks: first build (copies)"
rm "$H/d/b" && ln "$H/d/a" "$H/d/b"
build -t hl:1 "$H" || not_ok "hardlinks: rebuild (a hardlink)"
expect_eq "a copy replaced by a hardlink of equal content keeps the hit" "$(misses)" 0
echo other >"$H/d/c" && rm "$H/d/b" && ln "$H/d/c" "$H/d/b"
build -t hl:1 "$H" || not_ok "hardlinks: relinked to other content"
expect_contains "a hardlink to other content misses and names it" "$OUT" "d/b (content)"

# --- hostile contexts ------------------------------------------------------------
# peak RSS of a command, KB (the children's ru_maxrss)
peak_rss() { # (under ASan: a small quarantine, so freed memory is reused)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)' "$@"
}
# ASan keeps freed memory in quarantine and pads every allocation
LIMIT_MB=150
grep -q __asan_init "$KILN" 2>/dev/null && LIMIT_MB=400
# 100,000 empty files (on a tmpfs: creating them on disk alone takes many seconds)
M="$T/many"
mkdir -p "$M"
if mount -t tmpfs -o size=512m,nr_inodes=200000 kiln-cache-test "$M"; then
	at_exit "umount '$M'"
	python3 -c 'import os, sys
for i in range(100):
    d = os.path.join(sys.argv[1], "ctx", "d%02d" % i)
    os.makedirs(d)
    for k in range(1000):
        os.close(os.open(os.path.join(d, "f%03d" % k), os.O_CREAT | os.O_WRONLY, 0o644))' "$M"
	printf 'FROM busybox\nCOPY . /many\n' >"$M/ctx/Dockerfile"
	KB=$(peak_rss "$KILN" build -t many:1 "$M/ctx")
	if [ "$KB" -gt 0 ] && [ "$KB" -lt $((LIMIT_MB * 1024)) ]; then ok "100,000 empty files build in bounded memory ($((KB / 1024)) MB)"
	else not_ok "100,000 empty files: peak RSS ${KB} KB (limit ${LIMIT_MB} MB, -1: failed)"; fi
	run_ok "the image has them all" kiln history many:1
	KB=$(peak_rss "$KILN" build -t many:1 "$M/ctx")
	if [ "$KB" -gt 0 ] && [ "$KB" -lt $((LIMIT_MB * 1024)) ]; then ok "and the cached rebuild too ($((KB / 1024)) MB)"
	else not_ok "100,000 empty files, rebuild: peak RSS ${KB} KB"; fi
else
	not_ok "mount a tmpfs for the 100,000-file context"
fi
# a 4 GB sparse file that no COPY selects is never read (and costs nothing);
# hashing one is bounded too (tests/unit/cache_ctxhash_test.c: sparse)
S="$T/sparse"
mkdir -p "$S"
truncate -s 4G "$S/disk.img"
echo small >"$S/small.txt"
printf 'FROM busybox\nCOPY small.txt /\n' >"$S/Dockerfile"
KB=$(peak_rss "$KILN" build -t sparse:1 "$S")
if [ "$KB" -gt 0 ] && [ "$KB" -lt $((LIMIT_MB * 1024)) ]; then ok "a context with a 4 GB sparse file builds in bounded memory ($((KB / 1024)) MB)"
else not_ok "4 GB sparse file: peak RSS ${KB} KB"; fi

# --- special files ------------------------------------------------------------------
# docker 20.10 (measured with a private dockerd): BuildKit skips a fifo, and
# sends a socket or a device as an empty regular file; the classic builder
# copies fifos and devices and skips sockets. kiln: sockets and fifos are
# left out (as BuildKit leaves fifos: a project's control fifo does not
# fail the build), devices are refused, naming the path.
X="$T/special"
mkdir -p "$X"
echo a >"$X/a.txt"
printf 'FROM busybox\nCOPY . /x\n' >"$X/Dockerfile"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$X/agent.sock"
if build -t special:1 "$X"; then ok "a context with a socket builds"; else not_ok "a context with a socket builds"; fi
OUT=$(kiln run --rm --network none special:1 ls -a /x 2>&1)
expect_contains "the other files are copied" "$OUT" "a.txt"
expect_not_contains "the socket is skipped" "$OUT" "agent.sock"
mkfifo "$X/pipe"
if build -t special:2 "$X"; then ok "a context with a fifo builds"; else not_ok "a context with a fifo builds"; fi
OUT=$(kiln run --rm --network none special:2 ls -a /x 2>&1)
expect_contains "the files beside it are copied" "$OUT" "a.txt"
expect_not_contains "the fifo is left out, as BuildKit does" "$OUT" "pipe"
rm -f "$X/pipe"
mknod "$X/null" c 1 3
run_fail "a device in the context is refused" 1 kiln build -t special:1 "$X"
expect_contains "naming the device" "$OUT" "\`null\` is a device"
rm -f "$X/null"
# named as the source or matched by a wildcard, a fifo or socket is left
# out too, its destination directory made (as BuildKit 20.10 does for a
# fifo); a rebuild hits, and the key changes when the fifo becomes a file
mkfifo "$X/pipe"
printf 'FROM scratch\nCOPY pipe /w/\nCOPY pip* /v/\nCOPY agent.sock a.txt /u/\n' >"$X/Dockerfile"
run_ok "a fifo and a socket named as sources build" kiln build -q -o "type=local,dest=$T/named" "$X"
expect_eq "they are left out, the destinations made" "$(cd "$T/named" && find . -mindepth 1 | sort | tr '\n' ' ')" "./u ./u/a.txt ./v ./w "
if build -t named:1 "$X"; then ok "the rebuild"; else not_ok "the rebuild"; fi
expect_eq "it hits" "$(cached)" 3
rm "$X/pipe" && echo now-a-file >"$X/pipe"
run_ok "the fifo made a file" kiln build -q -o "type=local,dest=$T/named2" "$X"
expect_eq "is copied" "$(cat "$T/named2/w/pipe" "$T/named2/v/pipe")" "$(printf 'now-a-file\nnow-a-file')"
rm -f "$X/pipe"

# ARG first after FROM scratch: its history entry takes the time of the
# stage's first step (a hit's: its record's), not the build's, so no-op
# rebuilds keep the image ID (it was new on every build)
A="$T/argfirst"
mkdir -p "$A"
echo a >"$A/a"
printf 'FROM scratch\nARG X=1\nCOPY a /a\n' >"$A/Dockerfile"
ids=
for i in 1 2 3 4; do
	run_ok "ARG first: build $i" kiln build -q -t argfirst:1 "$A"
	ids="$ids$OUT "
done
expect_eq "ARG first: one image ID over 4 builds ($ids)" 1 "$(printf '%s\n' $ids | sort -u | wc -l)"
