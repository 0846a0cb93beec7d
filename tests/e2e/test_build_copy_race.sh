#!/usr/bin/env bash
# The context changing between a COPY's cache key and its copy (the build
# stopped there by KILN_TEST_STOP=copy-keyed): the COPY takes the entries
# and stats its key hashed (builder/copy_items.c copy_add_walk) and checks
# each file it read against the hashed stat, so the layer stored under a
# key never holds other bytes than the key hashed. A file rewritten in
# place (same size, same inode) fails the build naming it and stores
# nothing; a file added meanwhile is not in the layer (the key did not
# hash it) and the next build misses and takes it; a symlink retargeted
# meanwhile keeps the hashed target.
. "$(dirname "$0")/lib.sh"

C="$T/ctx"
mkdir -p "$C/src"
echo one >"$C/src/a"
echo bee >"$C/src/b"
ln -s a "$C/src/l"
printf 'FROM scratch\nCOPY src /src\n' >"$C/Dockerfile"

pid=
at_exit '[ -n "$pid" ] && kill -9 $pid 2>/dev/null'
# starts a build that stops after its COPY's key (a miss: a hit runs no
# COPY); waits until it is stopped
build_stopped() { # TAG
	KILN_TEST_STOP=copy-keyed "$KILN" build -q -t "$1" "$C" >"$T/out" 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do
		[ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && return 0
		sleep 0.05
	done
	return 1
}
finish_build() { kill -CONT $pid; wait $pid; rc=$?; pid=; }
export_file() { # TAG PATH: the file's content in the image (via kiln save)
	rm -rf "$T/x" && mkdir -p "$T/x" && kiln save -o "$T/x/img.tar" "$1" &&
		tar -xf "$T/x/img.tar" -C "$T/x" &&
		for l in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$T/x/manifest.json"); do
			tar -xf "$T/x/$l" -C "$T/x" "$2" 2>/dev/null
		done
	cat "$T/x/$2" 2>/dev/null
}

# 1. rewritten in place between key and copy: same size, same inode
build_stopped r1 && ok "the build stopped after the COPY's key" || not_ok "the build stopped after the COPY's key"
sleep 0.02
printf 'two\n' | dd of="$C/src/a" conv=notrunc status=none
finish_build
expect_eq "a file rewritten after the key fails the build" 1 "$rc"
expect_contains "the error names the file" "$(cat "$T/out")" "src/a\` changed while being read"
run_fail "nothing tagged" nonzero kiln image inspect r1
run_ok "the next build takes the new bytes" kiln build -q -t r1 "$C"
expect_eq "the image has them" "two" "$(export_file r1 src/a)"

# 2. a file added between key and copy: not in this layer (its key did not
# hash it); the next build misses and has it
echo bee2 >"$C/src/b" # so that the COPY misses and runs
build_stopped r2 || not_ok "the build stopped (2)"
echo new >"$C/src/c"
finish_build
expect_eq "a file added after the key: the build succeeds" 0 "$rc"
expect_eq "the added file is not in the layer the key describes" "" "$(export_file r2 src/c)"
run_ok "rebuild" kiln build --progress=plain -t r2 "$C"
expect_contains "the rebuild misses naming the file" "$OUT" "src/c"
expect_eq "and has it" "new" "$(export_file r2 src/c)"

# 3. a symlink retargeted between key and copy keeps the hashed target
echo bee3 >"$C/src/b"
build_stopped r3 || not_ok "the build stopped (3)"
ln -sfn b "$C/src/l"
finish_build
expect_eq "a symlink retargeted after the key: the build succeeds" 0 "$rc"
rm -rf "$T/x" && mkdir -p "$T/x" && kiln save -o "$T/x/img.tar" r3 && tar -xf "$T/x/img.tar" -C "$T/x"
lay=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][-1])' "$T/x/manifest.json")
expect_eq "the layer has the target the key hashed" "a" "$(tar -tvf "$T/x/$lay" src/l | sed 's/.* -> //')"
