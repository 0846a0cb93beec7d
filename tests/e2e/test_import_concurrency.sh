#!/usr/bin/env bash
# Parallel `kiln import`s and `kiln tag`s on one store lose nothing; a series
# of imports killed with SIGKILL at different moments leaves a store that
# `kiln system check --repair` brings back to clean, with every blob's content
# matching its name, and later imports still work.
. "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1700000000
N=8
blob_mismatches() { # [find args...]: blobs whose sha256 is not their name
	local bad=0 f
	while IFS= read -r f; do
		[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { bad=$((bad + 1)); echo "# bad blob $f" >&2; }
	done < <(find "$ROOT/images/blobs/sha256" -type f "$@")
	echo "$bad"
}

# --- N parallel imports + 20 parallel tags ----------------------------------
for i in $(seq 1 $N); do
	mkdir -p "$T/src$i/etc" && echo "image $i" >"$T/src$i/etc/id"
	head -c $((512 * 1024 * i)) /dev/urandom >"$T/src$i/data"
	tar -cf "$T/in$i.tar" -C "$T/src$i" .
done
cp "$T/in$N.tar" "$T/in$((N + 1)).tar" # two importers race to write the same layer
run_ok "import the base image" kiln import "$T/in1.tar" base:latest
BASE=$OUT
comp=(none gzip zstd)
pids=()
for i in $(seq 1 $((N + 1))); do
	j=$((i > N ? N : i))
	timeout 300 "$KILN" import --compress "${comp[$((j % 3))]}" -c "LABEL n=$j" -m "image $j" \
		"$T/in$i.tar" "imp$i:v" >"$T/id$i" 2>"$T/err$i" &
	pids+=($!)
done
for i in $(seq 1 20); do timeout 300 "$KILN" tag base "t$i:v" 2>"$T/terr$i" & pids+=($!); done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
expect_eq "$((N + 1)) parallel imports and 20 parallel tags all succeed" "$fails" 0
[ "$fails" = 0 ] || cat "$T"/err* "$T"/terr* | head -20 | sed 's/^/#   /'
missing=0 wrong=0
for i in $(seq 1 $((N + 1))); do
	got=$("$KILN" inspect -f '{{.Id}}' "imp$i:v" 2>/dev/null) || { missing=$((missing + 1)); continue; }
	[ "$got" = "$(cat "$T/id$i")" ] || wrong=$((wrong + 1))
done
expect_eq "every imported tag is present" "$missing" 0
expect_eq "every tag names the ID its import printed" "$wrong" 0
expect_eq "the racing importers of one tarball made one image" "$(cat "$T/id$N")" "$(cat "$T/id$((N + 1))")"
missing=0
for i in $(seq 1 20); do
	[ "$("$KILN" inspect -f '{{.Id}}' "t$i:v" 2>/dev/null)" = "$BASE" ] || missing=$((missing + 1))
done
expect_eq "every one of 20 tags is present" "$missing" 0
run_ok "images" kiln images --format '{{.Repository}}:{{.Tag}}'
expect_eq "$((N + 1 + 21)) tags listed" "$(printf '%s\n' "$OUT" | grep -c .)" "$((N + 1 + 21))"
run_ok "system check after the parallel run" kiln system check
expect_eq "no blob content mismatches its name" "$(blob_mismatches)" 0
# the same inputs imported one at a time into another root give the same IDs
diffs=0
for i in $(seq 1 $N); do
	id=$(KILN_ROOT="$T/serial" "$KILN" import --compress "${comp[$((i % 3))]}" -c "LABEL n=$i" -m "image $i" "$T/in$i.tar" "imp$i:v")
	[ "$id" = "$(cat "$T/id$i")" ] || diffs=$((diffs + 1))
done
expect_eq "parallel imports give the IDs serial imports give" "$diffs" 0
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$ROOT/images/index.json" &&
	ok "index.json is valid JSON" || not_ok "index.json is valid JSON"

# --- SIGKILL at different moments of an import -------------------------------
mkdir -p "$T/big" && head -c 48M /dev/urandom >"$T/big/random" && seq 1 20000 >"$T/big/text"
before=$(kiln images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | sort)
delays=(0.01 0.05 0.1 0.2 0.35 0.5 0.8 1.1 1.5 "0.$((RANDOM % 9 + 1))")
completed=0 killed=0 bad=0 badjson=0 done_tags=()
for k in "${!delays[@]}"; do
	echo "iteration $k" >"$T/big/iter"
	tar -cf "$T/crash.tar" -C "$T/big" .
	touch "$T/mark" && sleep 0.01
	"$KILN" import --compress "${comp[$((k % 3))]}" "$T/crash.tar" "crash$k:v" >/dev/null 2>&1 &
	pid=$!
	sleep "${delays[$k]}"
	if kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
	wait "$pid" 2>/dev/null && { completed=$((completed + 1)); done_tags+=("crash$k:v"); }
	b=$(blob_mismatches -newer "$T/mark")
	bad=$((bad + b))
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$ROOT/images/index.json" 2>/dev/null || badjson=$((badjson + 1))
done
echo "# ${#delays[@]} imports: $killed killed by SIGKILL, $completed finished first"
[ "$killed" -gt 0 ] && ok "at least one import was killed mid-way ($killed)" || not_ok "no import was killed (machine too fast?)"
expect_eq "after every kill, each new blob matches its name" "$bad" 0
expect_eq "after every kill, index.json is valid JSON" "$badjson" 0
# an import killed after it committed (but before it exited) keeps its tag
tags=$(kiln images --format '{{.Repository}}:{{.Tag}}' | grep '^crash')
nt=$(printf '%s' "$tags" | grep -c .)
[ "$nt" -ge "$completed" ] && [ "$nt" -le "${#delays[@]}" ] && ok "tags: $nt for $completed finished imports" ||
	not_ok "$nt crash tags for $completed finished imports"
unres=0
for t in $tags; do kiln inspect -f '{{.Id}}' "$t" >/dev/null 2>&1 || unres=$((unres + 1)); done
expect_eq "every tag a killed or finished import left resolves" "$unres" 0
miss=0
for t in "${done_tags[@]}"; do printf '%s\n' "$tags" | grep -qx "$t" || miss=$((miss + 1)); done
expect_eq "every import that finished has its tag" "$miss" 0
echo "# before repair: $(ls -A "$ROOT/tmp" | wc -l) temp files in ROOT/tmp"
run_ok "system check --repair" kiln system check --repair
run_ok "system check is clean afterwards" kiln system check
expect_eq "no temp files left in ROOT/tmp" "$(ls -A "$ROOT/tmp")" ""
expect_eq "no blob content mismatches its name (full scan)" "$(blob_mismatches)" 0
expect_eq "earlier images untouched" "$(kiln images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep -v '^crash' | sort)" "$before"
echo "after" >"$T/big/iter" && tar -cf "$T/crash.tar" -C "$T/big" .
run_ok "an import after the crashes succeeds" kiln import --compress gzip "$T/crash.tar" after:v
run_ok "and resolves" kiln inspect -f '{{.Id}}' after:v
run_ok "system check at the end" kiln system check
