#!/usr/bin/env bash
# Concurrent tagging never loses a tag; kill -9 in a tag loop leaves a
# consistent store.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is needed for the image fixture"
ID=$(python3 "$KILN_SRC/tests/e2e/mkimage.py" "$ROOT" docker.io/library/base:latest c)
pids=()
for i in $(seq 1 20); do kiln tag base "t$i:v" & pids+=($!); done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
expect_eq "20 parallel tags succeed" "$fails" "0"
missing=0
for i in $(seq 1 20); do kiln inspect -f '{{.Id}}' "t$i:v" >/dev/null 2>&1 || missing=$((missing + 1)); done
expect_eq "every tag is present" "$missing" "0"
run_ok "images lists 21 tags" kiln images -q
expect_eq "one line per tag (docker's images -q)" "$(printf '%s\n' "$OUT" | wc -l)" "21"
expect_eq "one image id" "$(printf '%s\n' "$OUT" | sort -u)" "${ID:7:12}"
( i=0; while true; do i=$((i + 1)); "$KILN" tag base "loop$((i % 7)):x" >/dev/null 2>&1; "$KILN" rmi "loop$(((i + 3) % 7)):x" >/dev/null 2>&1; done ) &
loop=$!
sleep 2
kill -9 "$loop" 2>/dev/null
wait "$loop" 2>/dev/null
run_ok "store check after kill -9" kiln system check
run_ok "base still resolves" kiln inspect -f '{{.Id}}' base
expect_eq "base id" "$OUT" "$ID"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$ROOT/images/index.json" && ok "index.json is valid JSON" || not_ok "index.json is valid JSON"
