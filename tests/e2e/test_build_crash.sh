#!/usr/bin/env bash
# A build's group commit (image/batch.c) killed at each of its stages
# (KILN_TEST_CRASH): blobs and cache records are flushed by one syncfs
# before any is renamed into place, and index.json is renamed last, after
# a second sync. After the kill: nothing half-published (system check is
# clean, no record names a missing blob), the image stored before is
# intact, the killed build's tag does not exist, and building again gives
# the image a clean store gives (whatever records the kill left are sound).
. "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1700000000

mkdir -p "$T/a" "$T/b/sub"
echo a >"$T/a/f"
printf 'FROM scratch\nCOPY f /f\n' >"$T/a/Dockerfile"
head -c 300000 /dev/urandom >"$T/b/big"
echo one >"$T/b/sub/one"
cat >"$T/b/Dockerfile" <<'EOF'
FROM scratch
WORKDIR /app
COPY sub /app/sub
COPY big /app/
LABEL x=y
EOF
run_ok "build a:1" kiln build -q -t a:1 "$T/a"
a_id=$OUT
run_ok "a clean build of b on another store" env KILN_ROOT="$T/clean" "$KILN" build -q -t b:1 "$T/b"
want=$OUT

# Records whose layer blob is not in the store: what a torn publication
# would leave (a record is only ever renamed in after its blob).
orphans() {
	local r d n=0
	for r in "$ROOT"/cache/records/*; do
		[ -f "$r" ] || continue
		d=$(grep -a -o 'layer-digest [0-9]*:sha256:[0-9a-f]*' "$r" | sed 's/.*sha256://')
		[ -z "$d" ] || [ -f "$ROOT/images/blobs/sha256/$d" ] || n=$((n + 1))
	done
	echo "$n"
}

for point in batch-synced batch-renamed index-written; do
	KILN_TEST_CRASH=$point "$KILN" build -q -t b:1 "$T/b" >/dev/null 2>&1
	expect_eq "killed at $point" 137 "$?"
	run_ok "$point: system check is clean" kiln system check
	expect_eq "$point: no record without its blob" 0 "$(orphans)"
	run_ok "$point: a:1 still inspects" kiln image inspect -f '{{.Id}}' a:1
	expect_eq "$point: a:1 is the same image" "$a_id" "$OUT"
	run_ok "$point: a:1 saves" kiln save -o "$T/a.tar" a:1
	run_fail "$point: the killed build's tag does not exist" nonzero kiln image inspect b:1
	run_ok "$point: build again" kiln build -q -t b:1 "$T/b"
	expect_eq "$point: the image a clean store builds" "$want" "$OUT"
	run_ok "$point: system check after the rebuild" kiln system check
	run_ok "$point: prune the cache" kiln builder prune -af
	run_ok "$point: remove b:1" kiln rmi b:1
done

# the ordering itself: a kill after the first sync has renamed nothing,
# one before the index rename has published every blob and record
run_ok "prune" kiln builder prune -af
KILN_TEST_CRASH=batch-synced "$KILN" build -q -t b:1 "$T/b" >/dev/null 2>&1
expect_eq "no record published before the renames" 0 \
	"$(find "$ROOT/cache/records" -type f ! -name '.*' 2>/dev/null | wc -l)"
KILN_TEST_CRASH=index-written "$KILN" build -q -t b:1 "$T/b" >/dev/null 2>&1
expect_eq "every record published before index.json (WORKDIR, 2 COPY)" 3 \
	"$(find "$ROOT/cache/records" -type f ! -name '.*' | wc -l)"
run_ok "and those records are hits" kiln build -t b:1 --progress plain "$T/b"
expect_eq "3 cached steps" 3 "$(printf '%s\n' "$OUT" | grep -c ' CACHED$')"
