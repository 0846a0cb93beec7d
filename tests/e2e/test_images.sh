#!/usr/bin/env bash
# Image commands over a fixture store (tests/e2e/mkimage.py writes the OCI
# layout directly until `kiln import` exists).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is needed for the image fixture"
mk() { python3 "$KILN_SRC/tests/e2e/mkimage.py" "$ROOT" "$@"; }

run_ok "images on an empty store" kiln images
expect_eq "empty header" "$OUT" "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"
ID1=$(mk docker.io/library/busybox:latest one)
ID2=$(mk - two)
run_ok "images lists" kiln images
expect_contains "tagged row" "$OUT" "busybox      latest    ${ID1:7:12}"
expect_contains "dangling row" "$OUT" "<none>       <none>    ${ID2:7:12}"
expect_contains "relative time" "$OUT" "years ago"
run_ok "image ls alias" kiln image ls
run_ok "image list alias" kiln image list -q
expect_eq "-q prints ids" "$(printf '%s\n' "$OUT" | sort)" "$(printf '%s\n%s\n' "${ID1:7:12}" "${ID2:7:12}" | sort)"
run_ok "tag" kiln tag busybox myreg:5000/x/y:1
run_ok "images filter" kiln images myreg:5000/x/y
expect_contains "filter keeps match" "$OUT" "myreg:5000/x/y   1"
expect_not_contains "filter drops others" "$OUT" "busybox"
run_ok "--format template" kiln images --format '{{.Repository}}:{{.Tag}}'
expect_contains "template output" "$OUT" "busybox:latest"
expect_contains "template output 2" "$OUT" "myreg:5000/x/y:1"
run_ok "--format json" kiln images --format json
expect_contains "json line" "$OUT" "\"Repository\":\"busybox\""
run_ok "--no-trunc" kiln images --no-trunc
expect_contains "full id" "$OUT" "$ID1"
run_ok "--digests" kiln images --digests
expect_contains "digest column" "$OUT" "DIGEST"
run_ok "inspect" kiln inspect busybox
expect_contains "inspect id" "$OUT" "\"Id\": \"$ID1\""
expect_contains "inspect repotags" "$OUT" "\"busybox:latest\""
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d[0]["RootFS"]["Type"]=="layers"' "$OUT" && ok "inspect is a JSON array" || not_ok "inspect is a JSON array"
run_ok "inspect -f Id" kiln image inspect -f '{{.Id}}' busybox
expect_eq "inspect -f .Id" "$OUT" "$ID1"
run_ok "inspect -f Env" kiln inspect -f '{{.Config.Env}}' "${ID1:7:12}"
expect_eq "Go slice formatting" "$OUT" "[PATH=/usr/bin:/bin]"
run_ok "inspect -f Labels" kiln inspect -f '{{.Config.Labels}}' busybox
expect_eq "Go map formatting" "$OUT" "map[fixture:yes]"
run_ok "inspect -f json" kiln inspect -f '{{json .Config.Cmd}}' busybox
expect_eq "json func" "$OUT" '["/bin/sh"]'
run_fail "inspect missing" 1 kiln inspect nothing
expect_contains "no such object (docker: neither container nor image)" "$OUT" "No such object: nothing"
run_fail "inspect --type image missing" 1 kiln inspect --type image nothing
expect_contains "no such image" "$OUT" "No such image: nothing"
run_ok "history" kiln history busybox
expect_contains "history header" "$OUT" "IMAGE          CREATED       CREATED BY"
expect_contains "history missing row" "$OUT" "<missing>"
run_ok "history -q" kiln history -q busybox
run_ok "system df" kiln system df
expect_contains "df images row" "$OUT" "Images          2         0"
expect_contains "df containers row" "$OUT" "Containers      0         0         0B        0B"
run_fail "rmi by id with two tags needs -f" 1 kiln rmi "${ID1:7:12}"
expect_contains "conflict message" "$OUT" "must be forced"
run_ok "rmi a tag untags" kiln rmi myreg:5000/x/y:1
expect_eq "untagged line" "$OUT" "Untagged: myreg:5000/x/y:1"
run_ok "rmi the last tag deletes" kiln rmi busybox
expect_contains "untagged busybox" "$OUT" "Untagged: busybox:latest"
expect_contains "deleted" "$OUT" "Deleted: $ID1"
run_fail "deleted image is gone" 1 kiln inspect busybox
run_ok "prune without -f reads stdin (no)" bash -c "echo n | '$KILN' image prune"
run_ok "image still there" kiln inspect "$ID2"
run_ok "prune -f" kiln image prune -f
expect_contains "prune output" "$OUT" "deleted: $ID2"
expect_contains "reclaimed" "$OUT" "Total reclaimed space:"
run_ok "system check after prune" kiln system check
n=$(ls "$ROOT/images/blobs/sha256" | wc -l)
expect_eq "gc removed all blobs" "$n" "0"
ID3=$(mk docker.io/library/a:1 three)
run_ok "prune -a via yes on stdin" bash -c "echo y | '$KILN' system prune -a"
expect_contains "system prune deletes" "$OUT" "deleted: $ID3"
run_fail "tag with bad name" 1 kiln tag "$ID3" Bad
# import --platform: the image's os, architecture and variant
mkdir -p "$T/plat" && echo x >"$T/plat/f"
run_ok "import --platform" kiln import --platform linux/arm64/v8 "$T/plat" plat:1
expect_eq "platform recorded" "$(kiln inspect -f '{{.Os}}/{{.Architecture}}/{{.Variant}}' plat:1)" "linux/arm64/v8"
run_fail "import --platform bogus" 1 kiln import --platform bogus "$T/plat" plat:2
expect_contains "containerd's words" "$OUT" 'unknown operating system or architecture'
