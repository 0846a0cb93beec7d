#!/usr/bin/env bash
# Review 4 of 37ecbcc (a COPY that cannot hit reads each file once): for
# awkward sources, the key a deferred COPY makes after the copy (store A,
# --no-cache: deferred) must be the key the two-read path makes (store B:
# WORKDIR recorded first, so the COPY follows a hit and keys before
# copying), and the image the same (SOURCE_DATE_EPOCH).
. "$(dirname "$0")/lib.sh"

busybox_base "layer snapshots need root"
export SOURCE_DATE_EPOCH=1700000000
C="$T/ctx"
mkdir -p "$C/a/sub" "$C/b/sub" "$C/dir/deep" "$C/ign/keep"
echo a-f >"$C/a/f"
echo b-f >"$C/b/f"
echo a-sub >"$C/a/sub/x"
echo b-sub >"$C/b/sub/x"
ln "$C/a/f" "$C/b/hl"
head -c 300000 /dev/urandom >"$C/dir/deep/rand.bin"
ln "$C/dir/deep/rand.bin" "$C/dir/rand-link.bin"
ln -s deep/rand.bin "$C/dir/sym"
: >"$C/dir/empty"
truncate -s 5000000 "$C/dir/sparse"
printf 'data in the middle' | dd of="$C/dir/sparse" bs=1 seek=2500000 conv=notrunc 2>/dev/null
truncate -s 3000000 "$C/dir/allhole"
echo xa >"$C/dir/xattr.txt"
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.review4", b"v1")' "$C/dir/xattr.txt" 2>/dev/null
echo ign >"$C/ign/drop.txt"
echo keep >"$C/ign/keep/k.txt"
printf 'ign/*\n!ign/keep\n' >"$C/.dockerignore"
mkdir -p "$T/tarsrc/t"
echo in-tar >"$T/tarsrc/t/file"
tar -C "$T/tarsrc" -cf "$C/local.tar" t
sleep 0.05 # past the coarse tick of the files' times

RB="$T/rootB"
cp -a "$ROOT" "$RB"
printf 'FROM busybox\nWORKDIR /app\n' >"$C/Dockerfile.head"
run_ok "WORKDIR recorded on store B" env KILN_ROOT="$RB" "$KILN" build -q -f "$C/Dockerfile.head" "$C"

case_n=0
same_as_two_read() { # NAME COPY-LINE...
	local name=$1; shift
	case_n=$((case_n + 1))
	{ printf 'FROM busybox\nWORKDIR /app\n'; printf '%s\n' "$@"; } >"$C/Dockerfile.$case_n"
	local ida idb
	ida=$("$KILN" build -q --no-cache -f "$C/Dockerfile.$case_n" "$C" 2>"$T/ea") ||
		{ not_ok "$name: deferred build (store A)"; sed 's/^/#   /' "$T/ea"; return; }
	idb=$(KILN_ROOT="$RB" "$KILN" build -q -f "$C/Dockerfile.$case_n" "$C" 2>"$T/eb") ||
		{ not_ok "$name: two-read build (store B)"; sed 's/^/#   /' "$T/eb"; return; }
	expect_eq "$name: same image ID deferred and two-read" "$ida" "$idb"
	expect_eq "$name: same cache records" "$(ls "$ROOT/cache/records" | sort | tr '\n' ' ')" \
		"$(ls "$RB/cache/records" | sort | tr '\n' ' ')"
}

same_as_two_read "hardlink across sources" 'COPY a/f b/hl /d/'
same_as_two_read "the same source twice" 'COPY a/f a/f /d/'
same_as_two_read "b replaces a's files" 'COPY a b /d/'
same_as_two_read "a tree with hardlinks, symlink, empty, sparse, xattr" 'COPY dir /d/'
same_as_two_read "whole context with .dockerignore" 'COPY . /d/'
same_as_two_read "ADD of a local tar" 'ADD local.tar /d/'
same_as_two_read "ADD local tar beside a tree" 'ADD dir local.tar /d/'
same_as_two_read "--exclude" 'COPY --exclude=*.bin dir /d/'
same_as_two_read "--chmod --chown" 'COPY --chmod=600 --chown=1:2 dir /d/'
same_as_two_read "wildcards" 'COPY a/* b/* /d/'
same_as_two_read "a symlink as the source" 'COPY dir/sym /d/'
same_as_two_read "heredoc mixed with context" 'COPY <<EOT a/f /d/' 'hello' 'EOT'
same_as_two_read "the tree and a subtree of it" 'COPY . dir /d/'
same_as_two_read "an empty file alone" 'COPY dir/empty /d/e'
same_as_two_read "ignored dir with an exception" 'COPY ign /d/'

# Context from stdin (a tar): no stat cache, still one key.
tar -C "$C" -cf "$T/ctx.tar" .
case_n=$((case_n + 1))
cp "$C/Dockerfile.4" "$C/Dockerfile"
tar -C "$C" -cf "$T/ctx.tar" .
ida=$("$KILN" build -q --no-cache - <"$T/ctx.tar" 2>"$T/ea") || { not_ok "stdin deferred"; sed 's/^/#   /' "$T/ea"; }
idb=$(KILN_ROOT="$RB" "$KILN" build -q - <"$T/ctx.tar" 2>"$T/eb") || { not_ok "stdin two-read"; sed 's/^/#   /' "$T/eb"; }
expect_eq "context from stdin: same image ID" "$ida" "$idb"
run_ok "store A checks" kiln system check
echo "1..$((_pass + _fail))"
