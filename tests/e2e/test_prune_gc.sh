#!/usr/bin/env bash
# rmi, image prune and system prune -a -f remove exactly what no remaining
# image (or ROOT/gc-roots file) reaches: blobs in ROOT/images/blobs/sha256
# and snapshots in ROOT/snapshots. The expected set is computed here from
# index.json independently of kiln, and cross-checked with umoci gc and
# skopeo; what remains must still save and load.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is needed"
need_busybox
export SOURCE_DATE_EPOCH=1700000000
B="$ROOT/images/blobs/sha256"
# reach MODE: sorted blob hexes reachable from index.json entries (all |
# tagged) plus gc-roots files; MODE=diffids prints reachable configs' diffIDs
reach() {
	python3 - "$ROOT" "$1" <<'EOF'
import json, os, sys
root, mode = sys.argv[1], sys.argv[2]
blobs = os.path.join(root, "images", "blobs", "sha256")
seen, diff = set(), set()
def walk(d):
    h = d.split(":", 1)[1]
    if h in seen or not os.path.exists(os.path.join(blobs, h)):
        return
    seen.add(h)
    try:
        doc = json.load(open(os.path.join(blobs, h)))
    except ValueError:
        return
    if not isinstance(doc, dict):
        return
    for m in doc.get("manifests", []):
        walk(m["digest"])
    if "config" in doc and "layers" in doc:
        walk(doc["config"]["digest"])
        cfg = json.load(open(os.path.join(blobs, doc["config"]["digest"].split(":", 1)[1])))
        diff.update(x.split(":", 1)[1] for x in cfg["rootfs"]["diff_ids"])
        for l in doc["layers"]:
            seen.add(l["digest"].split(":", 1)[1])
idx = json.load(open(os.path.join(root, "images", "index.json")))
for m in idx.get("manifests", []):
    if mode != "tagged" or "org.opencontainers.image.ref.name" in m.get("annotations", {}):
        walk(m["digest"])
gr = os.path.join(root, "gc-roots")
for f in sorted(os.listdir(gr)) if os.path.isdir(gr) else []:
    for line in open(os.path.join(gr, f)):
        if line.startswith("sha256:"):
            walk(line.strip())
print("\n".join(sorted(diff if mode == "diffids" else seen)))
EOF
}
have() { ls "$B" | LC_ALL=C sort; }
snaps() { ls "$ROOT/snapshots" 2>/dev/null | grep -Ev '\.(complete|unsynced)$' | LC_ALL=C sort; }
same_set() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1 ($(printf '%s' "$2" | grep -c .) entries)"
	else not_ok "$1"; diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") | head -10 | sed 's/^/#   /'; fi
}
umoci_count() { # blobs left after umoci gc of a copy of the layout
	rm -rf "$T/uc" && cp -a "$ROOT/images" "$T/uc" && umoci gc --layout "$T/uc" >/dev/null 2>&1 &&
		ls "$T/uc/blobs/sha256" | wc -l
}
fake_snapshots() { # what `run` would unpack: one dir per live diffID, plus an orphan
	local h
	for h in $(reach diffids) $(printf orphan | sha256sum | cut -d' ' -f1); do
		mkdir -p "$ROOT/snapshots/$h/etc" && echo "$h" >"$ROOT/snapshots/$h/etc/snap" &&
			: >"$ROOT/snapshots/$h.complete" # complete: its marker (snapshot.c)
	done
}

