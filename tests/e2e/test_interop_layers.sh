#!/usr/bin/env bash
# kiln's store and `kiln save --format oci` output as read by skopeo and
# umoci; skopeo's archives as read by `kiln load`. Unpacked trees must equal
# the source tree (content, modes, owners, link targets).
. "$(dirname "$0")/lib.sh"
command -v skopeo >/dev/null || skip_all "skopeo not installed"
command -v umoci >/dev/null || skip_all "umoci not installed"
need_busybox

SRC="$T/src"; mkdir -p "$SRC" && tar -xf "$BB" -C "$SRC"
# a few more kinds of entries than busybox has
mkdir -p "$SRC/srv/empty" && printf 'x\n' >"$SRC/srv/suid" && chmod 4755 "$SRC/srv/suid"
ln "$SRC/srv/suid" "$SRC/srv/hardlink" && mkfifo "$SRC/srv/fifo" && chown 1234:5678 "$SRC/srv/empty" 2>/dev/null
treeinfo() { (cd "$1" && find . -mindepth 1 -printf '%P %y %m %U:%G %s %l %n\n' | LC_ALL=C sort); }
same_tree() { # NAME DIR
	if diff -r --no-dereference -x fifo "$SRC" "$2" >/dev/null && [ "$(treeinfo "$SRC")" = "$(treeinfo "$2")" ]; then ok "$1"
	else not_ok "$1"; diff <(treeinfo "$SRC") <(treeinfo "$2") | head -20 | sed 's/^/#   /'; fi
}

run_ok "kiln import" kiln import -c 'CMD ["sh"]' "$SRC" busybox:latest
REF=docker.io/library/busybox:latest
run_ok "skopeo inspect oci:ROOT/images" skopeo inspect "oci:$ROOT/images:$REF"
expect_contains "skopeo sees the layer" "$OUT" '"Layers"'
run_ok "umoci unpack from the store" umoci unpack --image "$ROOT/images:$REF" "$T/b1"
same_tree "umoci's rootfs equals the source tree" "$T/b1/rootfs"

run_ok "kiln save --format oci" kiln save --format oci -o "$T/oci.tar" busybox
mkdir -p "$T/oci" && tar -xf "$T/oci.tar" -C "$T/oci"
run_ok "skopeo inspect the saved layout" skopeo inspect "oci:$T/oci:$REF"
expect_contains "gzip layers by default" "$(skopeo inspect --raw "oci:$T/oci:$REF")" "tar+gzip"
run_ok "umoci unpack the saved layout" umoci unpack --image "$T/oci:$REF" "$T/b2"
same_tree "saved layout unpacks to the source tree" "$T/b2/rootfs"

run_ok "skopeo copy oci-archive -> oci-archive" skopeo copy -q "oci-archive:$T/oci.tar:$REF" "oci-archive:$T/sk.tar:docker.io/library/skbox:v1"
run_ok "kiln load skopeo's oci-archive" env KILN_ROOT="$T/r2" "$KILN" load -i "$T/sk.tar"
expect_eq "tagged as skopeo wrote it" "$OUT" "Loaded image: skbox:v1"
run_ok "skopeo copy -> docker-archive" skopeo copy -q "oci-archive:$T/oci.tar:$REF" "docker-archive:$T/dk.tar:foo/bar:2"
run_ok "kiln load skopeo's docker-archive" env KILN_ROOT="$T/r2" "$KILN" load -i "$T/dk.tar"
expect_eq "tagged" "$OUT" "Loaded image: foo/bar:2"
run_ok "umoci unpack what kiln loaded" umoci unpack --image "$T/r2/images:docker.io/library/skbox:v1" "$T/b3"
same_tree "loaded image unpacks to the source tree" "$T/b3/rootfs"
run_ok "kiln save (docker) of a loaded gzip image" env KILN_ROOT="$T/r2" "$KILN" save -o "$T/d2.tar" skbox:v1
run_ok "skopeo reads kiln's docker archive" skopeo inspect "docker-archive:$T/d2.tar"
