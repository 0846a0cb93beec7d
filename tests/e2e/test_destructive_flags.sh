#!/usr/bin/env bash
# A destructive command never ignores a flag that narrows or redirects it
# (issue 15's audit): rm --link removes a link (kiln has none), never the
# container; prune filters are applied or refused, never skipped.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "containers need root"
mkdir -p "$T/src/bin" && echo hi >"$T/src/bin/f" && tar -C "$T/src" -cf "$T/l.tar" .
run_ok "import" kiln import "$T/l.tar" keep:1
run_ok "create a container" kiln create --name keepme keep:1 /bin/f
run_fail "rm --link fails" 1 kiln rm --link keepme
expect_contains "says why" "$OUT" "kiln has no container links (nothing was removed)"
expect_eq "the container is still there" "$(kiln ps -a -q --filter name=keepme | wc -l)" 1
run_ok "container prune --filter until=1h" kiln container prune -f --filter until=1h
expect_eq "the filter is applied: the young container is kept" "$(kiln ps -a -q --filter name=keepme | wc -l)" 1
run_fail "image prune with an unknown filter" 1 kiln image prune -a -f --filter bogus=1
run_ok "image prune --filter label= that matches nothing" kiln image prune -a -f --filter label=nope
expect_eq "the image is kept" "$(kiln images -q keep:1 | wc -l)" 1
run_ok "container prune --filter label= that matches nothing" kiln container prune -f --filter label=nope
expect_eq "the container is kept" "$(kiln ps -a -q --filter name=keepme | wc -l)" 1
run_fail "container prune with an unknown filter" 1 kiln container prune -f --filter bogus=1
expect_contains "names the key" "$OUT" "Invalid filter 'bogus'"
run_ok "remove the container" kiln rm keepme
