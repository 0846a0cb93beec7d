#!/usr/bin/env bash
# Image sizes count the bytes of a layer's files as docker does (regular
# files once per inode, symlink targets; directories, devices, whiteouts 0),
# remembered per diffID in ROOT/layers/ and counted again from the blob when
# that record is missing (a store of an earlier kiln); gc drops records of
# dead layers. test_docker_diff.sh compares the numbers with docker's.
. "$(dirname "$0")/lib.sh"
R="$T/r"
mkdir -p "$R/d" "$R/empty"
printf abc >"$R/d/f"
ln "$R/d/f" "$R/d/h"
ln -s a-longer-target "$R/s"
: >"$R/e"
printf 12345 >"$R/.wh.gone"
tar -C "$R" -cf "$T/rich.tar" .
want=$((3 + 15)) # f once (h is its hardlink), the symlink's 15-byte target

run_ok "import a tar" kiln import "$T/rich.tar" rich:1
expect_eq "inspect .Size counts files" "$(kiln inspect -f '{{.Size}} {{.VirtualSize}}' rich:1)" "$want $want"
expect_eq "history counts files" "$(kiln history -H=false --format '{{.Size}}' rich:1)" "$want"
diff=$(kiln inspect -f '{{index .RootFS.Layers 0}}' rich:1)
rec="$ROOT/layers/${diff#sha256:}"
expect_eq "the size is remembered per diffID" "$(cat "$rec" 2>&1)" "usage=$want"

rm -f "$rec"
expect_eq "a missing record is counted from the blob" "$(kiln inspect -f '{{.Size}}' rich:1)" "$want"
expect_eq "and remembered again" "$(cat "$rec" 2>&1)" "usage=$want"
echo garbage >"$rec"
expect_eq "a torn record is counted again" "$(kiln inspect -f '{{.Size}}' rich:1)" "$want"
echo usage=-1 >"$rec"
expect_eq "a negative record is counted again" "$(kiln inspect -f '{{.Size}}' rich:1)" "$want"

run_ok "import a directory" kiln import "$R" dir:1
expect_eq "a directory import counts the same" "$(kiln inspect -f '{{.Size}}' dir:1)" "$want"
run_ok "save and load" sh -c "'$KILN' save rich:1 | '$KILN' load"
expect_eq "system df totals distinct layers" "$(kiln system df --format '{{.Type}} {{.Size}}' | head -1)" "Images 36B"

run_ok "remove the images" kiln rmi rich:1 dir:1
run_ok "prune" kiln image prune -a -f
expect_eq "gc drops records of dead layers" "$(ls "$ROOT/layers" | wc -l)" 0
