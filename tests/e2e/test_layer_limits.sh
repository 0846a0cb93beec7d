#!/usr/bin/env bash
# What import and load store: only layers unpacking accepts (checked in the
# same pass that hashes them), within the decompression limits
# (KILN_LAYER_MAX_SIZE, KILN_LAYER_MAX_RATIO), only the blobs the loaded
# images reference, and nothing at all when they fail. The bombs run only
# inside a size-limited tmpfs this test mounts.
. "$(dirname "$0")/lib.sh"
for t in zstd bzip2 xz; do command -v $t >/dev/null || skip_all "no $t (scripts/deps.sh)"; done

blobs() { find "$1/images/blobs/sha256" -type f 2>/dev/null | wc -l; }
clean_tmp() { expect_eq "$1: nothing left in ROOT/tmp" "$(ls -A "$2/tmp" 2>/dev/null)" ""; }
# mklayer OUT KIND: a layer tar that unpacking refuses (or "ok")
mklayer() {
	python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
out, kind = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    def f(name, data=b"x\n"):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    def link(name, target):
        i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; t.addfile(i)
    f("etc/hello")
    if kind == "dotdot": f("../../escape")
    elif kind == "hardlink-out": link("passwd", "/etc/passwd")
    elif kind == "hardlink-dotdot": link("x", "../etc/hello")
    elif kind == "hardlink-root": link("x", "./")
    elif kind == "whiteout-empty": f("etc/.wh.", b"")
    elif kind == "whiteout-dotdot": f("etc/.wh..", b"")
    elif kind == "junk": f("big", b"j" * (2 << 20))
    link("etc/hello2", "etc/hello")  # a hardlink inside the layer is fine
PY
}
# mkarchive OUT LAYER_FILE [JUNK_BYTES]: a docker archive of one image
# evil:1 whose layer is LAYER_FILE as it is (its diffID from its content,
# decompressed with the matching tool); JUNK_BYTES > 0 adds an unused member.
mkarchive() {
	python3 - "$@" <<'PY'
import bz2, gzip, hashlib, io, json, lzma, sys, tarfile
out, lf = sys.argv[1], sys.argv[2]
junk = int(sys.argv[3]) if len(sys.argv) > 3 else 0
layer = open(lf, "rb").read()
h = hashlib.sha256()
if lf.endswith(".bz2"):
    d = bz2.BZ2Decompressor()
    for i in range(0, len(layer), 1 << 16):
        h.update(d.decompress(layer[i:i + (1 << 16)]))
else:
    h.update(lzma.decompress(layer) if lf.endswith(".xz") else layer)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h.hexdigest()]}}).encode()
def sha(b): return hashlib.sha256(b).hexdigest()
with tarfile.open(out, "w") as t:
    def add(name, data):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    add("blobs/sha256/" + sha(layer), layer)
    add("blobs/sha256/" + sha(cfg), cfg)
    if junk:
        add("junk.bin", b"\1" * junk)
    add("manifest.json", json.dumps([{"Config": "blobs/sha256/" + sha(cfg), "RepoTags": ["evil:1"],
                                      "Layers": ["blobs/sha256/" + sha(layer)]}]).encode())
PY
}

# --- import checks the target name before reading anything
mkfifo "$T/nowriter"
run_fail "import to a bad name fails before reading the source" 1 timeout 20 "$KILN" import "$T/nowriter" 'bad//name'
expect_contains "names the reference" "$OUT" "bad//name"

# --- layers that unpacking refuses: refused by import and load, nothing stored
mklayer "$T/ok.tar" ok
run_ok "import a layer with an inner hardlink" kiln import "$T/ok.tar" ok:1
run_ok "load of it round-trips" sh -c "'$KILN' save ok:1 | '$KILN' load"
base=$(blobs "$ROOT")
for kind in dotdot hardlink-out hardlink-dotdot hardlink-root whiteout-empty whiteout-dotdot; do
	mklayer "$T/$kind.tar" "$kind"
	run_fail "import refuses a $kind layer" 1 kiln import "$T/$kind.tar" "bad:$kind"
	msg=$OUT
	mkarchive "$T/$kind-archive.tar" "$T/$kind.tar"
	run_fail "load refuses a $kind layer" 1 kiln load -i "$T/$kind-archive.tar"
	case $kind in
	dotdot) expect_contains "says why" "$msg$OUT" "escapes the root" ;;
	hardlink-out) expect_contains "says why" "$msg$OUT" "which is not a file of this layer" ;;
	hardlink-dotdot) expect_contains "says why" "$msg$OUT" "points outside the root" ;;
	hardlink-root) expect_contains "says why" "$msg$OUT" "points at the root" ;;
	whiteout-*) expect_contains "says why" "$msg$OUT" "invalid whiteout" ;;
	esac