# a store with shared layers, several tags, dangling images, distinct layers
mkdir -p "$T/u1" "$T/u2" "$T/d1" "$T/d2"
echo unique1 >"$T/u1/f" && head -c 300000 /dev/urandom >"$T/u1/r"
echo unique2 >"$T/u2/f" && echo dangling1 >"$T/d1/f" && echo dangling2 >"$T/d2/f"
run_ok "import bb:1" kiln import -c 'CMD ["sh"]' "$BB" bb:1
BB1=$OUT
run_ok "import bb:2 (same layer, other config)" kiln import -c 'CMD ["ls"]' "$BB" bb:2
run_ok "import u1 (own layer)" kiln import --compress zstd "$T/u1" u1:1
U1=$OUT
run_ok "import u2 with three tags" kiln import "$T/u2" u2:1
U2=$OUT
run_ok "tag u2" kiln tag u2:1 u2:2
run_ok "tag u2 again" kiln tag u2:1 localhost:5000/u2:3
run_ok "import a dangling image" kiln import "$T/d1"
D1=$OUT
run_ok "import another dangling image" kiln import --compress none "$T/d2"
D2=$OUT
run_ok "a dangling image made by re-tagging" kiln import -c 'LABEL old=1' "$T/u2" re:1
OLD=$OUT
run_ok "re-import over the tag" kiln import -c 'LABEL old=0' "$T/u2" re:1
# the same image loaded again with other layer compression: the tag moves to
# the new manifest and the old one must not stay behind as a dangling copy
# (saves from another root: a recompressing save caches the new layer blob in its store)
run_ok "same u2 import in another root" env KILN_ROOT="$T/rs" "$KILN" import "$T/u2" u2:1
expect_eq "same ID" "$OUT" "$U2"
run_ok "save u2 with gzip layers" env KILN_ROOT="$T/rs" "$KILN" save -o "$T/u2-gz.tar" u2:1
run_ok "save u2 with zstd layers" env KILN_ROOT="$T/rs" "$KILN" save --format oci --compress zstd -o "$T/u2-zst.tar" u2:1
run_ok "load the gzip archive into another root" env KILN_ROOT="$T/rl" "$KILN" load -i "$T/u2-gz.tar"
run_ok "load the zstd archive over it" env KILN_ROOT="$T/rl" "$KILN" load -i "$T/u2-zst.tar"
expect_eq "one index entry for the one image" "$(grep -o '"digest"' "$T/rl/images/index.json" | wc -l)" 1
run_ok "image prune -f there" env KILN_ROOT="$T/rl" "$KILN" image prune -f
expect_eq "the replaced manifest and its layer are collected" "$(ls "$T/rl/images/blobs/sha256" | wc -l)" 3
run_ok "rmi its only tag" env KILN_ROOT="$T/rl" "$KILN" rmi u2:1
expect_contains "deletes the image" "$OUT" "Deleted: $U2"
expect_eq "nothing left there" "$(ls "$T/rl/images/blobs/sha256" | wc -l)" 0
fake_snapshots
n0=$(ls "$B" | wc -l)
echo "# start: $n0 blobs, $(snaps | wc -l) snapshots"
same_set "at start every blob is reachable from index.json" "$(have)" "$(reach all)"
command -v umoci >/dev/null && expect_eq "umoci gc of a copy keeps every blob" "$(umoci_count)" "$n0"

