#!/usr/bin/env bash
# rename under races, as docker keeps names: one name, one container, at
# every moment after a command returns. Two renames to one name, a rename
# beside a create of that name: one wins, the other gets the Conflict
# error. A rename beside an rm of the same container: no name is left bound
# to the removed record (rm released the name it had loaded, the rename's
# new one stayed). A rename killed between its steps leaves a name bound
# to a container that does not carry it: a later create takes it over.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"

NAMES="$ROOT/containers/names"
# consistent: every name links to a record that carries it, every record's
# name links to it; prints what is not so
consistent() {
	local l id n bad=""
	for l in "$NAMES"/*; do
		[ -L "$l" ] || continue
		id=$(readlink "$l")
		n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' \
			"$ROOT/containers/$id/config.json" 2>/dev/null) || n="(no record)"
		[ "$n" = "$(basename "$l")" ] || bad="$bad $(basename "$l")->$n"
	done
	for id in $("$KILN" ps -aq --no-trunc); do
		n=$("$KILN" inspect -f '{{.Name}}' "$id")
		[ "$(readlink "$NAMES/${n#/}")" = "$id" ] || bad="$bad $id:$n-unbound"
	done
	echo "${bad:-ok}"
}

# two renames of two containers to one name, 6 times: one wins
wins=0 conflicts=0
for i in $(seq 6); do
	"$KILN" create --name "a$i" busybox true >/dev/null && "$KILN" create --name "b$i" busybox true >/dev/null ||
		{ not_ok "create a$i b$i"; exit 1; }
	"$KILN" rename "a$i" "x$i" >"$T/a" 2>&1 & p=$!
	"$KILN" rename "b$i" "x$i" >"$T/b" 2>&1; rb=$?
	wait "$p"; ra=$?
	[ $((ra + rb)) = 1 ] && wins=$((wins + 1))
	conflicts=$((conflicts + $(cat "$T/a" "$T/b" | grep -c 'is already in use by container')))
done
expect_eq "two renames to one name: one wins, 6 times" "$wins" 6
expect_eq "... the other gets docker's Conflict error" "$conflicts" 6
expect_eq "... every name bound to the container that carries it" "$(consistent)" ok

# a rename beside a create of the name, 6 times: one wins
wins=0
for i in $(seq 6); do
	"$KILN" rename "a$i" "y$i" >/dev/null 2>&1 || "$KILN" rename "b$i" "y$i" >/dev/null 2>&1
	"$KILN" rename "y$i" "z$i" >/dev/null 2>&1 & p=$!
	"$KILN" create --name "z$i" busybox true >/dev/null 2>&1; rc=$?
	wait "$p"; rr=$?
	[ $((rc == 0 ? 0 : 1)) != $((rr == 0 ? 0 : 1)) ] && wins=$((wins + 1))
done
expect_eq "a rename beside a create of its name: one wins, 6 times" "$wins" 6
expect_eq "... every name bound to the container that carries it" "$(consistent)" ok
cleanup_containers
expect_eq "all removed: no name left" "$(ls "$NAMES")" ""

# the same rename twice at once: one renames, the other is docker's "same
# name" error (the name stays bound: the second must not release it)
"$KILN" create --name q1 busybox true >/dev/null || { not_ok "create q1"; exit 1; }
"$KILN" rename q1 q2 >"$T/a" 2>&1 & p=$!
"$KILN" rename q1 q2 >"$T/b" 2>&1
wait "$p"
expect_eq "the same rename twice at once: the container is q2" "$("$KILN" inspect -f '{{.Name}}' q2 2>&1)" /q2
expect_eq "... and q2 is bound to it" "$(consistent)" ok
"$KILN" rm q2 >/dev/null

# a rename beside an rm of the container, 10 times: no name left behind
for i in $(seq 10); do
	"$KILN" create --name "r$i" busybox true >/dev/null || { not_ok "create r$i"; exit 1; }
	"$KILN" rename "r$i" "s$i" >/dev/null 2>&1 & p=$!
	"$KILN" rm "r$i" >/dev/null 2>&1 || "$KILN" rm "s$i" >/dev/null 2>&1
	wait "$p"
done
expect_eq "a rename beside an rm: no container left" "$("$KILN" ps -aq)" ""
expect_eq "... and no name left bound to a removed record" "$(ls "$NAMES")" ""

# a rename killed after it bound the new name (before its record named
# it) and one killed after its record did (before the old name went)
id=$("$KILN" create --name k1 busybox true) || { not_ok "create k1"; exit 1; }
ln -s "$id" "$NAMES/half"
run_ok "a name a killed rename bound (the record never carried it) is free" \
	"$KILN" create --name half busybox true
id2=$("$KILN" create --name k2 busybox true) || { not_ok "create k2"; exit 1; }
"$KILN" rename k2 k2new >/dev/null && ln -s "$id2" "$NAMES/k2"
run_ok "the old name a killed rename left bound is free" "$KILN" create --name k2 busybox true
expect_eq "... every name bound to the container that carries it" "$(consistent)" ok
