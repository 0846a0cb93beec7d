#!/usr/bin/env bash
# Review 6: digest references (NAME@sha256:...) as docker 20.10 treats
# them after a push or a pull. docker's rules: a digest reference names an
# image only under the repository a registry returned it for; `rmi
# NAME@DIGEST` untags that reference (the image goes with its last
# reference); an image pulled by digest lists as NAME <none> DIGEST.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a

mkctx "$T/c1" one
run_ok "import" kiln import "$T/c1" "$R/img:1"
ID=$(kiln inspect -f '{{.Id}}' "$R/img:1")
run_ok "push" kiln push "$R/img:1"
DIG=$(printf '%s\n' "$OUT" | sed -n 's/^1: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
[ -n "$DIG" ] && ok "push printed the digest" || { not_ok "no digest in: $OUT"; exit 1; }

# A digest under another repository name is not this image (docker: No such
# image, exit 1). kiln matched a pulled image's manifest digest under any
# name, and rmi then removed the image and its tag.
Q="$T/bytag"
run_ok "pull by tag" kiln --root "$Q" pull "$R/img:1"
run_fail "rmi of the digest under another name is refused" 1 kiln --root "$Q" rmi "zzz@$DIG"
expect_contains "... as docker: No such image" "$OUT" "No such image: zzz@$DIG"
expect_eq "... and the image keeps its tag" "$(kiln --root "$Q" inspect -f '{{.Id}}' "$R/img:1" 2>&1)" "$ID"
run_fail "inspect of the digest under another name" 1 kiln --root "$Q" inspect -f '{{.Id}}' "zzz@$DIG"

# rmi of the last tag of a pulled image: its digest reference goes with it,
# and docker prints it untagged before the image is deleted
run_ok "rmi of a pulled image's last tag" kiln --root "$Q" rmi "$R/img:1"
expect_eq "... untags the tag, then the digest, then deletes (docker's lines)" \
	"$(printf '%s\n' "$OUT" | grep -v '^Deleted: sha256:' | tr '\n' ' ')$(grep -c "^Deleted: $ID" <<<"$OUT")" \
	"Untagged: $R/img:1 Untagged: $R/img@$DIG 1"

# rmi of the RepoDigest push recorded untags it; the tag stays.
run_ok "rmi NAME@DIGEST of a pushed image" kiln rmi "$R/img@$DIG"
expect_eq "... prints docker's line" "$OUT" "Untagged: $R/img@$DIG"
expect_eq "... keeps the tag" "$(kiln inspect -f '{{.Id}}' "$R/img:1" 2>&1)" "$ID"
expect_eq "... and drops the RepoDigest" "$(kiln inspect -f '{{json .RepoDigests}}' "$R/img:1" 2>&1)" "[]"

# Pulled by digest: listed under its repository, removed by that reference.
P="$T/pulled"
run_ok "pull by digest" kiln --root "$P" pull "$R/img@$DIG"
expect_eq "images --digests lists NAME <none> DIGEST" \
	"$(kiln --root "$P" images --digests --format '{{.Repository}} {{.Tag}} {{.Digest}}')" "$R/img <none> $DIG"
run_ok "rmi of the reference it was pulled by" kiln --root "$P" rmi "$R/img@$DIG"
expect_contains "... untags it" "$OUT" "Untagged: $R/img@$DIG"
expect_contains "... and deletes the image" "$OUT" "Deleted: $ID"
expect_eq "... nothing is left" "$(kiln --root "$P" images -a -q)" ""
run_ok "the store checks clean" kiln --root "$P" system check
