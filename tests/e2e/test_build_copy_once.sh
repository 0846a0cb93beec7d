#!/usr/bin/env bash
# A COPY that cannot hit (an earlier step of its stage missed with a new
# key, or --no-cache) reads each context file once: its cache key is
# hashed from the bytes it copies (cache_ctx_plan), not from a read of
# its own before the copy. The key is the one the two-read path gives:
# the same records as a build whose earlier steps hit first (so the
# COPY took the two-read path), a rebuild hits every step, and a build
# whose COPY record outlived its parent's still reuses that record.
# strace counts the opens of one file.
. "$(dirname "$0")/lib.sh"

busybox_base "layer snapshots need root"
command -v strace >/dev/null || skip_all "no strace (scripts/deps.sh installs it)"

C="$T/ctx"
mkdir -p "$C/src/deep"
echo 'the one file' >"$C/src/marker-7f3a.txt"
head -c 3000000 /dev/urandom >"$C/src/deep/big.bin"
echo 'linked' >"$C/src/a.txt"
ln "$C/src/a.txt" "$C/src/deep/b.txt"
ln -s ../a.txt "$C/src/deep/link"
: >"$C/src/empty"
cat >"$C/Dockerfile" <<'EOF2'
FROM busybox
WORKDIR /app
COPY src/ /app/src/
COPY . /all/
CMD ["cat", "/app/src/marker-7f3a.txt"]
EOF2
cat >"$C/Dockerfile.head" <<'EOF2'
FROM busybox
WORKDIR /app
EOF2
sleep 0.05 # past the coarse tick of the files' times
# A second store holding the same base image (same ID: the keys name it).
R2="$T/root2"
cp -a "$ROOT" "$R2"
# LeakSanitizer cannot run under ptrace: no leak check in the traced runs
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=openat,open -o "$@"; }

# A cold build: WORKDIR misses, so both COPYs key while they copy.
traced "$T/strace.txt" "$KILN" build -q -t once:1 "$C" >"$T/id1" 2>"$T/err1"
rc=$?
expect_eq "cold build under strace succeeds" "$rc" 0
[ $rc = 0 ] || sed 's/^/#   /' "$T/err1"
opens=$(grep -c 'marker-7f3a.txt"' "$T/strace.txt")
expect_eq "a cold build opens the marker file once per COPY that copies it" "$opens" 2
run_ok "the image runs" kiln run --rm once:1
expect_eq "with the marker's content" "$OUT" "the one file"

# Another store: WORKDIR recorded first, so the full build's first COPY
# follows a hit and takes the two-read path; the keys must be the same.
run_ok "the WORKDIR alone on a second store" env KILN_ROOT="$R2" "$KILN" build -q -f "$C/Dockerfile.head" "$C"
run_ok "the full build there" env KILN_ROOT="$R2" "$KILN" build --progress=plain -t once:1 "$C"
expect_contains "its WORKDIR hits" "$OUT" "#3 CACHED"
expect_eq "the same cache records on both stores" "$(ls "$ROOT/cache/records" | sort | tr '\n' ' ')" \
	"$(ls "$R2/cache/records" | sort | tr '\n' ' ')"
expect_eq "the same context listings" "$(cat "$ROOT"/cache/inputs/* | sort | md5sum)" \
	"$(cat "$R2"/cache/inputs/* | sort | md5sum)"

# A rebuild hits every step, with the same image.
run_ok "rebuild" kiln build --progress=plain -t once:1 "$C"
expect_eq "every layer step hits" "$(printf '%s\n' "$OUT" | grep -c ' CACHED$')" 3
run_ok "rebuild -q" kiln build -q -t once:1 "$C"
expect_eq "the same image ID" "$OUT" "$(cat "$T/id1")"

# --no-cache reads once as well, and keys the same.
traced "$T/strace2.txt" "$KILN" build -q --no-cache -t once:2 "$C" >/dev/null 2>"$T/err2"
expect_eq "--no-cache opens the marker once per COPY" "$(grep -c 'marker-7f3a.txt"' "$T/strace2.txt")" 2
expect_eq "--no-cache recorded no other keys" "$(ls "$ROOT/cache/records" | wc -l)" 3

# A COPY record whose parent's record is gone: WORKDIR misses, the COPY
# is copied while keyed, then its lookup finds the old record and uses it.
copy_layers() { kiln image inspect --format '{{json .RootFS.Layers}}' "$1" | tr -d '[]"' | cut -d, -f3-; }
layers_before=$(copy_layers once:2) # --no-cache recorded its layers
for k in "$ROOT"/cache/records/*; do
	grep -q 'WORKDIR' "$k" && rm -f "$k"
done
expect_eq "one record (WORKDIR's) removed" "$(ls "$ROOT/cache/records" | wc -l)" 2
run_ok "build with the parent record gone" kiln build --progress=plain -t once:3 "$C"
expect_eq "the WORKDIR misses" "$(printf '%s\n' "$OUT" | grep -c '^#3 [0-9.]* cache miss: ')" 1
expect_eq "both COPYs use their records" "$(printf '%s\n' "$OUT" | grep -c ' CACHED$')" 2
expect_eq "the recorded COPY layers" "$(copy_layers once:3)" "$layers_before"
run_ok "system check" kiln system check
run_ok "the image runs" kiln run --rm once:3
expect_eq "with the marker's content" "$OUT" "the one file"
