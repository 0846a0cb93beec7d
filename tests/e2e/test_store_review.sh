#!/usr/bin/env bash
# Findings of the hostile review of issue 16's fixes: a complete snapshot
# changed by hand afterwards is seen by `system check`, dropped by
# `--repair`, and unpacked again by the next use instead of being reused.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/base/d/e" "$T/ctx"
for i in 1 2 3; do echo "$i" >"$T/base/d/f$i"; done
echo g >"$T/base/d/e/g"
echo a >"$T/ctx/a"
tar -C "$T/base" -cf "$T/base.tar" d
run_ok "import a base image" kiln import "$T/base.tar" base:1
printf 'FROM base:1\nCOPY a /a\n' >"$T/ctx/Dockerfile"
run_ok "a build unpacks the base layer as a snapshot" kiln build -q -t b:1 "$T/ctx"
snap=$(find "$ROOT/snapshots" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' | head -1)
if [ -n "$snap" ] && [ -e "$snap.complete" ]; then ok "the snapshot is marked complete"; else not_ok "no complete snapshot"; fi
run_ok "the store checks clean" kiln system check

rm -rf "$snap/d/e" "$snap/d/f2"
run_fail "a complete snapshot partly deleted by hand fails the check" 1 kiln system check
expect_contains "the check names the damaged snapshot" "$OUT" "damaged snapshot"
run_ok "--repair drops it" kiln system check --repair
if [ ! -e "$snap" ] && [ ! -e "$snap.complete" ]; then ok "no tree or marker left"; else not_ok "the damaged snapshot is still there"; fi
run_ok "the store checks clean after the repair" kiln system check
run_ok "the next build unpacks it again" kiln build -q --no-cache -t b:2 "$T/ctx"
if [ -e "$snap/d/e/g" ] && [ -e "$snap/d/f2" ]; then ok "the snapshot is whole again"; else not_ok "the snapshot is still partial"; fi
run_ok "and checks clean" kiln system check
