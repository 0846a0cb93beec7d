#!/usr/bin/env bash
# The store never loses or corrupts data (issue 16, store side): what kiln
# accepts as its root, what its temp sweep may delete, write limits on
# index.json and manifests, gc that fails closed, healing corrupt blobs,
# damaged images and index, read-only stores.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is needed"
export SOURCE_DATE_EPOCH=1700000000 # same content, same image ID
B="$ROOT/images/blobs/sha256"
mkdir -p "$T/d1" "$T/d2"
echo one >"$T/d1/f" && head -c 100000 /dev/urandom >"$T/d1/r"
echo two >"$T/d2/f"
entry() { # REF FIELD: a field of the index entry tagged REF (digest)
	python3 - "$ROOT/images/index.json" "$1" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name", "").endswith("/" + sys.argv[2]):
        print(m["digest"][7:])
PY
}
manifest_field() { # MANIFEST_HEX config|layer0
	python3 - "$B/$1" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print((m["config"] if sys.argv[2] == "config" else m["layers"][0])["digest"][7:])
PY
}

# --- the root -----------------------------------------------------------------
run_fail "--root \"\" is a usage error" 125 kiln --root "" images
expect_contains "it says why" "$OUT" "cannot be empty"
run_fail "--root= too" 125 kiln --root= images
run_fail "--root \"\" after the command too" 125 kiln images --root ""
mkdir -p "$T/home/tmp" && echo mine >"$T/home/notes" && echo keep >"$T/home/tmp/blob-precious"
touch -d '2 hours ago' "$T/home/tmp/blob-precious"
run_fail "a directory that is not a store is refused" 1 kiln --root "$T/home" images
expect_contains "naming the marker" "$OUT" "is not a kiln store"
expect_eq "nothing in it touched" "$(echo $(ls -A "$T/home" "$T/home/tmp"))" "$(echo "$T/home:" notes tmp "$T/home/tmp:" blob-precious)"
run_ok "an empty directory becomes a store" kiln --root "$T/empty" images
[ -f "$T/empty/kiln-store" ] && ok "with kiln's marker" || not_ok "with kiln's marker"
run_ok "import" kiln import "$T/d1" a:1
A1=$OUT
rm "$ROOT/kiln-store"
run_ok "a store of an earlier kiln (no marker) is accepted" kiln images
[ -f "$ROOT/kiln-store" ] && ok "and gets the marker" || not_ok "and gets the marker"
# the sweep removes kiln's own stale temp names only
echo x >"$ROOT/tmp/notes.txt" && echo x >"$ROOT/tmp/blob-stale" && mkdir "$ROOT/tmp/extract-stale"
touch -d '2 hours ago' "$ROOT/tmp/notes.txt" "$ROOT/tmp/blob-stale"
run_ok "system prune" kiln system prune -f
expect_eq "only kiln's temp names were swept" "$(ls -A "$ROOT/tmp")" "notes.txt"
rm "$ROOT/tmp/notes.txt"
# nor through a symlink: a ROOT/tmp pointing elsewhere is not swept
mkdir -p "$T/elsewhere-tmp" && echo x >"$T/elsewhere-tmp/blob-theirs" && touch -d '2 hours ago' "$T/elsewhere-tmp/blob-theirs"
mv "$ROOT/tmp" "$T/tmp.saved" && ln -s "$T/elsewhere-tmp" "$ROOT/tmp"
"$KILN" system prune -f >/dev/null 2>&1
[ -f "$T/elsewhere-tmp/blob-theirs" ] && ok "a symlinked ROOT/tmp is not swept" || not_ok "a symlinked ROOT/tmp is not swept"
rm "$ROOT/tmp" && mv "$T/tmp.saved" "$ROOT/tmp"

# --- index.json and manifest limits ---------------------------------------------
run_ok "import b:1" kiln import "$T/d2" b:1
B1=$OUT
pad_index() { # BYTES: pads the annotations of b:1's entry so index.json has about BYTES
	python3 - "$ROOT/images/index.json" "$1" <<'PY'
import json, os, sys
p, want = sys.argv[1], int(sys.argv[2])
x = json.load(open(p))
e = [m for m in x["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name", "").endswith("/b:1")][0]
e["annotations"]["pad"] = ""
base = len(json.dumps(x, separators=(",", ":")))
e["annotations"]["pad"] = "x" * (want - base)
json.dump(x, open(p + ".new", "w"), separators=(",", ":"))
os.rename(p + ".new", p)
PY
}
pad_index $((32 * 1024 * 1024 - 200))
sum_before=$(sha256sum <"$ROOT/images/index.json")
run_fail "a tag that would pass the index limit is refused" 1 kiln tag a:1 a:with-a-long-enough-name-to-pass-the-limit
expect_contains "naming the limit" "$OUT" "over the limit"
expect_eq "index.json unchanged" "$(sha256sum <"$ROOT/images/index.json")" "$sum_before"
pad_index $((33 * 1024 * 1024)) # over the limit, as an earlier kiln could write it
run_ok "rmi works on an oversized index (it shrinks it)" kiln rmi a:1
run_fail "but nothing may grow it" 1 kiln import "$T/d1" a:1
pad_index 1000
run_ok "import a:1 again" kiln import "$T/d1" a:1
# a manifest over the limit is never published
python3 - "$T/bigman.tar" <<'PY'
import hashlib, io, json, sys, tarfile
files = {}
def put(b):
    d = hashlib.sha256(b).hexdigest(); files["blobs/sha256/" + d] = b; return "sha256:" + d, len(b)
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    i = tarfile.TarInfo("x"); i.size = 1; t.addfile(i, io.BytesIO(b"x"))
layer = raw.getvalue()
ld, ls = put(layer)
cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}],
       "annotations": {"pad": "x" * (17 << 20)}}
