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
temps() { find "$ROOT/cache/records" "$ROOT/gc-roots" -type f -name '.*.tmp-*' 2>/dev/null | wc -l; }
expect_eq "no record published before the renames" 0 \
	"$(find "$ROOT/cache/records" -type f ! -name '.*' 2>/dev/null | wc -l)"
# the kill leaves the pending records and roots under their temp names
# (WORKDIR, 2 COPY: a record and a root each)
expect_eq "the killed build's pending record temps are left" 3 \
	"$(find "$ROOT/cache/records" -type f -name '.*.tmp-*' | wc -l)"
expect_eq "the killed build's pending root temps are left" 3 \
	"$(find "$ROOT/gc-roots" -type f -name '.*.tmp-*' | wc -l)"
run_ok "system check with the leftovers" kiln system check
expect_eq "system check lists each leftover temp" 6 \
	"$(printf '%s\n' "$OUT" | grep -c '^leftover temporary file \(cache/records\|gc-roots\)/\.')"
run_ok "prune after the kill" kiln builder prune -af
expect_eq "the prune swept the leftover temps" 0 "$(temps)"
run_ok "system check after the sweep" kiln system check
expect_not_contains "no leftover listed after the sweep" "$OUT" "leftover"
KILN_TEST_CRASH=index-written "$KILN" build -q -t b:1 "$T/b" >/dev/null 2>&1
expect_eq "every record published before index.json (WORKDIR, 2 COPY)" 3 \
	"$(find "$ROOT/cache/records" -type f | wc -l)"
run_ok "and those records are hits" kiln build -t b:1 --progress plain "$T/b"
expect_eq "3 cached steps" 3 "$(printf '%s\n' "$OUT" | grep -c ' CACHED$')"

# A running kiln's pending temps (it holds store.lock shared while the
# store is open, as a build does) are never swept: a gc that cannot take
# the lock skips (rmi) or waits (prune) and system check lists nothing.
mkfifo "$T/ready" "$T/go"
flock -s -F "$ROOT/store.lock" sh -c 'echo x >"$1"/cache/records/.k.tmp-live
	echo x >"$1"/gc-roots/.cache-k.tmp-live; echo >"$2"; read -r _ <"$3"' \
	sh "$ROOT" "$T/ready" "$T/go" &
holder=$!
at_exit '[ -z "$holder" ] || kill "$holder"'
read -r _ <"$T/ready"
run_ok "rmi while another kiln holds the store" kiln rmi a:1
expect_eq "its gc left the live temps" 2 "$(temps)"
run_ok "system check while another kiln holds the store" kiln system check
expect_not_contains "live temps are not listed as leftovers" "$OUT" "leftover"
"$KILN" builder prune -af >"$T/prune.out" 2>&1 &
pruner=$!
at_exit '[ -z "$pruner" ] || kill "$pruner"'
expect_eq "the live temps survive a concurrent prune" 2 "$(temps)"
if kill -0 "$pruner" 2>/dev/null; then ok "the prune waits for the store"; else not_ok "the prune waits for the store"; fi
echo >"$T/go"
wait "$holder"
holder=
wait "$pruner"
expect_eq "the prune succeeds once the store is free" 0 "$?"
pruner=
expect_eq "and sweeps what the gone kiln left" 0 "$(temps)"
