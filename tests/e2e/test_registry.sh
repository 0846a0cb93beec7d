#!/usr/bin/env bash
# Registry client against Debian's docker-registry on 127.0.0.1: push and
# pull round trips, skopeo interop both ways, platform selection from an
# image index, RepoDigests, missing tags and repositories, gc of
# compressed copies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a

mkctx "$T/c1" one
run_ok "import an image" kiln import "$T/c1" "$R/img:1"
ID=$(kiln inspect -f '{{.Id}}' "$R/img:1")

run_ok "push" kiln push "$R/img:1"
expect_contains "push names the repository" "$OUT" "The push refers to repository [$R/img]"
expect_contains "push prints Pushed" "$OUT" ": Pushed"
DIG=$(printf '%s\n' "$OUT" | sed -n 's/^1: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
[ -n "$DIG" ] && ok "push prints TAG: digest: ... size: N" || not_ok "no digest line in: $OUT"
expect_eq "the registry has the digest push printed" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/img:1")" "$DIG"
expect_eq "push records the RepoDigest" "$(kiln inspect -f '{{json .RepoDigests}}' "$R/img:1")" "[\"$R/img@$DIG\"]"
expect_contains "the DIGEST column shows the registry's digest" "$(kiln images --digests "$R/img")" "$DIG"

run_ok "second push" kiln push "$R/img:1"
expect_contains "second push finds the layer" "$OUT" "Layer already exists"
expect_contains "second push, same digest" "$OUT" "1: digest: $DIG"

run_ok "tag into another repository" kiln tag "$R/img:1" "$R/other:2"
run_ok "push to another repository" kiln push "$R/other:2"
expect_contains "cross-repository mount" "$OUT" "Mounted from img"

R2="$T/root2"
run_ok "pull into an empty root" kiln --root "$R2" pull "$R/img:1"
expect_contains "pull prints per-layer lines" "$OUT" ": Pull complete"
expect_contains "pull prints the digest" "$OUT" "Digest: $DIG"
expect_contains "pull prints the status" "$OUT" "Status: Downloaded newer image for $R/img:1"
expect_eq "pull prints the reference last" "$(printf '%s\n' "$OUT" | tail -1)" "$R/img:1"
expect_eq "same image ID after push and pull" "$(kiln --root "$R2" inspect -f '{{.Id}}' "$R/img:1")" "$ID"
expect_eq "pulled RepoDigests" "$(kiln --root "$R2" inspect -f '{{json .RepoDigests}}' "$R/img:1")" "[\"$R/img@$DIG\"]"
run_ok "pull again" kiln -D --root "$R2" pull "$R/img:1"
expect_contains "a HEAD finds the manifest stored" "$OUT" "registry: manifest $DIG is stored: no GET"
expect_not_contains "so it is not downloaded again" "$OUT" "GET http://$R/v2/img/manifests/1"
expect_contains "the image is up to date" "$OUT" "Status: Image is up to date for $R/img:1"
run_ok "pulled store checks clean" kiln --root "$R2" system check
run_ok "pull again" kiln --root "$R2" pull "$R/img:1"
expect_contains "pull again is up to date" "$OUT" "Status: Image is up to date for $R/img:1"
expect_not_contains "pull again of a stored image: no layer lines, as docker" "$OUT" "Already exists"
if command -v script >/dev/null; then
	TTY_OUT=$(script -qec "'$KILN' --root '$T/root11' pull '$R/img:1'" /dev/null)
	expect_contains "a terminal gets progress bars" "$TTY_OUT" ": Downloading ["
	expect_contains "a terminal gets each layer redrawn in place" "$TTY_OUT" "$(printf '\033[1A')"
fi
expect_not_contains "no progress bars without a terminal" "$OUT" "Downloading"
run_ok "pull -q" kiln --root "$R2" pull -q "$R/img:1"
expect_eq "pull -q prints the reference only" "$OUT" "$R/img:1"
run_ok "pull by digest" kiln --root "$T/root3" pull "$R/img@$DIG"
expect_eq "pulled by digest" "$(kiln --root "$T/root3" inspect -f '{{.Id}}' "$R/img@$DIG")" "$ID"
run_ok "pulled image saves" kiln --root "$R2" save -o "$T/pulled.tar" "$R/img:1"

run_ok "skopeo copies what kiln pushed" skopeo copy --src-tls-verify=false \
	"docker://$R/img:1" "oci:$T/sk-layout:x"
mkctx "$T/c2" two
run_ok "import another" kiln import "$T/c2" sk:1
run_ok "skopeo pushes" skopeo copy --dest-tls-verify=false \
	"oci:$ROOT/images:docker.io/library/sk:1" "docker://$R/sk:1"
ID2=$(kiln inspect -f '{{.Id}}' sk:1)
run_ok "kiln pulls what skopeo pushed" kiln --root "$R2" pull "$R/sk:1"
expect_eq "same image ID through skopeo" "$(kiln --root "$R2" inspect -f '{{.Id}}' "$R/sk:1")" "$ID2"

python3 "$KILN_SRC/tests/e2e/mkindex.py" "$T/multi" m1 >"$T/multi.ids"
run_ok "skopeo pushes an image index" skopeo copy --all --dest-tls-verify=false "oci:$T/multi:m1" "docker://$R/multi:1"
AMD=$(awk '$1=="amd64"{print $2}' "$T/multi.ids")
ARM=$(awk '$1=="arm64"{print $2}' "$T/multi.ids")
run_ok "pull an index for linux/amd64" kiln --root "$T/root4" pull --platform linux/amd64 "$R/multi:1"
expect_eq "picks the amd64 image" "$(kiln --root "$T/root4" inspect -f '{{.Id}}' "$R/multi:1")" "$AMD"
run_ok "pull an index for linux/arm64" kiln --root "$T/root5" pull --platform linux/arm64 "$R/multi:1"
expect_eq "picks the arm64 image" "$(kiln --root "$T/root5" inspect -f '{{.Id}}' "$R/multi:1")" "$ARM"
IDX=$(skopeo inspect --raw --tls-verify=false "docker://$R/multi:1" | sha256sum | cut -d' ' -f1)
expect_eq "RepoDigest of an index pull is the index's" \
	"$(kiln --root "$T/root5" inspect -f '{{json .RepoDigests}}' "$R/multi:1")" "[\"$R/multi@sha256:$IDX\"]"
run_fail "no matching platform" 1 kiln --root "$T/root5" pull --platform linux/s390x "$R/multi:1"
expect_contains "no matching platform message" "$OUT" "no matching manifest for linux/s390x in the manifest list entries"

python3 "$KILN_SRC/tests/e2e/mklayers.py" "$T/empties" e1 3 0 >/dev/null
run_ok "skopeo pushes an image with one empty layer listed three times" \
	skopeo copy --dest-tls-verify=false "oci:$T/empties:e1" "docker://$R/empties:1"
run_ok "pull it" kiln --root "$T/root12" pull "$R/empties:1"
expect_eq "the shared blob is downloaded once" "$(printf '%s\n' "$OUT" | grep -c 'Pulling fs layer')" 1
run_ok "the image with repeated layers checks clean" kiln --root "$T/root12" system check
run_ok "tag it for another repository" kiln --root "$T/root12" tag "$R/empties:1" "$R/empties2:1"
run_ok "push the image with repeated layers" kiln --root "$T/root12" push "$R/empties2:1"
expect_eq "its shared layer is handled once" "$(printf '%s\n' "$OUT" | grep -c 'Preparing')" 1
expect_eq "pushed with the same manifest digest" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/empties2:1")" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/empties:1")"

run_ok "manifest inspect" kiln manifest inspect "$R/multi:1"
expect_contains "manifest inspect prints the index" "$OUT" '"application/vnd.oci.image.index.v1+json"'

run_fail "missing tag" 1 kiln --root "$T/root6" pull "$R/img:nope"
expect_eq "missing tag message: docker's, with its daemon's prefix" "$OUT" "Error response from daemon: manifest for $R/img:nope not found: manifest unknown: manifest unknown"
run_fail "missing repository" 1 kiln --root "$T/root6" pull "$R/nothere"
expect_contains "missing repository message" "$OUT" "$R/nothere"
expect_eq "nothing stored after failed pulls" "$(ls "$T/root6/images/blobs/sha256" | wc -l)" 0
run_fail "push of an unknown image" 1 kiln push "$R/none:1"
expect_eq "push of an unknown image: docker's lines (a stream error, no prefix)" "$OUT" "The push refers to repository [$R/none]
An image does not exist locally with the tag: $R/none"
kiln tag "$R/img:1" 127.0.0.1:1/img:1
run_fail "push to a registry that is not there" 1 kiln push 127.0.0.1:1/img:1
expect_eq "... starts as docker's stream does" "$(printf '%s\n' "$OUT" | head -1)" "The push refers to repository [127.0.0.1:1/img]"
expect_not_contains "... and its error is bare" "$OUT" "Error"
run_fail "pull from a registry that is not there" 1 kiln --root "$T/root6" pull 127.0.0.1:1/img:1
expect_contains "... is an error of docker's daemon" "$OUT" "Error response from daemon: manifest for 127.0.0.1:1/img:1"
expect_not_contains "... before any pull line" "$OUT" "Pulling from"

# a multi-layer image goes up 3 layers at a time (each compressed while it
# uploads): pulled back into an empty root it is the same image
mkdir -p "$T/c4"
for i in 1 2 3 4 5; do
	head -c 300000 /dev/urandom >"$T/c4/f$i"
	seq 1 $((i * 50000)) >"$T/c4/t$i"
done
printf 'FROM scratch\nCOPY f1 t1 /a/\nCOPY f2 t2 /b/\nCOPY f3 t3 /c/\nCOPY f4 t4 /d/\nCOPY f5 t5 /e/\n' >"$T/c4/Dockerfile"
run_ok "build a five-layer image" kiln build -q -t "$R/five:1" "$T/c4"
run_ok "push the five layers" kiln push "$R/five:1"
expect_eq "five layers pushed" "$(printf '%s\n' "$OUT" | grep -c ': Pushed$')" 5
expect_eq "... after five Preparing lines" "$(printf '%s\n' "$OUT" | grep -c ': Preparing$')" 5
expect_contains "the manifest last" "$(printf '%s\n' "$OUT" | tail -1)" "1: digest: sha256:"
DIG5=$(printf '%s\n' "$OUT" | sed -n 's/^1: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
expect_eq "skopeo finds the pushed manifest" \
	"$(skopeo inspect --tls-verify=false --format '{{.Digest}} {{len .Layers}}' "docker://$R/five:1")" "$DIG5 5"
run_ok "pull the five layers into an empty root" kiln --root "$T/root13" pull "$R/five:1"
expect_contains "... with the pushed manifest digest" "$OUT" "Digest: $DIG5"
expect_eq "... and the same image ID" "$(kiln --root "$T/root13" inspect -f '{{.Id}}' "$R/five:1")" \
	"$(kiln inspect -f '{{.Id}}' "$R/five:1")"
run_ok "the pulled five-layer image checks clean" kiln --root "$T/root13" system check
# a host whose boot id cannot be read (KILN_TEST_BOOT_ID=unknown, tests
# only): the pull writes durable snapshot markers and works
run_ok "unknown boot: pull the five layers" env KILN_TEST_BOOT_ID=unknown "$KILN" --root "$T/root14" pull "$R/five:1"
expect_eq "unknown boot: durable markers only" \
	"$(ls "$T/root14/snapshots" | grep -c '\.complete$') $(ls "$T/root14/snapshots" | grep -c '\.unsynced$')" "5 0"
run_ok "unknown boot: the pulled image checks clean" env KILN_TEST_BOOT_ID=unknown "$KILN" --root "$T/root14" system check

# parallel gzip: members made on every core form one gzip stream whose
# content is the layer (several 4 MiB pieces, compressible and not)
mkctx "$T/c3" three
head -c 9000000 /dev/urandom >"$T/c3/bin/big"
seq 1 400000 >"$T/c3/etc/text"
run_ok "import a multi-piece image" kiln import "$T/c3" "$R/big:1"
run_ok "push it" kiln push "$R/big:1"
DIFF=$(kiln inspect -f '{{index .RootFS.Layers 0}}' "$R/big:1")
GZ=$(grep -l . "$ROOT"/compressed/"${DIFF#sha256:}".gzip)
ZB="$ROOT/images/blobs/sha256/$(cut -d' ' -f1 "$GZ" | cut -d: -f2)"
run_ok "gzip -t reads the pushed layer" gzip -t "$ZB"
expect_eq "gunzip gives the layer back" "sha256:$(gzip -dc "$ZB" | sha256sum | cut -d' ' -f1)" "$DIFF"
run_ok "pull the multi-piece image" kiln -D --root "$T/root7" pull "$R/big:1"
expect_contains "the layer is unpacked while it downloads" "$OUT" "registry: unpacking sha256:"
expect_eq "multi-piece image ID" "$(kiln --root "$T/root7" inspect -f '{{.Id}}' "$R/big:1")" \
	"$(kiln inspect -f '{{.Id}}' "$R/big:1")"
cmp -s "$T/c3/bin/big" "$T/root7/snapshots/${DIFF#sha256:}/bin/big" && ok "the snapshot holds the file" ||
	not_ok "snapshot content differs"
run_ok "push with --compression zstd" kiln push --compression zstd "$R/big:1"
ZD=$(skopeo inspect --raw --tls-verify=false "docker://$R/big:1" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["mediaType"])')
expect_eq "zstd layer media type" "$ZD" "application/vnd.oci.image.layer.v1.tar+zstd"
run_ok "pull the zstd image" kiln --root "$T/root8" pull "$R/big:1"
expect_eq "zstd image ID" "$(kiln --root "$T/root8" inspect -f '{{.Id}}' "$R/big:1")" \
	"$(kiln inspect -f '{{.Id}}' "$R/big:1")"

# an already compressed layer to a registry that lacks it: PATCH chunks
start_registry b || not_ok "second registry starts"
run_ok "tag for the second registry" kiln tag "$R/big:1" "$REG_b/big:1"
run_ok "chunked push" env KILN_PUSH_CHUNK_SIZE=1048576 "$KILN" -D push --compression gzip "$REG_b/big:1"
expect_contains "chunked push uploads the layer" "$OUT" ": Pushed"
expect_contains "chunked push sends PATCH requests" "$OUT" "registry: PATCH http://$REG_b/v2/big/blobs/uploads/"
run_ok "pull what went up in chunks" kiln --root "$T/root9" pull "$REG_b/big:1"
expect_eq "chunked image ID" "$(kiln --root "$T/root9" inspect -f '{{.Id}}' "$REG_b/big:1")" \
	"$(kiln inspect -f '{{.Id}}' "$R/big:1")"

run_ok "pull -a" kiln --root "$T/root10" pull -a "$R/other"
expect_eq "pull -a ends with the repository" "$(printf '%s\n' "$OUT" | tail -1)" "$R/other"
expect_contains "pull -a pulls each tag" "$OUT" "2: Pulling from other"
run_fail "pull -a with a tag" 125 kiln --root "$T/root10" pull -a "$R/other:2"

run_ok "search the catalog" kiln search "$R/im"
expect_contains "search lists img" "$OUT" "img"

# compressed copies stay while the image lives, go with it
D1=$(kiln inspect -f '{{index .RootFS.Layers 0}}' "$R/img:1")
Z=$(cut -d' ' -f1 "$ROOT/compressed/${D1#sha256:}.gzip")
run_ok "prune keeps the compressed copy" kiln system prune -f
[ -f "$ROOT/images/blobs/sha256/${Z#sha256:}" ] && ok "compressed blob kept" || not_ok "compressed blob gone"
run_ok "remove the images" kiln rmi "$R/img:1" "$R/other:2" "$R/big:1"
run_ok "prune" kiln system prune -a -f
[ ! -f "$ROOT/images/blobs/sha256/${Z#sha256:}" ] && ok "compressed blob collected" || not_ok "compressed blob left"
