#!/usr/bin/env bash
# A container name is unique under concurrent creates, as with docker (one
# create wins, the other gets the Conflict error, exit 125): a second create
# took the name over from a first one still being created (its record's
# directory not made yet read as a container gone), and both succeeded.
# Also two creates taking over a name its gone container left behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"

# pair NAME: two creates of NAME at once; prints how many printed an ID,
# then their exit codes in order
pair() {
	"$KILN" create --name "$1" busybox true >"$T/a" 2>&1 &
	local a=$!
	"$KILN" create --name "$1" busybox true >"$T/b" 2>&1
	local rb=$?
	wait "$a"
	local ra=$?
	echo "$(cat "$T/a" "$T/b" | grep -c '^[0-9a-f]\{64\}$'):$(printf '%s\n' $ra $rb | sort -n | paste -sd,) "
	grep -h 'Conflict' "$T/a" "$T/b" >>"$T/conflicts"
}

res=
for i in $(seq 8); do res="$res$(pair "c$i")"; done
expect_eq "one of two concurrent creates of a name wins, the other exits 1 (docker create's code), 8 times" "$res" \
	"$(for i in $(seq 8); do printf '1:0,1 '; done)"
expect_eq "... the other fails with docker's Conflict error" "$(grep -c 'is already in use by container' "$T/conflicts")" 8
expect_eq "no name is held twice" "$("$KILN" ps -a --format '{{.Names}}' | sort | uniq -d)" ""
expect_eq "no record is left by the losers" "$(ls "$ROOT/containers" | grep -c '^[0-9a-f]\{64\}$')" 8

# a name whose container is gone (its record removed, the name left: a kill
# during rm) is free again, to one of two creates only
res=
for i in $(seq 4); do
	id=$("$KILN" create --name "s$i" busybox true) || not_ok "create s$i"
	rm -rf "${ROOT:?}/containers/$id"
	res="$res$(pair "s$i")"
done
expect_eq "one of two creates takes over a left name, 4 times" "$res" "1:0,1 1:0,1 1:0,1 1:0,1 "
expect_eq "no name is held twice" "$("$KILN" ps -a --format '{{.Names}}' | sort | uniq -d)" ""