done
expect_eq "no blob stored by any refusal" "$(blobs "$ROOT")" "$base"
clean_tmp "after refusals" "$ROOT"

# --- a load stores only what its image references; a failed one nothing
mklayer "$T/junk.tar" junk
mkarchive "$T/junk-archive.tar" "$T/ok.tar" $((3 << 20))
R2="$T/r2"
run_ok "load an archive with an unused 3 MiB member" env KILN_ROOT="$R2" "$KILN" load -i "$T/junk-archive.tar"
expect_eq "layer, config and manifest stored, the unused member not" "$(blobs "$R2")" 3
python3 - "$T/two.tar" "$T/ok.tar" "$T/junk.tar" <<'PY'
import hashlib, io, json, sys, tarfile
out, good, other = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
def sha(b): return hashlib.sha256(b).hexdigest()
def cfg(diff): return json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
c1, c2 = cfg(sha(good)), cfg(sha(b"not the layer"))
with tarfile.open(out, "w") as t:
    def add(name, data):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    for b in (good, other, c1, c2):
        add("blobs/sha256/" + sha(b), b)
    add("manifest.json", json.dumps([
        {"Config": "blobs/sha256/" + sha(c1), "RepoTags": ["first:1"], "Layers": ["blobs/sha256/" + sha(good)]},
        {"Config": "blobs/sha256/" + sha(c2), "RepoTags": ["second:1"], "Layers": ["blobs/sha256/" + sha(other)]}]).encode())
PY
R3="$T/r3"
run_fail "a load whose second image is bad fails" 1 env KILN_ROOT="$R3" "$KILN" load -i "$T/two.tar"
expect_contains "names the mismatch" "$OUT" "diffID mismatch"
expect_eq "and leaves no blob, not even the first image's" "$(blobs "$R3")" 0
clean_tmp "after a failed load" "$R3"
run_fail "the first image was not tagged either" 1 env KILN_ROOT="$R3" "$KILN" image inspect first:1

# --- xz and bzip2 layers: read once, stored decompressed
for c in xz bzip2; do
	ext=$([ $c = xz ] && echo xz || echo bz2)
	$c -c "$T/ok.tar" >"$T/ok.tar.$ext"
	mkarchive "$T/$c-archive.tar" "$T/ok.tar.$ext"
	R="$T/r-$c"
	run_ok "load a $c layer" env KILN_ROOT="$R" "$KILN" load -i "$T/$c-archive.tar"
	expect_eq "$c: stores layer (decompressed), config, manifest" "$(blobs "$R")" 3
	[ -f "$R/images/blobs/sha256/$(sha256sum "$T/ok.tar" | cut -d' ' -f1)" ] &&
		ok "$c: the stored layer is the plain tar" || not_ok "$c: no plain layer blob"
	clean_tmp "$c" "$R"
done

# --- an OCI index of 3,000 images loads in one index write (it was quadratic)
python3 - "$T/idx.tar" <<'PY'
import hashlib, io, json, sys, tarfile
def sha(b): return hashlib.sha256(b).hexdigest()
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    i = tarfile.TarInfo("hello"); i.size = 3; t.addfile(i, io.BytesIO(b"hi\n"))
layer = raw.getvalue()
members, entries = {"blobs/sha256/" + sha(layer): layer}, []
for n in range(3000):
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["N=%d" % n]},
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": "sha256:" + sha(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                  "digest": "sha256:" + sha(layer), "size": len(layer)}]}).encode()
    members["blobs/sha256/" + sha(cfg)] = cfg
    members["blobs/sha256/" + sha(man)] = man
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(man),
                    "size": len(man), "annotations": {"io.containerd.image.name": "many:%d" % n}})
