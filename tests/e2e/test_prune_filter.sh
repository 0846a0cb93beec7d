#!/usr/bin/env bash
# image prune --filter narrows what is deleted, as docker 20.10's daemon
# does: until= (durations, RFC 3339 dates and times, unix seconds), label=
# and label!= (key or key=value); an unknown key or a bad value is refused
# (exit 1) before anything is deleted.
. "$(dirname "$0")/lib.sh"
need_busybox
tags() { kiln images --format '{{.Repository}}:{{.Tag}}' | sort | tr '\n' ' '; }
setup() {
	kiln rmi -f $(kiln images -q) >/dev/null 2>&1
	SOURCE_DATE_EPOCH=1700000000 kiln import -c 'LABEL keep=yes' "$BB" old:kept >/dev/null
	SOURCE_DATE_EPOCH=1700000000 kiln import -c 'LABEL tier=a' "$BB" old:plain >/dev/null
	kiln import -c 'LABEL keep=yes' "$BB" new:kept >/dev/null
	kiln import "$BB" new:plain >/dev/null
}
setup
ALL=$(tags)
expect_eq "four images" "$ALL" "new:kept new:plain old:kept old:plain "

for f in bogus=1 until=notatime until=2023-13-01 dangling=maybe; do
	run_fail "--filter $f refused" 1 kiln image prune -a -f --filter "$f"
	expect_eq "--filter $f deleted nothing" "$(tags)" "$ALL"
done
run_fail "unknown key: docker's message" 1 kiln image prune -a -f --filter bogus=1
expect_contains "Invalid filter 'bogus'" "$OUT" "Error: Invalid filter 'bogus'"
run_fail "bad until: docker's message" 1 kiln image prune -a -f --filter until=xyz
expect_contains "until message" "$OUT" 'failed to parse value as time or duration: "xyz"'
run_fail "filter without = is a usage error" 125 kiln image prune -a -f --filter until
run_fail "two until filters" 1 kiln image prune -a -f --filter until=1h --filter until=2h

run_ok "until=24h" kiln image prune -a -f --filter until=24h
expect_eq "until=24h kept the new images" "$(tags)" "new:kept new:plain "
expect_contains "until=24h reports old:kept" "$OUT" "untagged: old:kept"

for u in 2024-01-01 2024-01-01T00:00 2023-12-31T23:00:00-01:00 1700000000.5; do
	setup
	run_ok "until=$u" kiln image prune -a -f --filter "until=$u"
	expect_eq "until=$u removed only the 2023 images" "$(tags)" "new:kept new:plain "
done
setup
run_ok "until=1699999999" kiln image prune -a -f --filter until=1699999999
expect_eq "until before every image removes none" "$(tags)" "$ALL"

run_ok "label=keep" kiln image prune -a -f --filter label=keep
expect_eq "label=keep removed the labelled" "$(tags)" "new:plain old:plain "
setup
run_ok "label=tier=a" kiln image prune -a -f --filter label=tier=a
expect_eq "label=tier=a" "$(tags)" "new:kept new:plain old:kept "
setup
run_ok "label=tier=b" kiln image prune -a -f --filter label=tier=b
expect_eq "label=tier=b removes none" "$(tags)" "$ALL"
run_ok "label!=keep" kiln image prune -a -f --filter 'label!=keep'
expect_eq "label!=keep kept the labelled" "$(tags)" "new:kept old:kept "
setup
run_ok "until and label" kiln image prune -a -f --filter until=24h --filter label=keep=yes
expect_eq "both must match" "$(tags)" "new:kept new:plain old:plain "
setup
run_ok "without -a: dangling only" kiln image prune -f --filter until=24h
expect_eq "tagged images stay without -a" "$(tags)" "$ALL"
run_ok "dangling=false is -a" kiln image prune -f --filter dangling=false --filter label=tier
expect_eq "dangling=false" "$(tags)" "new:kept new:plain old:kept "

# container prune and system prune take the same keys
run_fail "container prune refuses an unknown key" 1 kiln container prune -f --filter bogus=1
expect_contains "container prune names the key" "$OUT" "Invalid filter 'bogus'"
setup
run_fail "system prune refuses dangling=" 1 kiln system prune -f --filter dangling=false
expect_eq "system prune with a bad filter removed nothing" "$(tags)" "$ALL"