# rmi of an image with its own layer removes its blobs and snapshot
run_ok "rmi u1:1" kiln rmi u1:1
expect_contains "deleted" "$OUT" "Deleted: $U1"
same_set "after rmi: blobs = reachable from index.json" "$(have)" "$(reach all)"
expect_eq "u1's config blob is gone" "$(ls "$B" | grep -c "${U1#sha256:}")" 0
same_set "after rmi: snapshots = live diffIDs (u1's and the orphan gone)" "$(snaps)" "$(reach diffids)"
n1=$(ls "$B" | wc -l)
run_ok "rmi of one of three tags only untags" kiln rmi u2:2
expect_eq "untag output" "$OUT" "Untagged: u2:2"
expect_eq "no blob removed by an untag" "$(ls "$B" | wc -l)" "$n1"
run_ok "rmi bb:2 (its layer is shared with bb:1)" kiln rmi bb:2
same_set "after rmi bb:2: blobs = reachable" "$(have)" "$(reach all)"
expect_eq "the shared layer stays: bb:1 snapshot still there" \
	"$(snaps | grep -c "$(kiln inspect -f '{{json .RootFS.Layers}}' bb:1 | grep -o '[0-9a-f]\{64\}')")" 1

# image prune removes the dangling images only
run_ok "image prune -f" kiln image prune -f
for id in "$D1" "$D2" "$OLD"; do expect_contains "prune deleted ${id:7:12}" "$OUT" "deleted: $id"; done
expect_not_contains "prune kept bb:1" "$OUT" "$BB1"
same_set "after image prune: blobs = reachable from tags" "$(have)" "$(reach tagged)"
same_set "after image prune: snapshots = live diffIDs" "$(snaps)" "$(reach diffids)"
run_ok "remaining tags" kiln images --format '{{.Repository}}:{{.Tag}}'
expect_eq "remaining tags" "$(printf '%s\n' "$OUT" | LC_ALL=C sort | tr '\n' ' ')" "bb:1 localhost:5000/u2:3 re:1 u2:1 "
run_ok "system check" kiln system check
if command -v umoci >/dev/null; then
	expect_eq "umoci gc of a copy finds nothing more to remove" "$(umoci_count)" "$(ls "$B" | wc -l)"
	run_ok "umoci ls" umoci ls --layout "$ROOT/images"
	expect_eq "umoci sees exactly the remaining tags" "$(printf '%s\n' "$OUT" | LC_ALL=C sort | tr '\n' ' ')" \
		"docker.io/library/bb:1 docker.io/library/re:1 docker.io/library/u2:1 localhost:5000/u2:3 "
fi
if command -v skopeo >/dev/null; then
	for r in docker.io/library/bb:1 docker.io/library/re:1 localhost:5000/u2:3; do
		run_ok "skopeo copies $r out of the store (every blob present)" skopeo copy -q "oci:$ROOT/images:$r" "dir:$T/sk-${r##*/}"
	done
fi

# what remains saves and loads
run_ok "save the remaining images" kiln save -o "$T/rest.tar" bb:1 re:1 u2:1 localhost:5000/u2:3
run_ok "save --format oci" kiln save --format oci -o "$T/rest-oci.tar" bb:1 re:1 u2:1
run_ok "load into a fresh root" env KILN_ROOT="$T/r2" "$KILN" load -i "$T/rest.tar"
expect_eq "same bb:1 ID there" "$(KILN_ROOT="$T/r2" "$KILN" inspect -f '{{.Id}}' bb:1)" "$BB1"
expect_eq "same u2 ID there" "$(KILN_ROOT="$T/r2" "$KILN" inspect -f '{{.Id}}' localhost:5000/u2:3)" "$U2"
run_ok "load the OCI archive too" env KILN_ROOT="$T/r2" "$KILN" load -i "$T/rest-oci.tar"
run_ok "system check of the fresh root" env KILN_ROOT="$T/r2" "$KILN" system check

# system prune -a -f: everything goes except what a gc-roots file holds
MAN=$(python3 -c 'import json,sys; print([m["digest"] for m in json.load(open(sys.argv[1]))["manifests"] if m.get("annotations",{}).get("org.opencontainers.image.ref.name")=="docker.io/library/bb:1"][0])' "$ROOT/images/index.json")
mkdir -p "$ROOT/gc-roots" && echo "$MAN" >"$ROOT/gc-roots/e2e-keep"
run_ok "system prune -a -f" kiln system prune -a -f
expect_contains "bb:1 deleted" "$OUT" "deleted: $BB1"
expect_contains "u2 deleted" "$OUT" "deleted: $U2"
run_ok "images" kiln images -q
expect_eq "no image left" "$OUT" ""
same_set "a gc root keeps its manifest, config and layer" "$(have)" "$(reach all)"
expect_eq "three blobs kept by the gc root" "$(ls "$B" | wc -l)" 3
same_set "and its snapshot" "$(snaps)" "$(reach diffids)"
rm -f "$ROOT/gc-roots/e2e-keep"
run_ok "system prune -a -f again" kiln system prune -a -f
expect_eq "no blob left" "$(ls "$B" | wc -l)" 0
expect_eq "no snapshot (nor marker) left" "$(ls -A "$ROOT/snapshots")" ""
expect_eq "no temp file left" "$(ls -A "$ROOT/tmp")" ""
run_ok "system check on the empty store" kiln system check
run_ok "the store still takes an import" kiln import "$T/u2" again:1
