#!/usr/bin/env bash
# kiln build: a RUN step's upper dir becomes its layer's snapshot
# (img_snapshot_adopt) instead of being unpacked from the blob again. The
# kept tree must be the one unpacking the layer gives: types, modes (suid),
# owners, whole-second mtimes (clamped by SOURCE_DATE_EPOCH), hardlinks,
# symlinks, fifos, whiteouts, opaque dirs, xattrs; and a later RUN sees it.
. "$(dirname "$0")/lib.sh"
. "$KILN_SRC/tests/e2e/containers.sh"

# One line per entry of a snapshot tree (whiteouts: type only; the root:
# nothing, extraction leaves its times to the moment).
dump() {
	python3 - "$1" <<'EOF'
import os, stat, sys
top = sys.argv[1]
for d, dirs, files in os.walk(top):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, top)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            print(rel, "whiteout")
            continue
        xs = sorted((x, os.getxattr(p, x, follow_symlinks=False))
                    for x in os.listxattr(p, follow_symlinks=False))
        link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
        size = st.st_size if stat.S_ISREG(st.st_mode) else ""
        print(rel, oct(st.st_mode), st.st_uid, st.st_gid, st.st_nlink, size,
              st.st_mtime_ns, link, xs)
EOF
}

# The snapshot of every RUN layer of image $1, dumped to $2.N, then the
# same after removing their completion markers and letting `kiln run`
# unpack them from the blobs again.
compare() {
	local img=$1 name=$2 ids id hex n=0
	ids=$(kiln image inspect -f '{{range .RootFS.Layers}}{{println .}}{{end}}' "$img")
	for id in $(echo "$ids" | tail -n 2); do
		hex=${id#sha256:}
		if [ -f "$ROOT/snapshots/$hex.complete" ] || [ -f "$ROOT/snapshots/$hex.unsynced" ]; then ok "$name: RUN layer $n kept as a complete snapshot"
		else not_ok "$name: no snapshot for RUN layer $n after the build"; fi
		dump "$ROOT/snapshots/$hex" >"$T/$name.kept.$n"
		rm -f "$ROOT/snapshots/$hex.complete" "$ROOT/snapshots/$hex.unsynced"
		n=$((n + 1))
	done
	run_ok "$name: the image runs (its snapshots unpacked again)" \
		kiln run --rm --network none "$img" true
	n=0
	for id in $(echo "$ids" | tail -n 2); do
		hex=${id#sha256:}
		dump "$ROOT/snapshots/$hex" >"$T/$name.unpacked.$n"
		if cmp -s "$T/$name.kept.$n" "$T/$name.unpacked.$n"; then
			ok "$name: RUN layer $n: the kept tree is the unpacked one ($(wc -l <"$T/$name.kept.$n") entries)"
		else
			not_ok "$name: RUN layer $n: kept and unpacked trees differ"
			diff "$T/$name.kept.$n" "$T/$name.unpacked.$n" | head -20 | sed 's/^/#   /'
		fi
		n=$((n + 1))
	done
}

C="$T/ctx"
mkdir -p "$C"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox
ARG V=1
RUN mkdir -p /a/b && echo hi >/a/b/f && chmod 4755 /a/b/f && ln /a/b/f /a/b/h && \
    ln -s f /a/b/l && mkfifo /a/p && chown 12:34 /a/b && rm /bin/ls && \
    echo "v$V" >/a/y && touch -d @1000 /a/old
RUN test "$(cat /a/b/l)" = hi && test -p /a/p && ! test -e /bin/ls && \
    test "$(cat /a/y)" = "v$V" && rm /a/p && echo more >>/a/old && \
    rm -rf /a/b && mkdir /a/b && echo n >/a/b/n && mkdir /a/c
EOF

run_ok "build (no SOURCE_DATE_EPOCH)" kiln build -q --network none -t snap:1 "$C"
compare snap:1 plain
run_ok "build (SOURCE_DATE_EPOCH)" env SOURCE_DATE_EPOCH=1500000000 \
	"$KILN" build -q --network none --build-arg V=2 -t snap:2 "$C"
compare snap:2 epoch
expect_contains "SOURCE_DATE_EPOCH clamps the kept tree's mtimes" \
	"$(cat "$T/epoch.kept.0")" " 1500000000000000000 "
expect_contains "older mtimes stay" "$(cat "$T/plain.kept.0")" " 1000000000000 "
expect_contains "the opaque dir is marked" "$(cat "$T/plain.kept.1")" "trusted.overlay.opaque"
expect_contains "the deleted file is a whiteout" "$(cat "$T/plain.kept.0")" "bin/ls whiteout"
