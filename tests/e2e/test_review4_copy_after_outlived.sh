#!/usr/bin/env bash
# Review 4 of 37ecbcc: once a COPY "sure to miss" (its stage missed with a
# new key) finds, after the copy, a record that outlived its parent's and
# uses it, the stage's chain is known again; yet
# builder/step_cache.c keeps slot.chain_new set (set in bld_cache_lookup,
# never cleared on a hit), so every later COPY of the stage (and of stages
# built on it) is deferred too: it reads every file and writes a whole
# layer, then hits and throws the layer away (an unnamed blob for gc),
# where the two-read path keys it from the stat cache without reading.
# Here WORKDIR's record is removed: COPY s1 is deferred and hits (fine),
# COPY s2 must then read nothing (strace: no read-only open of its files).
. "$(dirname "$0")/lib.sh"
busybox_base "layer snapshots need root"
command -v strace >/dev/null || skip_all "no strace (scripts/deps.sh installs it)"
C="$T/ctx"
mkdir -p "$C/s1" "$C/s2"
echo one >"$C/s1/marker-r4-one.txt"
echo two >"$C/s2/marker-r4-two.txt"
head -c 1000000 /dev/urandom >"$C/s2/big-r4.bin"
printf 'FROM busybox\nWORKDIR /app\nCOPY s1 /s1/\nCOPY s2 /s2/\n' >"$C/Dockerfile"
sleep 0.05 # past the coarse tick of the files' times
run_ok "first build" kiln build -q -t r4:1 "$C"
for k in "$ROOT"/cache/records/*; do
	grep -q 'WORKDIR' "$k" && rm -f "$k"
done
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=openat,open \
	-o "$T/strace.txt" "$KILN" build --progress=plain -t r4:2 "$C" >"$T/out" 2>&1
expect_eq "the rebuild succeeds, both COPYs from their records" "$(grep -c ' CACHED$' "$T/out")" 2
reads() { grep "$1\"" "$T/strace.txt" | grep -c 'O_RDONLY'; }
expect_eq "COPY s2 (after a hit) reads none of its files: marker" "$(reads marker-r4-two.txt)" 0
expect_eq "COPY s2 (after a hit) reads none of its files: big" "$(reads big-r4.bin)" 0
echo "1..$((_pass + _fail))"
