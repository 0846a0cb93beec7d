#!/usr/bin/env bash
# The build cache (issue 13): a rebuild with nothing changed runs no step
# and makes the same image ID; touch keeps every hit; chmod +x misses and
# names the file; edits to files no COPY reads or .dockerignore excludes
# keep every hit; a change only the last COPY sees reuses every earlier
# layer; a changed --build-arg misses and names the arg; a content change
# with size and mtime put back is detected; --no-cache; --cache-report;
# a record whose layer blob was removed is a miss, not an error.
# (RUN steps wait for the runtime in the builder: COPY and WORKDIR here.)
. "$(dirname "$0")/lib.sh"

BB="$T/busybox.tar"
KILN_TEST_TMP="$T" "$KILN_SRC/testdata/make-busybox.sh" "$BB" >/dev/null 2>&1 ||
	skip_all "no static busybox (apt-get install busybox-static)"
[ "$(id -u)" = 0 ] || skip_all "layer snapshots need root"
kiln import -m busybox -c 'CMD ["sh"]' "$BB" busybox:latest >/dev/null || { not_ok "import busybox"; exit 1; }

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
