#!/usr/bin/env bash
# Review 6: docker 20.10's `push -a/--all-tags` (every local tag of a
# repository, one "The push refers to repository" line, then each tag's
# layers and digest line) and its "Using default tag: latest" when a push
# names no tag. kiln had no -a (exit 125) and no default-tag line.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a

mkctx "$T/c1" one
run_ok "import" kiln import "$T/c1" "$R/multi:a"
run_ok "a second tag" kiln tag "$R/multi:a" "$R/multi:b"
run_ok "an image of another repository" kiln tag "$R/multi:a" "$R/other:c"
run_ok "push -a pushes every tag of the repository" kiln push -a "$R/multi"
expect_eq "... names the repository once" "$(printf '%s\n' "$OUT" | grep -c '^The push refers to repository')" 1
expect_contains "... tag a" "$OUT" "a: digest: sha256:"
expect_contains "... tag b" "$OUT" "b: digest: sha256:"
expect_not_contains "... and no tag of another repository" "$OUT" "c: digest:"
expect_eq "the registry lists both tags" "$(skopeo list-tags --tls-verify=false "docker://$R/multi" |
	python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["Tags"])))')" "a b"
run_fail "push -a with a tag is refused as docker does" 1 kiln push -a "$R/multi:a"
expect_contains "... with docker's message" "$OUT" "tag can't be used with --all-tags/-a"
run_fail "push without a tag and no latest" 1 kiln push "$R/multi"
expect_eq "... says it uses latest first, as docker" "$(printf '%s\n' "$OUT" | head -1)" "Using default tag: latest"
