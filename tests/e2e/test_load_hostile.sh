#!/usr/bin/env bash
# `kiln load` of hostile archives (tests/e2e/evil_archive.py): each is refused
# with a message naming the member or digest, or its bad part is ignored;
# what the store already held stays intact, no temp file is left, and
# memory stays bounded. `kiln import` of a decompression bomb streams.
. "$(dirname "$0")/lib.sh"
EVIL="$KILN_SRC/tests/e2e/evil_archive.py"
evil() { python3 "$EVIL" "$1" "$T/$1.tar"; }
# peak RSS in MiB of a command (its output goes to $OUT)
peak_mib() {
	python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
PY
}
blobs_intact() {
	local bad=0
	for f in "$ROOT"/images/blobs/sha256/*; do
		[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=$((bad + 1))
	done
	echo "$bad"
}

evil ok-docker
run_ok "a valid archive loads" kiln load -i "$T/ok-docker.tar"
expect_eq "tagged" "$OUT" "Loaded image: evil:1"
index_before=$(cat "$ROOT/images/index.json")

refused() { # KIND MESSAGE
	evil "$1"
	run_fail "$1: refused" 1 kiln load -i "$T/$1.tar"
	expect_contains "$1: says why" "$OUT" "$2"
}
refused deep-index "has no image manifest"
refused config-dotdot "archive has no \`../../../../etc/passwd\`"
refused layer-abs-path "archive has no \`/etc/passwd\`"
refused manifest-symlink "not an image archive"
refused layer-symlink-out "archive has no \`evil/layer.tar\`"
refused blob-symlink "archive has no layer blob"
refused blob-hardlink "archive has no layer blob"
refused duplicate-manifest "archive has two members named \`manifest.json\`"
refused oci-digest-dotdot "invalid or unsupported layer digest \`sha256:../"
refused oci-digest-sha512 "invalid or unsupported layer digest \`sha512:"
refused oci-digest-upper "invalid or unsupported layer digest \`sha256:A32826"
refused blob-name-upper "bad blob name \`blobs/sha256/A32826"
refused diffid-mismatch "diffID mismatch"
refused layer-count-mismatch "lists 2 layers, manifest 1"
refused mediatype-lies-gzip "says gzip, the content is uncompressed"
refused mediatype-lies-none "says none, the content is gzip"
refused size-lies-layer "the descriptor says 10241 bytes, the blob has 10240"
refused size-lies-config "the descriptor says 3 bytes"
refused size-lies-manifest "the descriptor says 1099511627776 bytes"
refused repotag-digest "RepoTags entry \`busybox@sha256:"
refused repotag-invalid "RepoTags entry \`UPPER/Case:1\`"
refused layers-not-strings "\`Layers\` is not an array of strings"
refused huge-json "larger than the limit of 16777216 bytes"
refused deep-json "maximum parsing depth"
refused truncated "Truncated tar archive"
refused gzip-twice "compressed twice (gzip over gzip)"
expect_eq "after every refusal index.json is unchanged" "$(cat "$ROOT/images/index.json")" "$index_before"
expect_eq "every stored blob still matches its name" "$(blobs_intact)" 0
expect_eq "no temp file left in ROOT/tmp" "$(ls -A "$ROOT/tmp")" ""

# odd but legitimate
for k in ok-layer-twice ok-duplicate-blob; do
	evil "$k"
	run_ok "$k: loads" env KILN_ROOT="$T/r-$k" "$KILN" load -i "$T/$k.tar"
done
# a tag annotation that is not a valid tag is ignored, never stored
for k in tag-invalid-annotation tag-digest-annotation; do
	evil "$k"
	run_ok "$k: loads" env KILN_ROOT="$T/r-$k" "$KILN" load -i "$T/$k.tar"
	expect_contains "$k: untagged" "$OUT" "Loaded image ID: sha256:"
	expect_not_contains "$k: no tag stored" "$(cat "$T/r-$k/images/index.json")" "ref.name"
done

# 200 MiB of small members: kept in memory only up to the limit
evil ok-many-small-files
mib=$(KILN_ROOT="$T/r-many" peak_mib "$KILN" load -i "$T/ok-many-small-files.tar")
if [ "$mib" -lt 120 ]; then ok "many small members: peak RSS ${mib} MiB"; else not_ok "many small members: peak RSS ${mib} MiB"; fi
run_ok "and the image is there" env KILN_ROOT="$T/r-many" "$KILN" image inspect evil:1

# a gzip bomb given to import streams to disk, in bounded memory
python3 - "$T/bomb.tar.gz" <<'PY'
import gzip, sys, tarfile
with gzip.open(sys.argv[1], "wb", compresslevel=1) as g:
    with tarfile.open(fileobj=g, mode="w|") as t:
        info = tarfile.TarInfo("zeros"); info.size = 300 << 20
        class Z:
            def read(self, n): return b"\0" * n
        t.addfile(info, Z())
PY
mib=$(KILN_ROOT="$T/r-bomb" peak_mib "$KILN" import "$T/bomb.tar.gz" bomb:1)
if [ "$mib" -lt 100 ]; then ok "300 MiB gzip bomb import: peak RSS ${mib} MiB"; else not_ok "gzip bomb: peak RSS ${mib} MiB"; fi
run_ok "the bomb's layer is stored" env KILN_ROOT="$T/r-bomb" "$KILN" image inspect bomb:1
rm -rf "$T/r-bomb" "$T/bomb.tar.gz" "$T/r-many"
