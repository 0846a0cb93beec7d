#!/usr/bin/env bash
# `kiln save`: where -o writes (a FIFO, a device or a symlink is written
# through or followed, never replaced; a kill leaves no temp), every blob is
# verified while streamed (a corrupt one fails the save and leaves no
# output), and a compressed image saved as a docker archive is decompressed
# on the way without writing anything into the store.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/src/etc" && printf 'hello\n' >"$T/src/etc/hello" && head -c 300000 /dev/urandom >"$T/src/rand"
tar -C "$T/src" -cf "$T/rootfs.tar" .
run_ok "import plain" kiln import "$T/rootfs.tar" plain:1
printf 'other\n' >"$T/src/etc/other"
tar -C "$T/src" -cf "$T/rootfs2.tar" . # another layer: not in the store uncompressed
run_ok "import gzip-compressed" kiln import --compress gzip "$T/rootfs2.tar" gz:1
is_archive() { tar -tf "$1" 2>/dev/null | grep -qx manifest.json; }
blob_count() { find "$ROOT/images/blobs/sha256" -type f | wc -l; }

# a FIFO is written through
mkfifo "$T/fifo"
timeout 60 cat "$T/fifo" >"$T/from-fifo" &
reader=$!
run_ok "save -o FIFO" kiln save -o "$T/fifo" plain:1
wait "$reader"
expect_eq "the FIFO is still a FIFO" "$(stat -c %F "$T/fifo")" "fifo"
is_archive "$T/from-fifo" && ok "the reader got the archive" || not_ok "the reader got no archive"

# a symlink is followed: the file it names gets the archive, the link stays
mkdir -p "$T/out"
printf 'old\n' >"$T/out/target.tar"
ln -s target.tar "$T/out/link.tar"
run_ok "save -o SYMLINK" kiln save -o "$T/out/link.tar" plain:1
expect_eq "the symlink is still a symlink" "$(stat -c %F "$T/out/link.tar")" "symbolic link"
is_archive "$T/out/target.tar" && ok "its target holds the archive" || not_ok "target not replaced"
ln -s new.tar "$T/out/dangling.tar"
run_ok "save -o a dangling symlink" kiln save -o "$T/out/dangling.tar" plain:1
is_archive "$T/out/new.tar" && ok "creates the file it names" || not_ok "dangling symlink target"
expect_eq "no temp left beside the output" "$(ls -A "$T/out" | grep -c kiln-save)" "0"
# a temp a killed save left (unlocked) is swept; one a live save holds is not
printf 'stale' >"$T/out/.kiln-save-stale"
printf 'live' >"$T/out/.kiln-save-live"
python3 -c 'import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(30)' "$T/out/.kiln-save-live" &
holder=$!
for _ in $(seq 100); do flock -n "$T/out/.kiln-save-live" true || break; sleep 0.1; done
run_ok "save beside temps" kiln save -o "$T/out/swept.tar" plain:1
[ ! -e "$T/out/.kiln-save-stale" ] && ok "a stale .kiln-save-* is swept" || not_ok "stale temp kept"
[ -e "$T/out/.kiln-save-live" ] && ok "a locked one is kept" || not_ok "a live temp was removed"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
rm -f "$T/out/.kiln-save-live" "$T/out/swept.tar"

# a character device (made here, never the host's /dev/null) is written through
if [ "$(id -u)" = 0 ] && mknod "$T/null" c 1 3 2>/dev/null; then
	run_ok "save -o a char device" kiln save -o "$T/null" plain:1
	expect_eq "the device is still a char device" "$(stat -c '%F %t,%T' "$T/null")" "character special file 1,3"
else
	ok "# SKIP char device (needs root and mknod)"
fi
run_fail "save -o a directory is refused" 1 kiln save -o "$T/out" plain:1
expect_contains "names it" "$OUT" "output \`$T/out\`"

# kill -9 while writing: no temp file, no partial output
head -c 60000000 /dev/urandom >"$T/src/big"
tar -C "$T/src" -cf "$T/big.tar" .
rm -f "$T/src/big"
run_ok "import a 60 MB image" kiln import "$T/big.tar" big:1
rm -f "$T/big.tar"
mkdir -p "$T/killed"
for delay in 0.05 0.2; do
	"$KILN" save -o "$T/killed/out.tar" big:1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	left=$(ls -A "$T/killed" | grep -v '^out.tar$' | wc -l)
	expect_eq "kill -9 after ${delay}s: no temp left" "$left" "0"
	if [ -e "$T/killed/out.tar" ]; then
		is_archive "$T/killed/out.tar" && ok "an output present is complete" || not_ok "partial output"
	fi
	rm -f "$T/killed/out.tar"
done
run_ok "remove big" kiln rmi big:1

# a compressed image saved as a docker archive: streamed, nothing stored
before=$(blob_count)
run_ok "save gzip image (docker format)" kiln save -o "$T/gz.tar" gz:1
expect_eq "no blob added to the store" "$(blob_count)" "$before"
expect_eq "nothing left in ROOT/tmp" "$(ls -A "$ROOT/tmp")" ""
diff_id=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rootfs']['diff_ids'][0][7:])" \
	"$ROOT/images/blobs/sha256/$(kiln inspect -f '{{.Id}}' gz:1 | cut -d: -f2)")
expect_eq "the layer member is the uncompressed tar" \
	"$(tar -xOf "$T/gz.tar" "blobs/sha256/$diff_id" | sha256sum | cut -d' ' -f1)" "$diff_id"
run_ok "it loads elsewhere" env KILN_ROOT="$T/r2" "$KILN" load -i "$T/gz.tar"
run_ok "and inspects" env KILN_ROOT="$T/r2" "$KILN" image inspect gz:1

# a corrupt blob fails the save, naming image and blob, leaving no output
corrupt() { # REF: flips bytes in the middle of the image's only layer blob, prints its digest
	local d
	d=$(python3 - "$ROOT/images" "docker.io/library/$1" <<'PY'
import json, sys
root, ref = sys.argv[1], sys.argv[2]
for m in json.load(open(root + "/index.json"))["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
        man = json.load(open(root + "/blobs/sha256/" + m["digest"][7:]))
        print(man["layers"][0]["digest"][7:])
PY
)
	printf 'XXXX' | dd of="$ROOT/images/blobs/sha256/$d" bs=1 seek=2000 conv=notrunc 2>/dev/null
	echo "sha256:$d"
}
bad=$(corrupt plain:1)
run_fail "save of an image with a corrupt layer fails" 1 kiln save -o "$T/bad.tar" plain:1
expect_contains "names the image" "$OUT" "image \`plain:1\`"
expect_contains "names the blob" "$OUT" "blob \`$bad\` is corrupt"
[ ! -e "$T/bad.tar" ] && ok "no output file left" || not_ok "partial output left"
run_fail "to stdout too" 1 sh -c "'$KILN' save plain:1 >/dev/null"
bad=$(corrupt gz:1)
run_fail "a corrupt compressed layer fails the docker-format save" 1 kiln save -o "$T/bad.tar" gz:1
expect_contains "names the blob" "$OUT" "blob \`$bad\` is corrupt"
[ ! -e "$T/bad.tar" ] && ok "no output file left" || not_ok "partial output left"
expect_eq "no temp beside it" "$(ls -A "$T" | grep -c kiln-save)" "0"