md, ms = put(json.dumps(man).encode())
files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"], "digest": md, "size": ms,
    "annotations": {"org.opencontainers.image.ref.name": "big:1"}}]}).encode()
with tarfile.open(sys.argv[1], "w") as t:
    for n, b in files.items():
        i = tarfile.TarInfo(n); i.size = len(b); t.addfile(i, io.BytesIO(b))
PY
run_fail "load of an image whose manifest passes the limit fails" 1 kiln load -i "$T/bigman.tar"
expect_contains "naming the limit" "$OUT" "limit"
run_fail "it was not published" 1 kiln inspect big:1
run_ok "system check is clean" kiln system check

# --- gc fails closed ---------------------------------------------------------------
MA=$(entry a:1)
CA=$(manifest_field "$MA" config)
LA=$(manifest_field "$MA" layer0)
cp "$B/$MA" "$T/manifest-a"
echo garbage >"$B/$MA"
run_ok "rmi b:1 while a:1's manifest is corrupt" kiln rmi b:1
[ -f "$B/$CA" ] && [ -f "$B/$LA" ] && ok "a:1's config and layer were not deleted" ||
	not_ok "a:1's config and layer were not deleted"
cp "$T/manifest-a" "$B/$MA"
run_ok "a:1 is back once its manifest is restored" kiln inspect -f '{{.Id}}' a:1
expect_eq "same image" "$OUT" "$A1"
# a gc root that cannot be read stops gc (a directory where a file belongs:
# unreadable even for root)
mkdir -p "$ROOT/gc-roots/unreadable"
echo stray >"$T/stray" && STRAY=$(sha256sum <"$T/stray" | cut -d' ' -f1) && cp "$T/stray" "$B/$STRAY"
run_fail "an unreadable gc root stops gc" 1 kiln image prune -f
expect_contains "nothing removed" "$OUT" "nothing was removed"
[ -f "$B/$STRAY" ] && ok "not even an unreferenced blob" || not_ok "not even an unreferenced blob"
rmdir "$ROOT/gc-roots/unreadable"
run_ok "gc runs again once the root is readable" kiln image prune -f
[ ! -f "$B/$STRAY" ] && ok "and sweeps" || not_ok "and sweeps"
# an entry of a type kiln does not know (another tool's artifact) keeps
# what it references
python3 - "$ROOT/images" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(os.path.join(root, "blobs/sha256", d), "wb").write(b); return "sha256:" + d, len(b)
cd, cs = put(b'{"artifact":"config"}')
ld, ls = put(b"artifact payload")
md, ms = put(json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/x-cfg", "digest": cd, "size": cs},
                         "layers": [{"mediaType": "application/x-payload", "digest": ld, "size": ls}]}).encode())
p = os.path.join(root, "index.json"); x = json.load(open(p))
x["manifests"].append({"mediaType": "application/vnd.example.artifact+json", "digest": md, "size": ms})
json.dump(x, open(p, "w"))

PY
run_ok "prune with another tool's artifact in the index" kiln image prune -f
payload=$(printf 'artifact payload' | sha256sum | cut -d' ' -f1)
[ -f "$B/$payload" ] && ok "the artifact's payload is kept" || not_ok "the artifact's payload is kept"

# a missing index.json is a damaged store, not an empty one
mv "$ROOT/images/index.json" "$T/index.json.saved"
run_fail "system check reports a missing index.json" 1 kiln system check
expect_contains "as damage" "$OUT" "damaged"
run_fail "prune refuses to run" 1 kiln system prune -a -f
[ -f "$B/$MA" ] && [ -f "$B/$LA" ] && ok "no blob deleted" || not_ok "no blob deleted"
echo '{"schemaVersion":2}' >"$ROOT/images/index.json"
run_fail "an index.json without manifests is damage too" 1 kiln system check
run_fail "gc refuses to run on it" 1 kiln system prune -a -f
run_ok "system check --repair rebuilds the index" kiln system check --repair
expect_contains "keeping every image untagged" "$OUT" "rebuilt index.json"
expect_contains "after moving the damaged one aside" "$OUT" "quarantine"
run_ok "images" kiln images -q --no-trunc
expect_contains "a:1's image is there (untagged)" "$OUT" "$A1"
mv "$T/index.json.saved" "$ROOT/images/index.json"