members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": entries}).encode()
with tarfile.open(sys.argv[1], "w") as t:
    for k, v in members.items():
        i = tarfile.TarInfo(k); i.size = len(v); t.addfile(i, io.BytesIO(v))
PY
R4="$T/r4"
run_ok "load an OCI index of 3,000 images" env KILN_ROOT="$R4" "$KILN" load -q -i "$T/idx.tar"
expect_eq "all 3,000 are tagged" "$(env KILN_ROOT="$R4" "$KILN" images -q | wc -l)" 3000
expect_eq "with 6,001 blobs" "$(blobs "$R4")" 6001
run_ok "and the store checks clean" env KILN_ROOT="$R4" "$KILN" system check
rm -rf "$R4" "$T/idx.tar"

# --- kill -9 during a load: staged files are unnamed, nothing is left
mkdir -p "$T/big/d" && head -c 80000000 /dev/urandom >"$T/big/d/rand"
tar -C "$T/big" -cf "$T/big.tar" . && rm -rf "$T/big"
mkarchive "$T/big-archive.tar" "$T/big.tar"
rm -f "$T/big.tar"
R5="$T/r5"
for delay in 0.1 0.4 0.8; do
	"$KILN" --root "$R5" load -i "$T/big-archive.tar" >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	clean_tmp "load killed after ${delay}s" "$R5"
done
run_ok "the store checks clean after the kills" env KILN_ROOT="$R5" "$KILN" system check
rm -rf "$R5" "$T/big-archive.tar"

# --- decompression bombs, on a 160 MiB tmpfs only
if [ "$(id -u)" != 0 ] || ! { mkdir -p "$T/small" && mount -t tmpfs -o size=160m tmpfs "$T/small"; }; then
	ok "# SKIP bombs need a tmpfs (root)"
	exit 0
fi
at_exit "umount -l '$T/small'"
S="$T/small/root"
mkdir -p "$S"
zeros_tar() { # N_MIB: a tar stream of one file of N MiB of zeros
	python3 - "$1" <<'PY'
import sys, tarfile
n = int(sys.argv[1]) << 20
class Z:
    def read(self, k): return b"\0" * k
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as t:
    i = tarfile.TarInfo("zeros"); i.size = n; t.addfile(i, Z())
PY
}
zeros_tar 1024 | zstd -q -3 >"$T/bomb.tar.zst"
run_fail "a 1 GiB zstd bomb import (on a 160 MiB disk) stops at the ratio limit" 1 env KILN_ROOT="$S" "$KILN" import "$T/bomb.tar.zst" bomb:1
expect_contains "names the limit" "$OUT" "KILN_LAYER_MAX_RATIO"
expect_eq "no blob left" "$(blobs "$S")" 0
clean_tmp "zstd bomb" "$S"
run_fail "the same under a size limit" 1 env KILN_ROOT="$S" KILN_LAYER_MAX_RATIO=0 KILN_LAYER_MAX_SIZE=20m "$KILN" import "$T/bomb.tar.zst" bomb:1
expect_contains "names the size limit" "$OUT" "KILN_LAYER_MAX_SIZE"
clean_tmp "size limit" "$S"
zeros_tar 512 | bzip2 -1 >"$T/bomb.tar.bz2"
mkarchive "$T/bomb-archive.tar" "$T/bomb.tar.bz2"
run_fail "a bzip2 bomb layer in load stops at the ratio limit" 1 env KILN_ROOT="$S" "$KILN" load -i "$T/bomb-archive.tar"
expect_contains "names the limit" "$OUT" "KILN_LAYER_MAX_RATIO"
expect_eq "no blob left" "$(blobs "$S")" 0
clean_tmp "bzip2 bomb" "$S"
run_fail "a bad limit value is an error" 1 env KILN_ROOT="$S" KILN_LAYER_MAX_SIZE=lots "$KILN" import "$T/ok.tar" x:1
expect_contains "naming the variable" "$OUT" "KILN_LAYER_MAX_SIZE=\`lots\`"
rm -f "$T"/bomb*
