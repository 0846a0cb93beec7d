#!/usr/bin/env bash
# A `create` killed part-way (SIGKILL, a crash) must not hold its name for
# good. create makes the record's directory, binds the name, then writes
# the GC root, upper/work/rootfs/init, state.json and last config.json: a
# kill before config.json leaves a directory without it and the name bound
# to it. Seen for real here: 2 of 40 `create --name gN` killed at random
# points left exactly that. No reader treats such a record as a container
# (ps skips it), yet the name can never be taken again, `rm -f NAME` fails
# with a raw open error, and `container prune` and `system check` do not
# see it. The test makes that state (a created container's config.json
# removed, as the kill leaves it) and expects the name to be usable again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"

run_ok "create --name ghost" kiln create --name ghost busybox true
id=$(readlink "$ROOT/containers/names/ghost")
expect_eq "the name is bound to the record" "${#id}" 64
# what a kill between state.json and config.json leaves
rm -f "$ROOT/containers/$id/config.json"
expect_eq "ps does not list the half-created record" \
	"$("$KILN" ps -aq --no-trunc | grep -c "$id")" 0
out=$("$KILN" create --name ghost busybox true 2>&1)
rc=$?
if [ $rc = 0 ]; then ok "a new create takes the name of a record that never was"
else not_ok "the name stays bound to a half-created record: rc=$rc: $out"; fi
out=$("$KILN" rm -f "$id" 2>&1)
rc=$?
if [ $rc = 0 ] || [[ $out == *"No such container"* ]]; then
	ok "rm -f of the half-created record succeeds or says No such container"
else
	not_ok "rm -f of the half-created record: rc=$rc: $out"
fi
"$KILN" container prune -f >/dev/null 2>&1
if [ -d "$ROOT/containers/$id" ]; then
	not_ok "the half-created record's directory is never removed (rm -f, container prune)"
else
	ok "the half-created record's directory is gone"
fi
if [ -e "$ROOT/gc-roots/container-$id" ]; then not_ok "its GC root is left (it keeps the image)"
else ok "its GC root is gone"; fi

# a create in progress holds its record's lock from the moment its
# directory appears, so listings running beside creates never take one for
# a killed create: every create succeeds
( for _ in $(seq 60); do "$KILN" ps -a >/dev/null 2>&1; done ) &
lister=$!
pids=()
for i in $(seq 12); do "$KILN" create --name busy$i busybox true >"$T/c$i" 2>&1 & pids+=($!); done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
wait "$lister"
expect_eq "12 creates beside a ps loop all succeed" "$bad" 0
expect_eq "... and all are listed" "$("$KILN" ps -a --filter name=busy -q | wc -l)" 12
