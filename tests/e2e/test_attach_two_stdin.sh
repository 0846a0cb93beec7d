#!/usr/bin/env bash
# Two attachers type into one `-i` container at once while its stdin pipe
# is full (a slow reader): each attacher's bytes reach the container whole
# and in order, none lost, none repeated, none from the other stream in
# their place (docker's promise for attached stdin; the monitor holds one
# attacher's unwritten stdin while the pipe is full, and must not read the
# next attacher's over it). The streams use disjoint alphabets (a-p, A-P),
# so each can be picked out of the file the container wrote.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
pids=()
stop_pids() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; return 0; }
at_exit stop_pids

size=262144 # random bytes per stream: 512 KiB of letters each, 1 MiB in all
head -c $size /dev/urandom | od -An -vtx1 | tr -d ' \n' | tr '0-9a-f' 'a-p' >"$T/a"
head -c $size /dev/urandom | od -An -vtx1 | tr -d ' \n' | tr '0-9a-f' 'A-P' >"$T/b"
total=$(($(wc -c <"$T/a") + $(wc -c <"$T/b")))
expect_eq "two streams of 512 KiB" "$total" $((4 * size))

# the reader takes 512 bytes at a time after a pause: the pipe is full
# when the attachers start, and their writes into it are often partial
run_ok "run -d -i: a container that reads its stdin slowly" kiln run -d -i --name two busybox \
	sh -c "sleep 1; dd bs=512 count=$((total / 512)) iflag=fullblock of=/out 2>/dev/null; echo done"
for s in a b; do
	timeout 120 "$KILN" attach two <"$T/$s" >"$T/$s.out" 2>&1 &
	pids+=($!)
done
if [ "$(timeout 90 "$KILN" wait two 2>/dev/null)" = 0 ]; then
	ok "the container read both streams to their end"
else
	not_ok "the container still waits for bytes: some were lost"
	"$KILN" stop -t 1 two >/dev/null 2>&1
fi
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
run_ok "copy the file out" kiln cp two:/out "$T/out"
expect_eq "the file holds as many bytes as both streams" "$(wc -c <"$T/out" 2>/dev/null)" "$total"
tr -cd 'a-p' <"$T/out" >"$T/out.a"
tr -cd 'A-P' <"$T/out" >"$T/out.b"
if cmp -s "$T/a" "$T/out.a"; then ok "the first attacher's bytes arrived whole and in order"
else not_ok "the first stream differs: $(cmp "$T/a" "$T/out.a" 2>&1 | head -1)"; fi
if cmp -s "$T/b" "$T/out.b"; then ok "the second attacher's bytes arrived whole and in order"
else not_ok "the second stream differs: $(cmp "$T/b" "$T/out.b" 2>&1 | head -1)"; fi
expect_eq "nothing else in the file" "$(tr -d 'a-pA-P' <"$T/out" | wc -c)" 0
expect_contains "the container's end reached the attachers" "$(cat "$T/a.out" "$T/b.out")" done
run_ok "rm" kiln rm two
