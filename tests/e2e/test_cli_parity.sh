#!/usr/bin/env bash
# docker parity and store-lock regressions: relative times as go-units
# HumanDuration rounds them, option-parsing messages as pflag words them,
# SI sizes, and prune racing a half-written import or load.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/src" && echo hi >"$T/src/f"
# since AGE_SECONDS: the CREATED column of an image imported AGE_SECONDS ago
since() {
	SOURCE_DATE_EPOCH=$(($(date +%s) - $1)) kiln import "$T/src" "age:$1" >/dev/null &&
		kiln images --format '{{.CreatedSince}}' "age:$1"
}
expect_eq "1.5 h rounds up to 2 hours" "$(since 5400)" "2 hours ago"
expect_eq "1 h 20 min is about an hour" "$(since 4800)" "About an hour ago"
expect_eq "47.5 h rounds to 2 days" "$(since $((47 * 3600 + 1900)))" "2 days ago"
expect_eq "59 min" "$(since 3570)" "59 minutes ago"
expect_eq "3 years" "$(since $((3 * 365 * 86400 + 1000)))" "3 years ago"
# option parsing: messages as pflag words them, and its bool spellings
run_fail "unknown --flag=value" 125 kiln images --frob=1
expect_contains "names the flag without its value" "$OUT" "unknown flag: --frob"
expect_not_contains "value left out" "$OUT" "--frob=1"
run_fail "short flag without its argument" 125 kiln images -f
expect_contains "pflag's short-flag message" "$OUT" "flag needs an argument: 'f' in -f"
run_ok "bool flag spelled True" kiln images --no-trunc=True "age:5400"
expect_contains "--no-trunc=True is true" "$OUT" "sha256:"
run_ok "bool flag spelled F" kiln images --no-trunc=F "age:5400"
expect_not_contains "--no-trunc=F is false" "$OUT" "sha256:"
# system df and prune print units.HumanSize (4 significant digits), images
# and history HumanSizeWithPrecision(3)
head -c 2143567 /dev/urandom >"$T/src/big"
kiln import "$T/src" big:1 >/dev/null
human() { # SIZE PRECISION: go-units' decimal human size
	python3 -c 'import sys
s, p = float(sys.argv[1]), int(sys.argv[2]); u = ["B","kB","MB","GB","TB","PB","EB"]; i = 0
while s >= 1000 and i < len(u) - 1: s /= 1000; i += 1
print("%.*g%s" % (p, s, u[i]))' "$1" "$2"
}
run_ok "system df" kiln system df
# the Images total: every layer's files (ROOT/layers holds each one's sum,
# written at the latest by df itself)
total=$(cat "$ROOT"/layers/* | sed 's/^usage=//' | awk '{s += $1} END {print s}')
expect_contains "df size has 4 digits" "$(printf '%s\n' "$OUT" | sed -n 2p)" " $(human "$total" 4) "
run_ok "images size" kiln images --format '{{.Size}}' big:1
[[ $OUT =~ ^2\.1[0-9]MB$ ]] && ok "images size has 3 digits" || not_ok "images size has 3 digits: $OUT"
# gc racing writers: prune started while an import or a load is half-way
# through (blobs written, tag not yet published) must not take their blobs
mkfifo "$T/fifo"
tar -C "$T/src" -cf "$T/src.tar" .
kiln save -o "$T/big.tar" big:1 && kiln rmi big:1 >/dev/null
race() { # NAME REF COMMAND...: COMMAND reads stdin; prune runs mid-way
	local name=$1 ref=$2 file=$3
	shift 3
	"$@" <"$T/fifo" >/dev/null 2>"$T/race.err" &
	local writer=$!
	exec 7>"$T/fifo"
	head -c 1048576 "$file" >&7 # the first part: blobs are being written
	sleep 0.5
	kiln image prune -a -f >"$T/prune.out" 2>&1 7>&- &
	local pruner=$!
	sleep 1
	tail -c +1048577 "$file" >&7
	exec 7>&-
	wait "$writer" && ok "$name: writer succeeds" || not_ok "$name: writer: $(cat "$T/race.err")"
	wait "$pruner" && ok "$name: prune waits for the writer, then runs" ||
		not_ok "$name: prune: $(cat "$T/prune.out")"
	run_ok "$name: store check after the race" kiln system check
	# prune -a may remove the finished image afterwards; whatever index.json
	# still names must be complete (checked above); if kept, it must save
	if kiln image inspect "$ref" >/dev/null 2>&1; then
		run_ok "$name: image still saves" kiln save -o "$T/again.tar" "$ref"
	else
		ok "$name: image pruned only after it was complete"
	fi
}
race "import" "raced:1" "$T/src.tar" kiln import - raced:1
race "load" "big:1" "$T/big.tar" kiln load