# a blob or index.json replaced by a directory is damage too
run_ok "import e:1" kiln import "$T/d2" e:1
ME=$(entry e:1)
mv "$B/$ME" "$T/me" && mkdir "$B/$ME"
run_ok "images still lists (the image as damaged)" kiln images
expect_contains "warning" "$OUT" "is damaged"
run_ok "system check --repair" kiln system check --repair
expect_contains "the directory is moved aside" "$OUT" "moved corrupt blob $ME"
expect_contains "and the image removed" "$OUT" "removed damaged image docker.io/library/e:1"
mv "$ROOT/images/index.json" "$T/index.json.saved" && mkdir "$ROOT/images/index.json"
run_ok "system check --repair of an index.json that is a directory" kiln system check --repair
expect_contains "rebuilt" "$OUT" "rebuilt index.json"
rm -rf "$ROOT/images/index.json" && mv "$T/index.json.saved" "$ROOT/images/index.json"
run_ok "system check" kiln system check

# --- corrupt blobs are reported, quarantined and healed ----------------------------
python3 - "$B/$LA" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)
PY
run_fail "system check reports the corrupt layer" 1 kiln system check
expect_contains "naming it" "$OUT" "corrupt blob sha256:$LA"
run_fail "system check --repair (a:1 still lacks the layer)" 1 kiln system check --repair
expect_contains "moves it to the quarantine" "$OUT" "moved corrupt blob $LA"
expect_contains "then reports the missing layer" "$OUT" "missing blob sha256:$LA"
[ -f "$ROOT/quarantine/$LA" ] && ok "it is in ROOT/quarantine" || not_ok "it is in ROOT/quarantine"
run_ok "importing the same content again" kiln import "$T/d1" a:2
[ "$(sha256sum <"$B/$LA" | cut -d' ' -f1)" = "$LA" ] && ok "writes the blob again" || not_ok "writes the blob again"
echo corrupt-again >"$B/$LA"
run_ok "an import over a corrupt copy (no repair)" kiln import "$T/d1" a:3
[ "$(sha256sum <"$B/$LA" | cut -d' ' -f1)" = "$LA" ] && ok "replaces the corrupt copy" || not_ok "replaces the corrupt copy"
run_ok "system check is clean" kiln system check
run_ok "save works" kiln save -o "$T/a.tar" a:1

# --- damaged images: listed, and removable ------------------------------------------
run_ok "import c:1" kiln import "$T/d2" c:1
MC=$(entry c:1)
CC=$(manifest_field "$MC" config)
rm "$B/$CC"
run_ok "images lists a damaged image" kiln images
expect_contains "c:1 is listed" "$OUT" "c            1"
expect_contains "with N/A for what is lost" "$OUT" "N/A"
expect_contains "and a warning naming the way out" "$OUT" "is damaged"
run_fail "inspect says it is damaged, not missing" 1 kiln inspect c:1
expect_contains "damaged" "$OUT" "is damaged"
run_ok "rmi -f removes it" kiln rmi -f c:1
run_fail "gone" 1 kiln inspect c:1
run_ok "import c:1 again" kiln import "$T/d2" c:1
rm "$B/$CC"
run_ok "image prune removes a damaged image" kiln image prune -f
expect_contains "listing it" "$OUT" "untagged: c:1"
run_fail "gone" 1 kiln inspect c:1
run_ok "import c:1 again" kiln import "$T/d2" c:1
echo '{}' >"$B/$(entry c:1)"
run_ok "system check --repair removes a damaged image" kiln system check --repair
expect_contains "saying so" "$OUT" "removed damaged image docker.io/library/c:1"
run_ok "system check is clean" kiln system check
run_ok "every remaining image inspects" kiln inspect a:1 a:2 a:3

# --- a read-only store ----------------------------------------------------------------
if [ "$(id -u)" = 0 ] && mkdir -p "$T/ro" && mount -t tmpfs -o size=16m tmpfs "$T/ro" 2>/dev/null; then
	at_exit umount -l "$T/ro"
	RO="$T/ro/s"
	run_ok "import into the soon read-only store" kiln --root "$RO" import "$T/d1" ro:1
	mount -o remount,ro "$T/ro"
	for c in "images" "inspect ro:1" "history ro:1" "system df" "system check"; do
		run_ok "read-only store: $c" kiln --root "$RO" $c
	done
	run_ok "read-only store: save" kiln --root "$RO" save -o "$T/ro.tar" ro:1
	run_fail "read-only store: a write says the store is read-only" 1 kiln --root "$RO" tag ro:1 ro:2
	expect_contains "clearly" "$OUT" "is read-only"
	run_ok "what was saved loads elsewhere" kiln --root "$T/elsewhere" load -i "$T/ro.tar"
else
	ok "# SKIP read-only store (needs root and tmpfs)"
fi
